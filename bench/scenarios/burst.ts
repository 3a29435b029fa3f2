// The burst: N valid transfers sent at once, straight to an emulator whose bucket is on, then through the
// built gateway configured for that bucket (its limiter shaping, as users run it). The portal must reject
// none of the gateway's calls, and the drain time is compared with the theoretical minimum.
import { log } from '../format';
import { CPU, type Proc, stop } from '../processes';
import { bodies, KEY, settings, TRANSFER } from '../settings';
import { emulatorStats, resetEmulator, startEmulator, startGateway } from '../targets';

export interface BurstResult {
  n: number;
  rate: number;
  size: number;
  /** (N − burst) / rate: no path can be faster without being rejected. */
  theoreticalS: number;
  direct: { seconds: number; ok: number; rejected: number; upstreamRejected: number };
  gateway: {
    seconds: number;
    /** From the first transfer's arrival at the gateway to the last one's (its access log: time − ms). */
    arrivalSpreadS: number;
    /** Count by answer: "200", or the status and error code. */
    statuses: Record<string, number>;
    upstreamRejected: number;
    upstreamCalls: number;
    maxBucketLevel: number;
  };
}

/** (N − burst) / rate, s. */
export const theoreticalDrainS = () => Math.max(0, (settings.burst.n - settings.burst.size) / settings.burst.rate);

/** The gateway's limiter for the burst: the emulator's bucket, shaping on, a queue that takes all N. */
export function burstEnv(): Record<string, string> {
  const { n, rate, size } = settings.burst;
  return {
    RATE_LIMIT_PER_SECOND: String(rate),
    RATE_LIMIT_BURST: String(size),
    QUEUE_MAX_LENGTH: String(Math.max(1_000, n)),
    QUEUE_MAX_WAIT_MS: String(Math.min(600_000, Math.ceil(theoreticalDrainS() * 2_000) + 10_000)),
  };
}

/**
 * Waits until the gateways' start probes have left the portal's bucket. Each gateway calls `server.time` at
 * start through its limiter (issue 32), which takes a slot of the bucket as any call does; the burst is
 * measured from a full bucket, as its theoretical minimum assumes, so it starts once those slots drained.
 */
export async function afterStartProbes(gateways: number): Promise<void> {
  const { rate } = settings.burst;
  await new Promise((resolve) => setTimeout(resolve, Math.ceil((gateways / rate) * 1_000) + 500));
}

export async function burst(): Promise<BurstResult> {
  const { n, rate, size } = settings.burst;
  const theoreticalS = theoreticalDrainS();
  const emulator = await startEmulator(CPU.load, `${rate},${size}`);
  try {
    // Direct: what the portal does with N at once when nobody shapes them.
    await resetEmulator(emulator);
    const direct = await fireAll(`${emulator.url}${TRANSFER}`, n);
    const directStats = await emulatorStats(emulator);
    const ok = direct.statuses['200'] ?? 0;
    log(
      `  direct   ${n} at once: ${ok} transferred, ${directStats.rejectedByRateLimit} rejected by the portal's bucket`,
    );

    const gateway = await startGateway(emulator, {
      build: 'built',
      mode: 'oauth',
      name: 'gateway-burst',
      env: burstEnv(),
    });
    try {
      await afterStartProbes(1);
      await resetEmulator(emulator);
      const through = await fireAll(`${gateway.url}${TRANSFER}`, n);
      const stats = await emulatorStats(emulator);
      log(
        `  gateway  ${n} at once: drained in ${through.seconds.toFixed(2)} s (theoretical minimum ${theoreticalS.toFixed(2)} s), ` +
          `upstream rejections ${stats.rejectedByRateLimit}, answers ${JSON.stringify(through.statuses)}`,
      );
      return {
        n,
        rate,
        size,
        theoreticalS,
        direct: { seconds: direct.seconds, ok, rejected: n - ok, upstreamRejected: directStats.rejectedByRateLimit },
        gateway: {
          seconds: through.seconds,
          arrivalSpreadS: arrivalSpreadS([gateway.proc]),
          statuses: through.statuses,
          upstreamRejected: stats.rejectedByRateLimit,
          upstreamCalls: stats.calls,
          maxBucketLevel: stats.maxBucketLevel,
        },
      };
    } finally {
      await stop(gateway.proc);
    }
  } finally {
    await stop(emulator.proc);
  }
}

/** How long the transfers took to reach the gateways: the spread of their arrivals in the access logs, s. */
export function arrivalSpreadS(procs: Proc[]): number {
  const arrivals = procs.flatMap((proc) =>
    proc.lines().flatMap((line) => {
      try {
        const entry = JSON.parse(line);
        return entry.msg === 'request' && entry.route === TRANSFER ? [Date.parse(entry.time) - entry.ms] : [];
      } catch {
        return [];
      }
    }),
  );
  return arrivals.length ? (Math.max(...arrivals) - Math.min(...arrivals)) / 1000 : NaN;
}

/**
 * N valid transfers at once, the i-th to `urls[i % urls.length]`; resolves when every one is answered.
 * `byUrl` counts the answers of each URL.
 */
export async function fireAll(
  urls: string | string[],
  n: number,
): Promise<{ seconds: number; statuses: Record<string, number>; byUrl: Record<string, number>[] }> {
  const targets = Array.isArray(urls) ? urls : [urls];
  const started = performance.now();
  const answers = await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      try {
        const response = await fetch(targets[i % targets.length]!, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
          body: bodies.valid,
        });
        const text = await response.text();
        return response.status === 200 ? '200' : `${response.status} ${JSON.parse(text).error ?? ''}`.trim();
      } catch (error) {
        return `no answer (${(error as Error).message})`;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const statuses: Record<string, number> = {};
  const byUrl = targets.map(() => ({}) as Record<string, number>);
  for (const [i, answer] of answers.entries()) {
    statuses[answer] = (statuses[answer] ?? 0) + 1;
    const of = byUrl[i % targets.length]!;
    of[answer] = (of[answer] ?? 0) + 1;
  }
  return { seconds, statuses, byUrl };
}
