// The benchmark's child processes: where they run (pinned to a CPU with taskset when there are two), how
// they are started with a clean environment and their output kept, stopped, and waited for until ready.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { root } from './settings';

export const cpuCount = os.availableParallelism();
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
export const CPU = { target: '0', load: '1' } as const;
export type Cpu = (typeof CPU)[keyof typeof CPU];

export const placement = pinned
  ? `pinned with taskset: the process measured (emulator, gateway, Prism or a floor) on CPU ${CPU.target}, with no other process of ` +
    `the benchmark; wrk (1 thread) and, for the proxies' runs, the upstream emulator on CPU ${CPU.load}; this script ` +
    `(unpinned) idles during runs, polls during starts and sends the burst itself`
  : `not pinned (${cpuCount} CPU${cpuCount > 1 ? 's' : ''}${hasTaskset ? '' : ', no taskset'}): the OS places the target, the emulator and wrk`;

export interface Proc {
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
 * Starts a process on `cpu`. A server's output goes to a file in bench/tmp/logs/ (the gateway logs a line
 * per request: a file costs it what a log collector would, and keeps this script out of the loop); wrk's
 * is collected through a pipe (`toFile` false).
 */
export function launch(
  name: string,
  cpu: Cpu,
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  toFile = true,
): Proc {
  // taskset execs the command: the pid is the target's own, for /proc/<pid>/status.
  const [cmd, argv] = pinned ? ['taskset', ['-c', cpu, command, ...args]] : [command, args];
  let child: ChildProcess;
  let lines: () => string[];
  if (toFile) {
    mkdirSync(logDir, { recursive: true });
    const file = join(logDir, `${name}.log`);
    const fd = openSync(file, 'w');
    child = spawn(cmd, argv, { cwd: root, env, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    lines = () => readFileSync(file, 'utf8').slice(0, 64_000).split('\n').filter(Boolean);
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

export async function stop(proc: Proc): Promise<void> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), 15_000);
  await proc.exited;
  clearTimeout(timer);
}

/** Kills what is still running (on an error or a signal). */
export function killAll(): void {
  for (const proc of running) proc.child.kill('SIGKILL');
}

/** Calls `check` every `everyMs` until it returns a value; fails when the process exits or time runs out. */
export async function waitFor<T>(
  proc: Proc,
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  { timeoutMs = 60_000, everyMs = 100 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null) break;
    const value = await check();
    if (value !== undefined) return value;
    await sleep(everyMs);
  }
  throw new Error(`${proc.name} did not become ready (${what}); its output:\n${proc.lines().slice(-30).join('\n')}`);
}

/** The first line of the process's output that is JSON and passes `test`. */
export function firstJsonLine<T>(proc: Proc, test: (value: Record<string, unknown>) => boolean): T | undefined {
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

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A clean environment: only what the child needs, so the caller's BITRIX24_* or PORT cannot leak in. */
export function baseEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const keep = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TERM'];
  return { ...Object.fromEntries(keep.filter((k) => process.env[k]).map((k) => [k, process.env[k]!])), ...extra };
}
