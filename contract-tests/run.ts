// The contract run: starts the embedded Bitrix24 emulator and the real gateway on free loopback ports,
// waits until the gateway is healthy, runs Schemathesis against it with the spec the gateway serves (its
// contract: the hand-written one, for its configuration) and every check, always stops both, and exits with
// Schemathesis's exit code (0 passed, 1 a check failed, 2 configuration or schema error).
//
//   npx tsx contract-tests/run.ts [options] [-- extra schemathesis run options]
//
// Options (each also from the environment variable in brackets):
//   --seed=N|random     [CONTRACT_SEED]          default: `seed` in contract-tests/schemathesis.toml
//   --max-examples=N    [CONTRACT_MAX_EXAMPLES]  default: generation.max-examples in the config
//   --max-time=SECONDS  [CONTRACT_MAX_TIME]      time budget; fuzzing repeats until it is spent
//   --report-dir=DIR    [CONTRACT_REPORT_DIR]    default: reports/contract (JUnit XML at DIR/junit.xml)
//   --spec=FILE         [CONTRACT_SPEC]          default: the gateway's /openapi.json (a file: with --url)
//   --break=KIND                                 run against a deliberately broken gateway (self-test)
//   --docker                                     run the official schemathesis image instead of .venv
//   --serve                                      start the stack as the run has it, print its URL and key,
//                                                and keep it up until Ctrl-C (to replay a failure's curl)
import { type ChildProcess, spawnSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config';
import { relayRunnerOutput, startProcess } from '../src/test-support/processes';
import { type Stack, startStack } from '../src/test-support/stack';
import { type BrokenGateway, breakKinds, isBreakKind, startBrokenGateway } from './break';

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '..');
export const paths = {
  config: path.join(here, 'schemathesis.toml'),
  requirements: path.join(here, 'requirements.txt'),
  schemathesis: path.join(root, '.venv', 'bin', 'schemathesis'),
};

/** The pinned version, from requirements.txt: the pip install and the Docker image use the same one. */
export function schemathesisVersion(): string {
  const pin = /^schemathesis==(\S+)$/m.exec(readFileSync(paths.requirements, 'utf8'));
  if (!pin?.[1]) throw new Error(`${paths.requirements} does not pin schemathesis==<version>`);
  return pin[1];
}

/** The fixed seed of `make test`, from the config file. */
function configuredSeed(): number {
  const seed = /^seed\s*=\s*(\d+)\s*$/m.exec(readFileSync(paths.config, 'utf8'));
  if (!seed?.[1]) throw new Error(`${paths.config} has no top-level seed`);
  return Number(seed[1]);
}

interface Options {
  /** A spec file; undefined: the one the gateway serves. */
  spec?: string;
  seed: number;
  randomSeed: boolean;
  maxExamples?: number;
  maxTime?: number;
  reportDir: string;
  breakKind?: keyof typeof breakKinds;
  docker: boolean;
  serve: boolean;
  extra: string[];
}

function usage(message: string): never {
  process.stderr.write(
    `${message}\nUsage: npx tsx contract-tests/run.ts [--seed=N|random] [--max-examples=N] [--max-time=SECONDS] ` +
      `[--report-dir=DIR] [--spec=FILE] [--break=${Object.keys(breakKinds).join('|')}] [--docker] [--serve] [-- schemathesis run options]\n`,
  );
  process.exit(2);
}

function positiveInteger(name: string, value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1) usage(`${name} must be a positive whole number, got "${value}"`);
  return Number(value);
}

function parseOptions(argv: string[]): Options {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      seed: { type: 'string' },
      'max-examples': { type: 'string' },
      'max-time': { type: 'string' },
      'report-dir': { type: 'string' },
      spec: { type: 'string' },
      break: { type: 'string' },
      docker: { type: 'boolean', default: false },
      serve: { type: 'boolean', default: false },
    },
  });
  const env = process.env;
  const seedText = values.seed ?? env.CONTRACT_SEED ?? '';
  const randomSeed = seedText === 'random';
  // Schemathesis passes the seed to Hypothesis, which takes any integer; 2^31 keeps it easy to type.
  const seed = randomSeed ? randomInt(1, 2 ** 31) : (positiveInteger('--seed', seedText) ?? configuredSeed());
  const breakKind = values.break;
  if (breakKind !== undefined && !isBreakKind(breakKind))
    usage(`--break must be one of: ${Object.keys(breakKinds).join(', ')}`);
  const maxExamples = positiveInteger('--max-examples', values['max-examples'] ?? env.CONTRACT_MAX_EXAMPLES);
  const maxTime = positiveInteger('--max-time', values['max-time'] ?? env.CONTRACT_MAX_TIME);
  const spec = values.spec ?? (env.CONTRACT_SPEC || undefined);
  return {
    ...(spec && { spec: path.resolve(spec) }),
    seed,
    randomSeed,
    ...(maxExamples !== undefined && { maxExamples }),
    ...(maxTime !== undefined && { maxTime }),
    reportDir: path.resolve(
      root,
      values['report-dir'] ?? (env.CONTRACT_REPORT_DIR || path.join('reports', 'contract')),
    ),
    ...(breakKind !== undefined && { breakKind }),
    docker: values.docker ?? false,
    serve: values.serve ?? false,
    extra: positionals,
  };
}

/** The command that reproduces this run, for the log and the README. */
function reproduction(options: Options): string {
  const parts = ['npx tsx contract-tests/run.ts', `--seed=${options.seed}`];
  if (options.spec) parts.push(`--spec=${path.relative(root, options.spec)}`);
  if (options.maxExamples !== undefined) parts.push(`--max-examples=${options.maxExamples}`);
  if (options.maxTime !== undefined) parts.push(`--max-time=${options.maxTime}`);
  if (options.breakKind) parts.push(`--break=${options.breakKind}`);
  if (options.docker) parts.push('--docker');
  if (options.extra.length > 0) parts.push('--', ...options.extra);
  return parts.join(' ');
}

/** Starts the emulator and the gateway as the contract run needs them. */
async function startContractStack(apiKey: string): Promise<Stack> {
  return startStack({
    emulator: {
      // Off: with them, an answer would depend on how fast earlier requests came, not on the request.
      rateLimit: { enabled: false, drainPerSecond: 2, burst: 50 },
      operatingLimit: { enabled: false, limitSeconds: 480, costPerCallSeconds: 0.01, windowSeconds: 600 },
    },
    config: {
      // A caller needs this key (`ignored_auth` checks that a 2xx needs it).
      apiKeys: new Map([[apiKey, 'contract']]),
      allowAnonymous: false,
      // The slow test value (CHAT_ID 5904) answers 504 UPSTREAM_TIMEOUT after 1 s instead of stalling the run.
      upstreamTimeoutMs: 1_000,
      // The test value 5031 (QUERY_LIMIT_EXCEEDED every time) is retried until this deadline, then 503.
      retry: { deadlineMs: 500, baseDelayMs: 50 },
      // The production default, which takes message.send's longest MESSAGE (the tests' stacks take less).
      bodyLimitBytes: loadConfig({}).bodyLimitBytes,
      logLevel: 'info',
    },
  });
}

async function waitHealthy(url: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const response = await fetch(`${url}/healthz`);
      if (response.status === 200) return;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) throw new Error(`${url}/healthz did not answer 200 within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Whether `docker` can run containers here: the client alone (no engine) cannot. */
function dockerEngine(): 'running' | 'stopped' | 'missing' {
  const info = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { stdio: 'ignore', timeout: 20_000 });
  if ((info.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return 'missing';
  return info.status === 0 ? 'running' : 'stopped';
}

/** The command line that runs Schemathesis: the venv's, or the official image's. */
function schemathesisCommand(options: Options, url: string, junit: string): { file: string; args: string[] } {
  const run = [
    '--config-file',
    paths.config,
    'run',
    ...(options.spec ? [options.spec, '--url', url] : [`${url}/openapi.json`]),
    '--checks',
    'all',
    '--seed',
    String(options.seed),
    '--report',
    'junit',
    '--report-junit-path',
    junit,
    ...(options.maxExamples !== undefined ? ['--max-examples', String(options.maxExamples)] : []),
    ...(options.maxTime !== undefined ? ['--max-time', String(options.maxTime)] : []),
    ...options.extra,
  ];
  if (!options.docker) return { file: paths.schemathesis, args: run };
  // The repository is mounted at its own path, so every path above means the same inside the container.
  // The user is the caller's, so the report belongs to them; the image's tracecov hook is turned off so
  // both ways run the same checks with the same output.
  const uid = process.getuid?.() ?? 1000;
  const gid = process.getgid?.() ?? 1000;
  return {
    file: 'docker',
    args: [
      'run',
      '--rm',
      '--network',
      'host',
      '--user',
      `${uid}:${gid}`,
      '-v',
      `${root}:${root}`,
      '-w',
      root,
      '-e',
      'CONTRACT_API_KEY',
      '-e',
      'PYTHONDONTWRITEBYTECODE',
      '-e',
      'SCHEMATHESIS_COVERAGE=false',
      `schemathesis/schemathesis:${schemathesisVersion()}`,
      ...run,
    ],
  };
}

export async function main(argv: string[]): Promise<number> {
  const options = parseOptions(argv);
  // Without an engine, `docker run` exits 125 after the stack is up; say why before starting anything.
  if (options.docker) {
    const engine = dockerEngine();
    if (engine !== 'running') {
      console.error(
        engine === 'missing'
          ? 'contract: the docker command is not installed; use make contract'
          : 'contract: no Docker engine is running; use make contract',
      );
      return 2;
    }
  }
  mkdirSync(options.reportDir, { recursive: true });
  const junit = path.join(options.reportDir, 'junit.xml');
  const apiKey = randomBytes(24).toString('base64url');

  let stack: Stack | undefined;
  let broken: BrokenGateway | undefined;
  let child: ChildProcess | undefined;
  let signalled: NodeJS.Signals | undefined;
  let stopServing: (() => void) | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopServing) return stopServing();
    signalled = signal;
    // Schemathesis stops and writes its report; the finally below stops the servers.
    if (child && child.exitCode === null) child.kill(signal);
    else void stop().then(() => process.exit(128 + (signal === 'SIGINT' ? 2 : 15)));
  };
  const stop = async () => {
    const closing = [broken?.close(), stack?.close()];
    broken = undefined;
    stack = undefined;
    await Promise.allSettled(closing);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    stack = await startContractStack(apiKey);
    await waitHealthy(stack.gateway.url);
    let url = stack.gateway.url;
    if (options.breakKind) {
      broken = await startBrokenGateway(url, options.breakKind, apiKey);
      await waitHealthy(broken.url);
      url = broken.url;
      console.log(`contract: BROKEN gateway (--break=${options.breakKind}): ${breakKinds[options.breakKind]}`);
    }
    console.log(`contract: emulator ${stack.emulator.url}, gateway ${url}`);
    if (options.serve) {
      console.log(`contract: serving until Ctrl-C; send -H "Authorization: Bearer ${apiKey}" (this stack's key)`);
      await new Promise<void>((resolve) => (stopServing = resolve));
      return 0;
    }
    console.log(`contract: seed=${options.seed}${options.randomSeed ? ' (random)' : ''}`);
    console.log(`contract: reproduce with: ${reproduction(options)}`);

    const { file, args } = schemathesisCommand(options, url, junit);
    console.log(`contract: running: ${[file, ...args].join(' ')}`);
    const fuzzer = startProcess(file, args, {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      // No __pycache__ next to hooks.py.
      env: { ...process.env, CONTRACT_API_KEY: apiKey, PYTHONDONTWRITEBYTECODE: '1' },
    });
    child = fuzzer.child;
    relayRunnerOutput(fuzzer.child);
    const exit = await fuzzer.exited;
    if (exit.error) throw exit.error;
    const code = exit.code ?? (exit.signal ? 128 + (exit.signal === 'SIGINT' ? 2 : 15) : 1);
    console.log(`contract: schemathesis exited ${code}; JUnit report: ${path.relative(root, junit)}`);
    if (code !== 0) {
      console.log(`contract: seed=${options.seed}; reproduce with: ${reproduction(options)}`);
    }
    return signalled ? 128 + (signalled === 'SIGINT' ? 2 : 15) : code;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      console.error(
        options.docker
          ? 'contract: the docker command is not installed'
          : `contract: ${paths.schemathesis} is missing; run \`make venv\` first`,
      );
    } else {
      console.error('contract: could not run:', error);
    }
    return 2;
  } finally {
    if (stack) writeFileSync(path.join(options.reportDir, 'gateway.log'), `${stack.rawLogs.join('\n')}\n`);
    await stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
