// The throughput runs: each target under the same wrk load, for valid and rejected bodies and unloaded
// (1 connection), with the answers checked and the measured process's CPU and memory read from /proc.
// Targets: the emulator direct (the limit), the built gateway with shaping off, Prism (the peer), and the
// two floors (bare node:http answering 400; a bare forwarding proxy).

import { fmtMs, fmtRps, fmtUs, log } from '../format';
import { type Answer, type Load, probe, readVm, wrk } from '../load';
import { CPU, stop } from '../processes';
import { type BodyKind, bodies, settings, TRANSFER } from '../settings';
import {
  type Emulator,
  emulatorStats,
  type Server,
  startEmulator,
  startFloor,
  startForwardFloor,
  startGateway,
  startPrism,
} from '../targets';

export type TargetName = 'direct' | 'gateway' | 'prism' | 'floor' | 'forward';

export interface Run {
  target: TargetName;
  body: BodyKind | 'valid, 1 connection';
  expected: number;
  probe: Answer;
  result: Load;
  /** Answers with another status than expected, plus socket errors and timeouts. */
  errors: number;
  /** Calls the emulator received during the run (for the direct target: the run's own calls). */
  upstreamCalls: number | undefined;
}

export interface TargetResult {
  runs: Run[];
  /** VmRSS before the runs, VmRSS and VmHWM after them, kB. */
  memory: { startKb: number; endKb: number; peakKb: number };
}

const expectedStatus: Record<TargetName, Record<BodyKind, number>> = {
  // The emulator, like Bitrix24, reads "12abc" as 12 and transfers: the coercion the gateway exists to stop.
  direct: { valid: 200, rejected: 200 },
  gateway: { valid: 200, rejected: 400 },
  prism: { valid: 200, rejected: 422 },
  floor: { valid: 400, rejected: 400 },
  forward: { valid: 200, rejected: 200 },
};

/** What each target is measured with: the floors only for the body they are the floor of. */
const runsOf: Record<TargetName, Run['body'][]> = {
  direct: ['valid', 'rejected', 'valid, 1 connection'],
  gateway: ['valid', 'rejected', 'valid, 1 connection'],
  prism: ['valid', 'rejected', 'valid, 1 connection'],
  floor: ['rejected'],
  forward: ['valid', 'valid, 1 connection'],
};

/** Every target in turn, each with a fresh emulator; each target's process on its own CPU. */
export async function throughput(only?: TargetName[]): Promise<Record<TargetName, TargetResult>> {
  const results = {} as Record<TargetName, TargetResult>;
  const wanted = (target: TargetName) => !only || only.includes(target);
  if (wanted('direct')) {
    const emulator = await startEmulator(CPU.target);
    try {
      results.direct = await measure('direct', emulator, emulator);
    } finally {
      await stop(emulator.proc);
    }
  }
  const proxies: Record<Exclude<TargetName, 'direct' | 'floor'>, (emulator: Emulator) => Promise<Server>> = {
    // Shaping off: every request through the limiter at once (the emulator's own limits are off too).
    gateway: (emulator) =>
      startGateway(emulator, { build: 'built', mode: 'oauth', env: { RATE_LIMIT_SHAPING: 'off' } }),
    prism: startPrism,
    forward: startForwardFloor,
  };
  for (const [target, start] of Object.entries(proxies) as [keyof typeof proxies, typeof startPrism][]) {
    if (!wanted(target)) continue;
    // Prism checks the emulator's answers against the spec, which promises X-Request-Id on every answer.
    const emulator = await startEmulator(CPU.load, 'off', target === 'prism');
    try {
      const server = await start(emulator);
      try {
        results[target] = await measure(target, server, emulator);
      } finally {
        await stop(server.proc);
      }
    } finally {
      await stop(emulator.proc);
    }
  }
  if (wanted('floor')) {
    const floor = await startFloor();
    try {
      results.floor = await measure('floor', floor, undefined);
    } finally {
      await stop(floor.proc);
    }
  }
  return results;
}

/** The target's runs, in order; `emulator` is what it forwards to (or is, for `direct`). */
async function measure(target: TargetName, server: Server, emulator: Emulator | undefined): Promise<TargetResult> {
  const pid = server.proc.pid;
  const ours = [pid, ...(emulator && emulator.proc.pid !== pid ? [emulator.proc.pid] : [])];
  const url = `${server.url}${TRANSFER}`;
  const startKb = readVm(pid).rssKb;
  const runs: Run[] = [];
  for (const [i, body] of runsOf[target].entries()) {
    const kind: BodyKind = body === 'rejected' ? 'rejected' : 'valid';
    const unloaded = body === 'valid, 1 connection';
    const connections = unloaded ? 1 : settings.connections;
    const seconds = unloaded ? settings.unloadedDuration : settings.duration;
    // The first run warms up fully; a later one is on a warm process (the unloaded one needs none).
    const warmup = unloaded ? 0 : i === 0 ? settings.warmup : Math.min(2, settings.warmup);
    const expected = expectedStatus[target][kind];
    const answer = await probe(url, bodies[kind]);
    if (answer.status !== expected) {
      throw new Error(`${target}: the ${kind} body was answered ${answer.status} ${answer.code}, expected ${expected}`);
    }
    if (warmup > 0) await wrk(url, bodies[kind], connections, warmup, ours);
    const before = emulator && (await emulatorStats(emulator)).calls;
    const result = await wrk(url, bodies[kind], connections, seconds, ours);
    const after = emulator && (await emulatorStats(emulator)).calls;
    const wrongStatus = expected === 200 ? result.non2xx : result.requests - result.non2xx;
    const errors = wrongStatus + result.connect_errors + result.read_errors + result.write_errors + result.timeouts;
    runs.push({
      target,
      body,
      expected,
      probe: answer,
      result,
      errors,
      upstreamCalls: target === 'direct' || after === undefined || before === undefined ? undefined : after - before,
    });
    log(
      `  ${target.padEnd(7)} ${(unloaded ? `${kind}, c=1` : kind).padEnd(12)} ${fmtRps(result.rps).padStart(8)} req/s  p50 ${fmtMs(result.p50_us)} ms  p99 ${fmtMs(result.p99_us)} ms  errors ${errors}  CPU ${result.targetCpu.toFixed(0)} % (${fmtUs(result)} µs/req)  other CPU ${result.otherCpu.toFixed(0)} %`,
    );
  }
  const { rssKb: endKb, hwmKb: peakKb } = readVm(pid);
  return { runs, memory: { startKb, endKb, peakKb } };
}
