// Load and what it costs: wrk runs (bench/post.lua), the CPU time of each process read from /proc during
// a run, one probing request to show what a target answers, and a process's memory from /proc.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { CPU, launch, sleep } from './processes';
import { KEY } from './settings';

/** What bench/post.lua prints at the end of a run. Times in µs. */
interface WrkResult {
  requests: number;
  duration_us: number;
  p50_us: number;
  p99_us: number;
  max_us: number;
  non2xx: number;
  connect_errors: number;
  read_errors: number;
  write_errors: number;
  timeouts: number;
}

export interface Load extends WrkResult {
  rps: number;
  /** CPU time other processes on the machine used during the run, in % of one CPU. */
  otherCpu: number;
  /** CPU time the measured process used during the run, in % of one CPU. */
  targetCpu: number;
  /** The same, for each of the run's `ours` in turn (the measured one first, then its upstreams…). */
  oursCpu: number[];
}

/** Another wrk script than bench/post.lua, its threads, and what it reads from the environment. */
export interface WrkScript {
  script: string;
  threads: number;
  env: Record<string, string>;
}

/**
 * A wrk run against `url`, POSTing `body`. `ours` are the benchmark's own processes (not "other CPU");
 * `ours[0]`, when given, is the measured one. `script`: bench/portals.lua, say (default bench/post.lua, 1 thread).
 */
export async function wrk(
  url: string,
  body: string,
  connections: number,
  seconds: number,
  ours: number[] = [],
  script: WrkScript = { script: 'bench/post.lua', threads: 1, env: {} },
): Promise<Load> {
  const proc = launch(
    'wrk',
    CPU.load,
    'wrk',
    [`-t${script.threads}`, `-c${connections}`, `-d${seconds}s`, '--timeout', '5s', '-s', script.script, url],
    { ...process.env, ...script.env, BENCH_BODY: body, BENCH_KEY: KEY },
    false,
  );
  // Other processes' CPU over the middle of the run: anything above a few % means the machine was shared.
  let otherCpu = NaN;
  let targetCpu = NaN;
  let oursCpu = ours.map(() => NaN);
  if (seconds >= 2) {
    await sleep(500);
    const mine = new Set([process.pid, proc.pid, ...ours]);
    const before = cpuByProcess();
    const t0 = performance.now();
    await sleep(seconds * 1000 - 1_000);
    const after = cpuByProcess();
    const ticks = [...after]
      .filter(([pid]) => !mine.has(pid))
      .reduce((sum, [pid, t]) => sum + Math.max(0, t - (before.get(pid) ?? 0)), 0);
    const elapsed = (performance.now() - t0) / 1000;
    otherCpu = (100 * ticks) / clockTicks / elapsed;
    oursCpu = ours.map((pid) => (100 * ((after.get(pid) ?? 0) - (before.get(pid) ?? 0))) / clockTicks / elapsed);
    targetCpu = oursCpu[0] ?? NaN;
  }
  const code = await proc.exited;
  const line = proc.lines().find((l) => l.startsWith('BENCH_RESULT '));
  if (code !== 0 || !line) throw new Error(`wrk failed (exit ${code}):\n${proc.lines().join('\n')}`);
  const result = JSON.parse(line.slice('BENCH_RESULT '.length)) as WrkResult;
  return { ...result, rps: result.requests / (result.duration_us / 1e6), otherCpu, targetCpu, oursCpu };
}

/** The measured process's CPU time per request, µs (NaN when its CPU was not sampled). */
export const cpuPerRequestUs = (load: Load) => ((load.targetCpu / 100) * 1e6) / load.rps;

const clockTicks = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** The CPU time (user + system) a process has used so far, ms (to the clock tick, 10 ms here). */
export function cpuTimeMs(pid: number): number {
  return ((cpuByProcess([pid]).get(pid) ?? NaN) * 1000) / clockTicks;
}

/** utime + stime of every process (or of `only`), in clock ticks. */
function cpuByProcess(only?: number[]): Map<number, number> {
  const ticks = new Map<number, number>();
  for (const entry of only?.map(String) ?? readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks.set(Number(entry), Number(fields[11]) + Number(fields[12]));
    } catch {
      // gone meanwhile
    }
  }
  return ticks;
}

export interface Answer {
  status: number;
  /** `result: true`, the error code, or the start of the body. */
  code: string;
}

/** One request as wrk sends it, to show (and check) what the target answers. */
export async function probe(url: string, body: string): Promise<Answer> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
    body,
  });
  const text = await response.text();
  let code = text.slice(0, 60);
  try {
    const json = JSON.parse(text);
    code = json.result === true ? 'result: true' : (json.error ?? json.title ?? code);
  } catch {
    // not JSON
  }
  return { status: response.status, code };
}

/** A process's resident memory now (VmRSS) and its peak so far (VmHWM), in kB. */
export function readVm(pid: number): { rssKb: number; hwmKb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssKb: field('VmRSS'), hwmKb: field('VmHWM') };
}
