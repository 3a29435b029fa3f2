// `make bench`: the gateway against the emulator (the limit) and Stoplight Prism (the peer), with wrk.
//
//   node --import tsx bench/run.ts              measure, print the table, write bench/results.md
//   node --import tsx bench/run.ts --profile    run the gateway under `node --cpu-prof` instead, and
//                                               print where its time goes (bench/tmp/profile/)
//
// Run from the repository root, after `make build` (`make bench` builds first). Every process is separate:
// the emulator (bench/emulator.ts), the gateway (the build, dist/main.js, started as production starts it,
// with env), Prism, and wrk. See bench/results.md for the method.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { summariseProfile } from './profile-summary';

// ---------------------------------------------------------------------------------------------- settings

const num = (name: string, fallback: number) => {
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name}: "${value}" is not a positive number`);
  return n;
};

const settings = {
  /** Seconds measured per run, after a warm-up. */
  duration: num('BENCH_DURATION', 10),
  warmup: num('BENCH_WARMUP', 3),
  connections: num('BENCH_CONNECTIONS', 32),
  /** The unloaded run (1 connection): latency without queueing. */
  unloadedDuration: num('BENCH_UNLOADED_DURATION', 5),
  /** The burst: N transfers at once through a bucket of `rate` a second and `size` burst (Bitrix24: 2/s, 50). */
  burst: { n: num('BENCH_BURST_N', 100), rate: num('BENCH_BURST_RATE', 5), size: num('BENCH_BURST_SIZE', 50) },
  output: process.env.BENCH_OUTPUT ?? 'bench/results.md',
  profile: process.argv.includes('--profile'),
};

const root = process.cwd();
const TRANSFER = '/rest/imopenlines.bot.session.transfer';
const KEY = 'bench-key-0123456789abcdef';
/**
 * The same bodies to all three targets. The gateway runs in OAuth mode against the emulator, so the body
 * carries `auth` and the path is the spec's own: what Prism forwards, the emulator answers as is.
 */
const bodies = {
  valid: JSON.stringify({ CHAT_ID: 112, USER_ID: 12, LEAVE: 'N', auth: 'benchtoken' }),
  rejected: JSON.stringify({ CHAT_ID: '12abc', USER_ID: 12, LEAVE: 'N', auth: 'benchtoken' }),
};
type BodyKind = keyof typeof bodies;

// -------------------------------------------------------------------------------------------- placement

const cpuCount = os.availableParallelism();
const hasTaskset = (() => {
  try {
    execFileSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const pinned = cpuCount >= 2 && hasTaskset;
/** The process measured gets CPU 0, with nothing else of the benchmark; wrk and the upstream emulator share CPU 1. */
const CPU = { target: '0', load: '1' } as const;

function onCpu(cpu: string, command: string, args: string[]): [string, string[]] {
  return pinned ? ['taskset', ['-c', cpu, command, ...args]] : [command, args];
}

const placement = pinned
  ? `pinned with taskset: the process measured (emulator, gateway, Prism or floor) on CPU ${CPU.target}, with no other process of ` +
    `the benchmark; wrk (1 thread) and, for the gateway and Prism runs, the upstream emulator on CPU ${CPU.load}; this script ` +
    `(unpinned) idles during runs and sends the burst itself`
  : `not pinned (${cpuCount} CPU${cpuCount > 1 ? 's' : ''}${hasTaskset ? '' : ', no taskset'}): the OS places the target, the emulator and wrk`;

// ------------------------------------------------------------------------------------------- processes

interface Proc {
  name: string;
  child: ChildProcess;
  pid: number;
  /** Its output so far (the first lines of a log file; the last ones of a pipe). */
  lines(): string[];
  exited: Promise<number | null>;
}

const running = new Set<Proc>();
const logDir = join(root, 'bench/tmp/logs');

/**
 * Starts a process. A server's output goes to a file in bench/tmp/logs/ (the gateway logs a line per
 * request: a file costs it what a log collector would, and keeps this script out of the loop); wrk's is
 * collected.
 */
function launch(
  name: string,
  cpu: string,
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  toFile = true,
): Proc {
  const [cmd, argv] = onCpu(cpu, command, args);
  let child: ChildProcess;
  let lines: () => string[];
  if (toFile) {
    mkdirSync(logDir, { recursive: true });
    const file = join(logDir, `${name}.log`);
    const fd = openSync(file, 'w');
    // taskset execs the command: the pid is the target's own, for /proc/<pid>/status.
    child = spawn(cmd, argv, { cwd: root, env, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    lines = () => {
      const text = readFileSync(file, 'utf8');
      return text.slice(0, 64_000).split('\n').filter(Boolean);
    };
  } else {
    const output: string[] = [];
    child = spawn(cmd, argv, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const collect = (chunk: Buffer) => {
      output.push(...chunk.toString().split('\n').filter(Boolean));
      if (output.length > 2_000) output.splice(0, output.length - 2_000);
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    lines = () => output;
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const proc: Proc = { name, child, pid: child.pid!, lines, exited };
  running.add(proc);
  void exited.then(() => running.delete(proc));
  return proc;
}

async function stop(proc: Proc): Promise<void> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), 15_000);
  await proc.exited;
  clearTimeout(timer);
}

async function waitFor<T>(
  proc: Proc,
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null) break;
    const value = await check();
    if (value !== undefined) return value;
    await sleep(100);
  }
  throw new Error(`${proc.name} did not become ready (${what}); its output:\n${proc.lines().slice(-30).join('\n')}`);
}

function firstJsonLine<T>(proc: Proc, test: (value: Record<string, unknown>) => boolean): T | undefined {
  for (const line of proc.lines()) {
    try {
      const value = JSON.parse(line);
      if (test(value)) return value as T;
    } catch {
      // not a JSON line
    }
  }
  return undefined;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A clean environment: only what the child needs, so the caller's BITRIX24_* or PORT cannot leak in. */
function baseEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const keep = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TERM'];
  return { ...Object.fromEntries(keep.filter((k) => process.env[k]).map((k) => [k, process.env[k]!])), ...extra };
}

// --------------------------------------------------------------------------------------------- targets

interface Emulator {
  proc: Proc;
  url: string;
  controlUrl: string;
}

async function startEmulator(cpu: string, rateLimit = 'off', requestIds = false): Promise<Emulator> {
  const env = baseEnv({ BENCH_EMULATOR_RATE_LIMIT: rateLimit, BENCH_EMULATOR_REQUEST_IDS: requestIds ? 'on' : 'off' });
  const proc = launch('emulator', cpu, process.execPath, ['--import', 'tsx', 'bench/emulator.ts'], env);
  const ready = await waitFor(proc, 'its first line', () =>
    firstJsonLine<{ url: string; controlUrl: string }>(proc, (v) => typeof v.url === 'string'),
  );
  return { proc, url: ready.url, controlUrl: ready.controlUrl };
}

async function emulatorStats(
  emulator: Emulator,
): Promise<{ calls: number; rejectedByRateLimit: number; maxBucketLevel: number }> {
  return (await fetch(`${emulator.controlUrl}/stats`)).json() as never;
}

async function resetEmulator(emulator: Emulator): Promise<void> {
  await fetch(`${emulator.controlUrl}/reset`, { method: 'POST' });
}

interface Gateway {
  proc: Proc;
  url: string;
}

/**
 * How the gateway is run: `built` as production and the Docker image run it (`node dist/main.js`, compiled
 * by `make build`), `tsx` from the sources as `make start` does (transpiled at start).
 */
type GatewayBuild = 'built' | 'tsx';
const gatewayCommand: Record<GatewayBuild, string[]> = {
  built: ['dist/main.js'],
  tsx: ['--import', 'tsx', 'src/main.ts'],
};

interface GatewayOptions {
  build: GatewayBuild;
  nodeFlags?: string[];
  env?: Record<string, string>;
  name?: string;
}

/** The gateway as users run it, configured by its environment. */
async function startGateway(emulator: Emulator, options: GatewayOptions): Promise<Gateway> {
  const proc = launch(
    options.name ?? 'gateway',
    CPU.target,
    process.execPath,
    [...(options.nodeFlags ?? []), ...gatewayCommand[options.build]],
    baseEnv({
      BITRIX24_PORTAL_URL: emulator.url,
      GATEWAY_API_KEYS: `bench:${KEY}`,
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'info',
      ...options.env,
    }),
  );
  const ready = await waitFor(proc, 'its "Gateway listening" log line', () =>
    firstJsonLine<{ url: string }>(
      proc,
      (v) => typeof v.url === 'string' && String(v.msg).startsWith('Gateway listening'),
    ),
  );
  return { proc, url: ready.url };
}

const PRISM_LOG_LEVEL = 'silent';

async function startPrism(emulator: Emulator): Promise<Gateway> {
  const bin = join(root, 'bench/node_modules/@stoplight/prism-cli/dist/index.js');
  if (!existsSync(bin)) throw new Error('Prism is not installed: run `make bench` (it runs npm ci in bench/)');
  const port = await freePort();
  // One process (no --multiprocess), like the gateway, and no logging at all (the gateway logs a line per
  // request): what favours Prism most.
  const proc = launch(
    'prism',
    CPU.target,
    process.execPath,
    [
      bin,
      'proxy',
      'openapi/openapi.yaml',
      emulator.url,
      '--errors',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '-v',
      PRISM_LOG_LEVEL,
    ],
    baseEnv({}),
  );
  const url = `http://127.0.0.1:${port}`;
  await waitFor(proc, `an answer on ${url}`, async () => {
    try {
      await fetch(`${url}/`, { signal: AbortSignal.timeout(1_000) });
      return true;
    } catch {
      return undefined;
    }
  });
  return { proc, url };
}

// ------------------------------------------------------------------------------------------------ load

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

interface Load extends WrkResult {
  rps: number;
  /** CPU time other processes on the machine used during the run, in % of one CPU. */
  otherCpu: number;
  /** CPU time the measured process used during the run, in % of one CPU. */
  targetCpu: number;
}

/** `ours[0]`, when given, is the measured process. */
async function wrk(
  url: string,
  body: string,
  connections: number,
  seconds: number,
  ours: number[] = [],
): Promise<Load> {
  const proc = launch(
    'wrk',
    CPU.load,
    'wrk',
    ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '5s', '-s', 'bench/post.lua', url],
    { ...process.env, BENCH_BODY: body, BENCH_KEY: KEY },
    false,
  );
  // Other processes' CPU over the middle of the run: anything above a few % means the machine was shared.
  let otherCpu = NaN;
  let targetCpu = NaN;
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
    if (ours[0] !== undefined)
      targetCpu = (100 * ((after.get(ours[0]) ?? 0) - (before.get(ours[0]) ?? 0))) / clockTicks / elapsed;
  }
  const code = await proc.exited;
  const line = proc.lines().find((l) => l.startsWith('BENCH_RESULT '));
  if (code !== 0 || !line) throw new Error(`wrk failed (exit ${code}):\n${proc.lines().join('\n')}`);
  const result = JSON.parse(line.slice('BENCH_RESULT '.length)) as WrkResult;
  return { ...result, rps: result.requests / (result.duration_us / 1e6), otherCpu, targetCpu };
}

const clockTicks = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of every process, in clock ticks. */
function cpuByProcess(): Map<number, number> {
  const ticks = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
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

async function probe(url: string, body: string): Promise<{ status: number; code: string }> {
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

function readVm(pid: number): { hwmKb: number; rssKb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { hwmKb: field('VmHWM'), rssKb: field('VmRSS') };
}

// ----------------------------------------------------------------------------------------- measurement

type TargetName = 'direct' | 'gateway' | 'prism' | 'floor';

interface Run {
  target: TargetName;
  body: BodyKind | 'valid, 1 connection';
  expected: number;
  probe: { status: number; code: string };
  result: Load;
  /** Answers with another status than expected, plus socket errors and timeouts. */
  errors: number;
  /** Calls the emulator received during the run (for the direct target: the run's own calls). */
  upstreamCalls: number | undefined;
}

interface TargetResult {
  runs: Run[];
  memory?: { startKb: number; peakKb: number };
}

const expectedStatus: Record<TargetName, Record<BodyKind, number>> = {
  // The emulator, like Bitrix24, reads "12abc" as 12 and transfers: the coercion the gateway exists to stop.
  direct: { valid: 200, rejected: 200 },
  gateway: { valid: 200, rejected: 400 },
  prism: { valid: 200, rejected: 422 },
  floor: { valid: 400, rejected: 400 },
};

async function measure(
  target: TargetName,
  base: string,
  emulator: Emulator | undefined,
  pid: number,
): Promise<TargetResult> {
  const ours = [pid, ...(emulator ? [emulator.proc.pid] : [])];
  const url = `${base}${TRANSFER}`;
  const startKb = readVm(pid).rssKb;
  const runs: Run[] = [];
  const one = async (kind: BodyKind, connections: number, seconds: number, warmup: number) => {
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
      body: connections === 1 ? 'valid, 1 connection' : kind,
      expected,
      probe: answer,
      result,
      errors,
      upstreamCalls: target === 'direct' || after === undefined || before === undefined ? undefined : after - before,
    });
    log(
      `  ${target.padEnd(7)} ${(connections === 1 ? `${kind}, c=1` : kind).padEnd(12)} ${fmtRps(result.rps).padStart(8)} req/s  p50 ${fmtMs(result.p50_us)} ms  p99 ${fmtMs(result.p99_us)} ms  errors ${errors}  CPU ${result.targetCpu.toFixed(0)} % (${fmtUs(result)} µs/req)  other CPU ${result.otherCpu.toFixed(0)} %`,
    );
  };
  if (target === 'floor') {
    await one('rejected', settings.connections, settings.duration, settings.warmup);
  } else {
    await one('valid', settings.connections, settings.duration, settings.warmup);
    await one('rejected', settings.connections, settings.duration, Math.min(2, settings.warmup));
    await one('valid', 1, settings.unloadedDuration, 0);
  }
  const peakKb = readVm(pid).hwmKb;
  return { runs, memory: { startKb, peakKb } };
}

// ------------------------------------------------------------------------------------------------ burst

interface BurstResult {
  n: number;
  rate: number;
  size: number;
  theoreticalS: number;
  direct: { seconds: number; ok: number; rejected: number; upstreamRejected: number };
  gateway:
    | { available: false; reason: string }
    | {
        available: true;
        seconds: number;
        statuses: Record<string, number>;
        upstreamRejected: number;
        upstreamCalls: number;
        maxBucketLevel: number;
      };
}

/** The limiter is there when the configuration takes RATE_LIMIT_PER_SECOND and RATE_LIMIT_BURST. */
async function gatewayLimiter(
  rate: number,
  size: number,
): Promise<{ available: true } | { available: false; reason: string }> {
  try {
    const { loadConfig } = await import(pathToFileURL(join(root, 'src/config/index.ts')).href);
    const config = loadConfig({
      BITRIX24_PORTAL_URL: 'http://127.0.0.1:1',
      RATE_LIMIT_PER_SECOND: String(rate),
      RATE_LIMIT_BURST: String(size),
    });
    if (config.rateLimit?.drainPerSecond === rate && config.rateLimit?.burst === size) return { available: true };
    return { available: false, reason: 'the configuration has no RATE_LIMIT_PER_SECOND / RATE_LIMIT_BURST' };
  } catch (error) {
    return {
      available: false,
      reason: `the configuration refused RATE_LIMIT_PER_SECOND=${rate} RATE_LIMIT_BURST=${size}: ${(error as Error).message}`,
    };
  }
}

async function fireAll(url: string, n: number): Promise<{ seconds: number; statuses: Record<string, number> }> {
  const started = performance.now();
  const answers = await Promise.all(
    Array.from({ length: n }, async () => {
      try {
        const response = await fetch(url, {
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
  for (const answer of answers) statuses[answer] = (statuses[answer] ?? 0) + 1;
  return { seconds, statuses };
}

async function burst(): Promise<BurstResult> {
  const { n, rate, size } = settings.burst;
  const theoreticalS = Math.max(0, (n - size) / rate);
  const emulator = await startEmulator(CPU.load, `${rate},${size}`);
  try {
    // Direct: what the portal does with N at once when nobody shapes them.
    await resetEmulator(emulator);
    const direct = await fireAll(`${emulator.url}${TRANSFER}`, n);
    const directStats = await emulatorStats(emulator);
    const result: BurstResult = {
      n,
      rate,
      size,
      theoreticalS,
      direct: {
        seconds: direct.seconds,
        ok: direct.statuses['200'] ?? 0,
        rejected: n - (direct.statuses['200'] ?? 0),
        upstreamRejected: directStats.rejectedByRateLimit,
      },
      gateway: { available: false, reason: 'not run' },
    };
    const limiter = await gatewayLimiter(rate, size);
    if (!limiter.available) result.gateway = limiter;
    log(
      `  direct   ${n} at once: ${result.direct.ok} transferred, ${result.direct.upstreamRejected} rejected by the portal's bucket`,
    );
    if (!limiter.available) {
      log(`  gateway  pending: gateway limiter not available (${limiter.reason})`);
      return result;
    }
    // The gateway as users would configure it for this portal: its limiter shaping.
    const gateway = await startGateway(emulator, {
      build: 'built',
      name: 'gateway-burst',
      env: {
        RATE_LIMIT_PER_SECOND: String(rate),
        RATE_LIMIT_BURST: String(size),
        QUEUE_MAX_LENGTH: String(Math.max(1_000, n)),
        QUEUE_MAX_WAIT_MS: String(Math.min(600_000, Math.ceil(theoreticalS * 2_000) + 10_000)),
      },
    });
    try {
      await resetEmulator(emulator);
      const through = await fireAll(`${gateway.url}${TRANSFER}`, n);
      const stats = await emulatorStats(emulator);
      result.gateway = {
        available: true,
        seconds: through.seconds,
        statuses: through.statuses,
        upstreamRejected: stats.rejectedByRateLimit,
        upstreamCalls: stats.calls,
        maxBucketLevel: stats.maxBucketLevel,
      };
      log(
        `  gateway  ${n} at once: drained in ${through.seconds.toFixed(2)} s (theoretical minimum ${theoreticalS.toFixed(2)} s), ` +
          `upstream rejections ${stats.rejectedByRateLimit}, answers ${JSON.stringify(through.statuses)}`,
      );
    } finally {
      await stop(gateway.proc);
    }
    return result;
  } finally {
    await stop(emulator.proc);
  }
}

// ------------------------------------------------------------------------------------------- reporting

const fmtRps = (rps: number) => Math.round(rps).toLocaleString('en-US');
const fmtMs = (us: number) => (us / 1000).toFixed(2);
const fmtMb = (kb: number) => `${(kb / 1024).toFixed(0)} MB`;
/** The measured process's CPU time per request, µs: what a request costs it, however busy the machine. */
const fmtUs = (r: Load) => (Number.isFinite(r.targetCpu) ? (((r.targetCpu / 100) * 1e6) / r.rps).toFixed(0) : '—');
const log = (line: string) => console.log(line);

function table(header: string[], rows: string[][], align: ('l' | 'r')[] = []): string {
  const sep = header.map((_, i) => (align[i] === 'r' ? '---:' : '---'));
  return [header, sep, ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

function machine(): Record<string, string> {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown';
  const memKb = Number(/^MemTotal:\s+(\d+)/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0);
  const sh = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
    } catch (error) {
      return ((error as { stdout?: string }).stdout ?? '').trim() || 'unknown';
    }
  };
  const prismVersion = (() => {
    try {
      return JSON.parse(readFileSync(join(root, 'bench/node_modules/@stoplight/prism-cli/package.json'), 'utf8'))
        .version as string;
    } catch {
      return 'not installed';
    }
  })();
  const commit = sh('git', ['rev-parse', '--short', 'HEAD']);
  const dirty = sh('git', ['status', '--porcelain', '--', 'src', 'generated', 'openapi', 'package.json'])
    ? ' (with uncommitted changes in src/, generated/ or openapi/)'
    : '';
  return {
    CPUs: `${sh('nproc', [])} (nproc), ${model}`,
    Memory: `${(memKb / 1024 / 1024).toFixed(1)} GiB`,
    Kernel: `${os.type()} ${os.release()}`,
    Node: process.version,
    wrk:
      sh('wrk', ['--version'])
        .split('\n')[0]
        ?.replace(/ Copyright.*/, '') ?? 'unknown',
    Prism: `@stoplight/prism-cli ${prismVersion}`,
    'Load average before the run': os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(', '),
    Commit: `${commit}${dirty}`,
  };
}

interface Report {
  startedAt: Date;
  seconds: number;
  machine: Record<string, string>;
  targets: Record<TargetName, TargetResult>;
  burst: BurstResult;
}

function render(report: Report): string {
  const { targets } = report;
  const find = (target: TargetName, body: Run['body']) => targets[target].runs.find((r) => r.body === body)!;
  const runs = (['direct', 'gateway', 'prism', 'floor'] as const).flatMap((t) => targets[t].runs);
  const label: Record<TargetName, string> = {
    direct: 'direct (emulator)',
    gateway: 'gateway',
    prism: 'Prism proxy',
    floor: 'bare node:http (floor)',
  };

  const resultsTable = table(
    [
      'target',
      'request',
      'answer',
      'req/s',
      'p50 ms',
      'p99 ms',
      'errors',
      'upstream calls',
      'target CPU',
      'CPU µs/req',
      'other CPU',
    ],
    runs.map((r) => [
      label[r.target],
      r.body === 'valid, 1 connection' ? 'valid, **1 connection**' : r.body,
      `${r.probe.status} ${r.probe.code}`,
      fmtRps(r.result.rps),
      fmtMs(r.result.p50_us),
      fmtMs(r.result.p99_us),
      String(r.errors),
      r.upstreamCalls === undefined ? '—' : String(r.upstreamCalls),
      `${r.result.targetCpu.toFixed(0)} %`,
      fmtUs(r.result),
      `${r.result.otherCpu.toFixed(0)} %`,
    ]),
    ['l', 'l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  );

  const gv = find('gateway', 'valid');
  const dv = find('direct', 'valid');
  const pv = find('prism', 'valid');
  const gr = find('gateway', 'rejected');
  const pr = find('prism', 'rejected');
  const g1 = find('gateway', 'valid, 1 connection');
  const d1 = find('direct', 'valid, 1 connection');
  const p1 = find('prism', 'valid, 1 connection');
  const fr = find('floor', 'rejected');
  const addedP50 = (gv.result.p50_us - dv.result.p50_us) / 1000;
  const added1 = (g1.result.p50_us - d1.result.p50_us) / 1000;
  const met = (ok: boolean) => (ok ? 'met' : '**not met**');
  // Per request CPU of each measured process: what a request costs it, however busy the machine was.
  const us = (r: Run) => ((r.result.targetCpu / 100) * 1e6) / r.result.rps;
  const perCore = (r: Run) => 1e6 / us(r);
  const byCpu = (text: string) => (runs.every((r) => Number.isFinite(r.result.targetCpu)) ? text : '—');
  const targetsTable = table(
    ['target', 'goal', 'measured', '', 'from CPU per request (a full core each)'],
    [
      [
        'valid transfers vs Prism',
        '≥ 10×',
        `${(gv.result.rps / pv.result.rps).toFixed(1)}× (${fmtRps(gv.result.rps)} vs ${fmtRps(pv.result.rps)} req/s)`,
        met(gv.result.rps >= 10 * pv.result.rps),
        byCpu(`${(us(pv) / us(gv)).toFixed(1)}× (${us(gv).toFixed(0)} vs ${us(pv).toFixed(0)} µs)`),
      ],
      [
        'valid transfers vs direct',
        '≥ 0.4×',
        `${(gv.result.rps / dv.result.rps).toFixed(2)}× (${fmtRps(gv.result.rps)} vs ${fmtRps(dv.result.rps)} req/s)`,
        met(gv.result.rps >= 0.4 * dv.result.rps),
        byCpu(`${(us(dv) / us(gv)).toFixed(2)}× (${us(gv).toFixed(0)} vs ${us(dv).toFixed(0)} µs)`),
      ],
      [
        'rejected requests',
        '≥ 20,000 req/s',
        `${fmtRps(gr.result.rps)} req/s (${(gr.result.rps / pr.result.rps).toFixed(1)}× Prism's ${fmtRps(pr.result.rps)})`,
        met(gr.result.rps >= 20_000),
        byCpu(`${fmtRps(perCore(gr))} req/s (${us(gr).toFixed(0)} µs; Prism ${us(pr).toFixed(0)} µs)`),
      ],
      [
        'rejected requests vs bare node:http',
        '(for reference)',
        `${(gr.result.rps / fr.result.rps).toFixed(2)}× (floor: ${fmtRps(fr.result.rps)} req/s)`,
        '',
        byCpu(`${(us(fr) / us(gr)).toFixed(2)}× (floor: ${us(fr).toFixed(0)} µs, ${fmtRps(perCore(fr))} req/s)`),
      ],
      [
        `added p50 latency, ${settings.connections} connections`,
        '≤ 0.5 ms',
        `${addedP50.toFixed(2)} ms (${fmtMs(gv.result.p50_us)} vs ${fmtMs(dv.result.p50_us)} ms; Prism adds ${((pv.result.p50_us - dv.result.p50_us) / 1000).toFixed(2)} ms)`,
        met(addedP50 <= 0.5),
        '',
      ],
      [
        'added p50 latency, 1 connection (no queueing)',
        '(for reference)',
        `${added1.toFixed(2)} ms (${fmtMs(g1.result.p50_us)} vs ${fmtMs(d1.result.p50_us)} ms; Prism adds ${((p1.result.p50_us - d1.result.p50_us) / 1000).toFixed(2)} ms)`,
        '',
        '',
      ],
      [
        'gateway peak memory (VmHWM)',
        '(reported)',
        `${fmtMb(targets.gateway.memory!.peakKb)} (${fmtMb(targets.gateway.memory!.startKb)} at start; Prism ${fmtMb(targets.prism.memory!.peakKb)}, emulator ${fmtMb(targets.direct.memory!.peakKb)})`,
        '',
        '',
      ],
    ],
  );

  const busiest = Math.max(...runs.map((r) => r.result.otherCpu).filter(Number.isFinite));
  const shared =
    busiest > 10
      ? [
          ``,
          `**Warning: the machine was not quiet.** Other processes used up to ${busiest.toFixed(0)} % of a CPU during a run ("other CPU"); on ${cpuCount} CPUs that takes time from the measured processes, so those rows are low. Run \`make bench\` again on a quiet machine.`,
        ]
      : [];

  const b = report.burst;
  const burstLines = [
    `${b.n} valid transfers sent at once; the emulator's bucket (and the gateway's, \`RATE_LIMIT_PER_SECOND=${b.rate}\`, \`RATE_LIMIT_BURST=${b.size}\`) at ${b.rate} a second with a burst of ${b.size}. Bitrix24's standard plan is 2 a second, burst 50: the rate is scaled up ${+(b.rate / 2).toFixed(1)}× so the run takes seconds (the gateway keeps as headroom the requests that drain in 0.25 s, at least one, of timing slack between its bucket and the portal's: ${Math.round(Math.max(1000 / b.rate, 250))} ms here, 500 ms at the real rate). Theoretical minimum drain time: (N − burst) / rate = (${b.n} − ${b.size}) / ${b.rate} = **${b.theoreticalS.toFixed(2)} s**.`,
    '',
    table(
      ['path', 'drain time', 'vs theoretical minimum', 'upstream rejections (must be 0)', 'answers'],
      [
        [
          'direct to the emulator (nothing shapes)',
          `${b.direct.seconds.toFixed(2)} s`,
          '—',
          String(b.direct.upstreamRejected),
          `${b.direct.ok} transferred, ${b.direct.rejected} refused`,
        ],
        b.gateway.available
          ? [
              'through the gateway',
              `${b.gateway.seconds.toFixed(2)} s`,
              b.theoreticalS > 0 ? `${(b.gateway.seconds / b.theoreticalS).toFixed(2)}×` : '—',
              `${b.gateway.upstreamRejected}${b.gateway.upstreamRejected === 0 ? '' : ' **(not 0)**'}`,
              Object.entries(b.gateway.statuses)
                .map(([s, c]) => `${c} × ${s}`)
                .join(', '),
            ]
          : ['through the gateway', '**pending: gateway limiter not available**', '—', '—', b.gateway.reason],
      ],
    ),
  ];

  const m = report.machine;
  return [
    `_Generated by \`make bench\` on ${report.startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC in ${Math.round(report.seconds)} s. Absolute numbers vary between machines: read the ratios._`,
    '',
    '### Machine',
    '',
    ...Object.entries(m).map(([k, v]) => `- ${k}: ${v}`),
    '',
    '### Method',
    '',
    '- Each target is its own process, all on loopback; the first three are, or forward to, the same emulator, started fresh for each with its rate and operating-time limits off (`bench/emulator.ts` calls `startEmulator`):',
    '  - **direct**: the emulator itself, the limit;',
    "  - **gateway**: the build, `node dist/main.js` (what production and the Docker image run; `make bench` runs `make build` first), configured by its environment only: `BITRIX24_PORTAL_URL=<emulator>` (OAuth mode, so that all three take the same body), `GATEWAY_API_KEYS`, `RATE_LIMIT_SHAPING=off` (the emulator's limits are off, so the limiter lets every request through at once; the burst below runs with shaping on), otherwise defaults (`UPSTREAM_CONNECTIONS=16`, `LOG_LEVEL=info`: one access-log line per request, to a file);",
    `  - **Prism**: \`prism proxy openapi/openapi.yaml <emulator> --errors -v ${PRISM_LOG_LEVEL}\` (one process, no logging: what favours Prism most; the gateway logs a line per request);`,
    "  - **bare node:http (floor)**: `bench/floor.ts`, a `node:http` server that reads and parses the body and answers the gateway's 400, nothing else: what one Node process here can answer at all, for the rejected body only.",
    `- Placement: ${placement}.`,
    `- Load: \`wrk -t1 -c${settings.connections}\` with \`bench/post.lua\`, ${settings.warmup} s warm-up, then ${settings.duration} s measured; the 1-connection rows run ${settings.unloadedDuration} s. The same path (\`${TRANSFER}\`), headers (\`Authorization: Bearer …\`, which the spec requires and Prism checks) and bodies for all three:`,
    `  - valid: \`${bodies.valid}\``,
    `  - rejected: \`${bodies.rejected}\`. The emulator, like Bitrix24, reads \`"12abc"\` as 12 and transfers; the gateway answers 400 \`INVALID_PARAMETER\` without calling upstream; Prism answers its own 422.`,
    '- Checks: each body is sent once before its run and the answer shown ("answer"); "errors" counts answers of another status class during the run, plus socket errors and timeouts; "upstream calls" is the emulator\'s own count during the run.',
    '- CPU, from `/proc/<pid>/stat` over the middle of each run, in % of one CPU: "target CPU" is the measured process (100 % = its core saturated); "CPU µs/req" is its CPU time per request, which holds even when the machine is shared; "other CPU" is every process that is not part of the benchmark.',
    "- Peak memory: `VmHWM` from `/proc/<pid>/status` after all of a target's runs.",
    '',
    '### Results',
    '',
    resultsTable,
    ...shared,
    '',
    '### Against the targets',
    '',
    targetsTable,
    '',
    `The last column divides a million by each process's CPU time per request: the throughput it would reach with a core to itself, which a shared machine does not change much. At a fixed concurrency the latency is mostly queueing (Little's law: p50 ≈ connections / throughput), so the added latency at ${settings.connections} connections follows the throughput gap; the 1-connection row is the gateway's own cost per request.`,
    '',
    '### Burst through the rate limiter',
    '',
    ...burstLines,
  ].join('\n');
}

const START = '<!-- bench:generated:start -->';
const END = '<!-- bench:generated:end -->';

function writeResults(generated: string): void {
  // An absolute path is taken as it is; a relative one is from the repository root.
  const path = resolve(root, settings.output);
  const block = `${START}\n${generated}\n${END}`;
  const existing = existsSync(path) ? readFileSync(path, 'utf8') : '';
  const at = existing.indexOf(START);
  const end = existing.indexOf(END);
  const next =
    at >= 0 && end > at
      ? `${existing.slice(0, at)}${block}${existing.slice(end + END.length)}`
      : `# Benchmark\n\nThe part between the markers is written by \`make bench\`; the rest is kept as is.\n\n${block}\n`;
  writeFileSync(path, next);
}

// ------------------------------------------------------------------------------------------------ main

async function benchmark(): Promise<void> {
  const startedAt = new Date();
  const machineInfo = machine();
  log(
    `Benchmark: ${settings.connections} connections, ${settings.warmup} s warm-up + ${settings.duration} s per run; ${placement}`,
  );
  const targets = {} as Record<TargetName, TargetResult>;
  {
    const emulator = await startEmulator(CPU.target);
    try {
      targets.direct = await measure('direct', emulator.url, emulator, emulator.proc.pid);
    } finally {
      await stop(emulator.proc);
    }
  }
  for (const target of ['gateway', 'prism'] as const) {
    // Prism checks the emulator's answers against the spec, which promises X-Request-Id on every answer.
    const emulator = await startEmulator(CPU.load, 'off', target === 'prism');
    try {
      const server =
        target === 'gateway'
          ? // Shaping off: every request through the limiter at once (the emulator's own limits are off too).
            await startGateway(emulator, { build: 'built', env: { RATE_LIMIT_SHAPING: 'off' } })
          : await startPrism(emulator);
      try {
        targets[target] = await measure(target, server.url, emulator, server.proc.pid);
      } finally {
        await stop(server.proc);
      }
    } finally {
      await stop(emulator.proc);
    }
  }
  {
    const floor = launch('floor', CPU.target, process.execPath, ['--import', 'tsx', 'bench/floor.ts'], baseEnv({}));
    try {
      const ready = await waitFor(floor, 'its first line', () =>
        firstJsonLine<{ url: string }>(floor, (v) => typeof v.url === 'string'),
      );
      targets.floor = await measure('floor', ready.url, undefined, floor.pid);
    } finally {
      await stop(floor);
    }
  }
  log('Burst through the rate limiter:');
  const burstResult = await burst();

  const report: Report = {
    startedAt,
    seconds: (Date.now() - startedAt.getTime()) / 1000,
    machine: machineInfo,
    targets,
    burst: burstResult,
  };
  const generated = render(report);
  log(`\n${generated}\n`);
  writeResults(generated);
  log(`Written to ${settings.output}`);
}

/**
 * The gateway under `node --cpu-prof`, once per body, and where its time went. It runs the sources under
 * tsx rather than the build, so that each frame names its file in src/; per request the code is the same.
 */
async function profile(): Promise<void> {
  const dir = join(root, 'bench/tmp/profile');
  mkdirSync(dir, { recursive: true });
  const summaries: string[] = [];
  for (const kind of ['valid', 'rejected'] as const) {
    const out = join(dir, kind);
    mkdirSync(out, { recursive: true });
    for (const f of readdirSync(out)) if (f.endsWith('.cpuprofile')) execFileSync('rm', [join(out, f)]);
    const emulator = await startEmulator(CPU.load);
    try {
      const gateway = await startGateway(emulator, {
        build: 'tsx',
        env: { RATE_LIMIT_SHAPING: 'off' },
        nodeFlags: ['--cpu-prof', '--cpu-prof-dir', out],
        name: `gateway-profile-${kind}`,
      });
      try {
        await wrk(`${gateway.url}${TRANSFER}`, bodies[kind], settings.connections, settings.warmup);
        const result = await wrk(`${gateway.url}${TRANSFER}`, bodies[kind], settings.connections, settings.duration);
        log(`profile ${kind}: ${fmtRps(result.rps)} req/s under the profiler`);
      } finally {
        await stop(gateway.proc);
      }
    } finally {
      await stop(emulator.proc);
    }
    // One profile per thread (tsx's module hooks run in a worker): the main thread is the busiest.
    const file = readdirSync(out)
      .filter((f) => f.endsWith('.cpuprofile'))
      .sort((a, b) => statSync(join(out, b)).size - statSync(join(out, a)).size)[0];
    if (!file) throw new Error(`no profile written in ${out}`);
    summaries.push(
      `## ${kind} requests (${join('bench/tmp/profile', kind, file)})\n\n${summariseProfile(JSON.parse(readFileSync(join(out, file), 'utf8')), root)}`,
    );
  }
  const text = summaries.join('\n\n');
  writeFileSync(join(dir, 'summary.md'), `${text}\n`);
  log(`\n${text}\n\nWritten to bench/tmp/profile/summary.md`);
}

const cleanup = () => {
  for (const proc of running) proc.child.kill('SIGKILL');
};
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    cleanup();
    process.exit(130);
  });
}

try {
  await (settings.profile ? profile() : benchmark());
} catch (error) {
  cleanup();
  console.error(error);
  process.exit(1);
}
