// Startup and memory of the gateway, built (`node dist/main.js`) and from the sources under tsx, side by
// side in webhook mode (no embedded emulator: the bench emulator is its portal): the time from spawn to
// the first /healthz 200, polled every 5 ms, and VmRSS a second later, over several interleaved starts;
// then, on one more start each, VmRSS once V8 has settled (idle for SETTLE_MS), and VmRSS and VmHWM after
// the same valid-transfer load as the throughput runs.
import { request } from 'node:http';
import { log } from '../format';
import { cpuTimeMs, type Load, probe, readVm, wrk } from '../load';
import { CPU, freePort, sleep, stop, waitFor } from '../processes';
import { settings, TRANSFER, webhookBody } from '../settings';
import { type Emulator, type GatewayBuild, spawnGateway, startEmulator, startGateway } from '../targets';

export const builds: GatewayBuild[] = ['built', 'tsx'];
/** How long after ready the idle RSS is read ("a second or so"; SETTLE_MS says what V8 still holds then). */
export const IDLE_MS = 1_000;
/**
 * How long the settled RSS waits: V8 keeps the room its heap grew to during the start (the young
 * generation above all) until its memory reducer runs, 13–32 s after the start in runs here.
 */
export const SETTLE_MS = 60_000;

export interface StartupResult {
  /** Spawn to the first /healthz 200, ms, one per measured start. */
  readyMs: number[];
  /** CPU time (user + system, all threads) the process had used when ready, ms. */
  cpuMs: number[];
  /** VmRSS IDLE_MS after ready, kB. */
  idleRssKb: number[];
  /** VmRSS after SETTLE_MS idle, kB (one start). */
  settledRssKb: number;
  /** After a valid-transfer load (warm-up, then a measured run) on that start: the run, VmRSS and VmHWM, kB. */
  afterLoad: { load: Load; rssKb: number; hwmKb: number };
}

type Starts = Omit<StartupResult, 'settledRssKb' | 'afterLoad'>;
const noStarts = (): Starts => ({ readyMs: [], cpuMs: [], idleRssKb: [] });

export async function startup(): Promise<Record<GatewayBuild, StartupResult>> {
  const emulator = await startEmulator(CPU.load);
  try {
    const starts: Record<GatewayBuild, Starts> = { built: noStarts(), tsx: noStarts() };
    // One unmeasured start of each first (its files into the page cache), then the two alternately, so
    // that whatever else the machine does falls on both alike.
    for (let i = 0; i <= settings.starts; i += 1) {
      for (const build of builds) {
        const start = await startOnce(emulator, build);
        if (i === 0) continue;
        starts[build].readyMs.push(start.readyMs);
        starts[build].cpuMs.push(start.cpuMs);
        starts[build].idleRssKb.push(start.idleRssKb);
      }
    }
    const results = {} as Record<GatewayBuild, StartupResult>;
    for (const build of builds) {
      results[build] = { ...starts[build], ...(await settledThenLoaded(emulator, build)) };
      const r = results[build];
      log(
        `  ${build.padEnd(5)} ready ${median(r.readyMs).toFixed(0)} ms (CPU ${median(r.cpuMs).toFixed(0)} ms), ` +
          `RSS ${(median(r.idleRssKb) / 1024).toFixed(0)} MB at idle, ${(r.settledRssKb / 1024).toFixed(0)} MB settled, ` +
          `${(r.afterLoad.rssKb / 1024).toFixed(0)} MB after load ` +
          `(peak ${(r.afterLoad.hwmKb / 1024).toFixed(0)} MB)`,
      );
    }
    return results;
  } finally {
    await stop(emulator.proc);
  }
}

async function startOnce(
  emulator: Emulator,
  build: GatewayBuild,
): Promise<{ readyMs: number; cpuMs: number; idleRssKb: number }> {
  const port = await freePort();
  const spawned = performance.now();
  const proc = spawnGateway(emulator, { build, mode: 'webhook', port, name: `gateway-start-${build}` });
  try {
    await waitFor(proc, `/healthz 200 on port ${port}`, () => healthz(port), { everyMs: 5, timeoutMs: 30_000 });
    const readyMs = performance.now() - spawned;
    const cpuMs = cpuTimeMs(proc.pid);
    await sleep(IDLE_MS);
    return { readyMs, cpuMs, idleRssKb: readVm(proc.pid).rssKb };
  } finally {
    await stop(proc);
  }
}

/** True on a 200 from /healthz; undefined while nothing listens. node:http, no keep-alive: nothing to warm up. */
function healthz(port: number): Promise<true | undefined> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/healthz', agent: false, timeout: 1_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200 ? true : undefined);
    });
    req.on('error', () => resolve(undefined));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

async function settledThenLoaded(
  emulator: Emulator,
  build: GatewayBuild,
): Promise<Pick<StartupResult, 'settledRssKb' | 'afterLoad'>> {
  const gateway = await startGateway(emulator, {
    build,
    mode: 'webhook',
    name: `gateway-load-${build}`,
    env: { RATE_LIMIT_SHAPING: 'off' },
  });
  try {
    await sleep(SETTLE_MS);
    const settledRssKb = readVm(gateway.proc.pid).rssKb;
    const url = `${gateway.url}${TRANSFER}`;
    const answer = await probe(url, webhookBody);
    if (answer.status !== 200)
      throw new Error(`${build} gateway, webhook mode: answered ${answer.status} ${answer.code}`);
    const ours = [gateway.proc.pid, emulator.proc.pid];
    await wrk(url, webhookBody, settings.connections, settings.warmup, ours);
    const load = await wrk(url, webhookBody, settings.connections, settings.duration, ours);
    return { settledRssKb, afterLoad: { load, ...readVm(gateway.proc.pid) } };
  } finally {
    await stop(gateway.proc);
  }
}

export const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
