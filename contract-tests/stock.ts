// The stock run: what a user's CI does with no setup at all. Schemathesis with its defaults, no config file,
// no hooks, pointed at the spec a running gateway serves, in each of five configurations started as users
// start them (real processes, each configured by its environment only):
//
//   make-start     `make start`: the embedded emulator, no keys (anonymous callers)
//   emulator-key   `make start` with GATEWAY_API_KEYS: an API key required (sent with -H)
//   webhook        webhook mode, the standalone emulator as the portal, an API key required
//   oauth          OAuth mode, the standalone emulator as the portal, anonymous callers
//   application    application mode, the built gateway (`node dist/main.js`: `make build` first) as the
//                  application of the emulated cloud (startCloud: its authorization server and 2 portals,
//                  both installed before the run), an API key of a team allowed every portal
//
// Every run must exit 0. README "Fuzz the gateway in your CI" and examples/github-actions/fuzz.yml give the
// same commands (a test holds them to `stockCommand` below). The two `make start` runs go as the recipe
// does: the gateway started on a fixed port in the background and Schemathesis at once, which waits for the
// served spec itself (`--wait-for-schema`), so a recipe that raced the gateway's start would fail here.
//
//   npx tsx contract-tests/stock.ts [name ...]      (default: all five)
//   STOCK_SCHEMATHESIS=/path/to/schemathesis        another Schemathesis (the newest 4.x, say)
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { type ApplicationCloud, installEveryPortal, startApplicationCloud } from '../src/test-support/application';
import { closedPort } from '../src/test-support/ports';
import {
  exitOnSignals,
  relayRunnerOutput,
  type StartedProcess,
  startProcess,
  tsx,
} from '../src/test-support/processes';
import { paths, root } from './run';

/** Fixed, so that a run is the same every time; the examples count is Schemathesis's per operation. */
export const STOCK_SEED = 20261201;
export const STOCK_MAX_EXAMPLES = 60;
/** The limits a recipe sets when its portal is the standalone emulator (the embedded one has these already). */
export const FUZZ_RATE = { perSecond: '1000', burst: '1000' } as const;
/** How long Schemathesis waits for the spec (a first `make start` installs the dependencies, then starts). */
export const WAIT_FOR_SCHEMA_SECONDS = 300;

/** The stock command, exactly: `schemathesis` and these arguments. */
export function stockCommand(gatewayUrl: string, apiKey?: string): string[] {
  return [
    'run',
    `${gatewayUrl}/openapi.json`,
    '--checks',
    'all',
    '--mode',
    'all',
    '--seed',
    String(STOCK_SEED),
    '--max-examples',
    String(STOCK_MAX_EXAMPLES),
    '--wait-for-schema',
    String(WAIT_FOR_SCHEMA_SECONDS),
    ...(apiKey ? ['-H', `Authorization: Bearer ${apiKey}`] : []),
  ];
}

interface Configuration {
  /** The standalone emulator's environment, when the portal is one. */
  emulator?: Record<string, string>;
  /**
   * The emulated cloud's portals (in this process), when the gateway is their application: the gateway's
   * environment is the application's, with the run's key for a team allowed every portal, and the portals
   * are installed on it (ONAPPINSTALL to its handler, as Bitrix24 sends it) before Schemathesis starts.
   */
  cloud?: { portals: number };
  /** The gateway's environment, given the standalone emulator's URL (if any) and the run's API key. */
  gateway: (emulatorUrl: string, apiKey: string) => Record<string, string>;
  /** Start the gateway with `make start` rather than `node --import tsx src/main.ts`. */
  makeStart?: boolean;
  /** Start the built gateway, `node dist/main.js`, as production runs it. */
  built?: boolean;
  keyed: boolean;
}

const emulatorEnv = {
  EMULATOR_PORT: '0',
  EMULATOR_RATE_LIMIT_PER_SECOND: FUZZ_RATE.perSecond,
  EMULATOR_RATE_LIMIT_BURST: FUZZ_RATE.burst,
};
const fuzzRate = { RATE_LIMIT_PER_SECOND: FUZZ_RATE.perSecond, RATE_LIMIT_BURST: FUZZ_RATE.burst };

export const configurations: Record<string, Configuration> = {
  'make-start': { makeStart: true, keyed: false, gateway: () => ({}) },
  'emulator-key': { makeStart: true, keyed: true, gateway: (_url, key) => ({ GATEWAY_API_KEYS: `ci:${key}` }) },
  webhook: {
    keyed: true,
    emulator: emulatorEnv,
    gateway: (url, key) => ({
      BITRIX24_WEBHOOK_URL: `${url}/rest/1/emulatorsecret/`,
      BITRIX24_CLIENT_ID: 'ci.bot',
      GATEWAY_API_KEYS: `ci:${key}`,
      ...fuzzRate,
    }),
  },
  oauth: { keyed: false, emulator: emulatorEnv, gateway: (url) => ({ BITRIX24_PORTAL_URL: url, ...fuzzRate }) },
  application: { keyed: true, built: true, cloud: { portals: 2 }, gateway: () => fuzzRate },
};

/** The built gateway, which `make build` writes. */
const builtGateway = path.join(root, 'dist', 'main.js');

/** Starts a server process and resolves with the first JSON line of its stdout that `accept`s. */
function startServer(
  name: string,
  [file, args]: [string, string[]],
  env: Record<string, string>,
  accept: (line: Record<string, unknown>) => boolean,
) {
  const started = startProcess(file, args, {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const { child } = started;
  let output = '';
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const ready = new Promise<Record<string, unknown>>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      output += `${line}\n`;
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        if (accept(parsed)) resolve(parsed);
      } catch {
        // Not a JSON line (make echoes its command).
      }
    });
    child.once('exit', (code) => reject(new Error(`${name} exited ${code} before it was ready:\n${output}`)));
    // A first `make start` under load compiles for a while.
    setTimeout(() => reject(new Error(`${name} was not ready within 120 s:\n${output}`)), 120_000).unref();
  });
  return { started, ready, output: () => output };
}

/** One configuration's stock run; resolves with Schemathesis's exit code. */
export async function stockRun(
  name: string,
  schemathesis = process.env.STOCK_SCHEMATHESIS || paths.schemathesis,
): Promise<number> {
  const configuration = configurations[name];
  if (!configuration)
    throw new Error(`No stock configuration ${name}; there are ${Object.keys(configurations).join(', ')}`);
  const apiKey = randomBytes(18).toString('base64url');
  const started: StartedProcess[] = [];
  let cloud: ApplicationCloud | undefined;
  // No schemathesis.toml here or above, and no Hypothesis database of earlier runs.
  const cwd = mkdtempSync(path.join(tmpdir(), `stock-${name}-`));
  try {
    let emulatorUrl = '';
    if (configuration.emulator) {
      const emulator = startServer(
        `${name}: emulator`,
        tsx('src/emulator/main.ts'),
        configuration.emulator,
        (line) => typeof line.url === 'string',
      );
      started.push(emulator.started);
      emulatorUrl = String((await emulator.ready).url);
    }
    if (configuration.cloud) cloud = await startApplicationCloud(configuration.cloud.portals);
    // `make start` as the recipe runs it: on a port of its own, not waited for (Schemathesis waits).
    const port = configuration.makeStart ? String(await closedPort()) : '0';
    const env = {
      PORT: port,
      GATEWAY_DATA_DIR: path.join(cwd, 'data'),
      ...cloud?.environment('ci', apiKey),
      ...configuration.gateway(emulatorUrl, apiKey),
    };
    if (configuration.built && !existsSync(builtGateway))
      throw new Error(`stock ${name} runs the built gateway, and ${builtGateway} is missing: make build first`);
    const command: [string, string[]] = configuration.makeStart
      ? ['make', ['--no-print-directory', 'start']]
      : configuration.built
        ? [process.execPath, [builtGateway]]
        : tsx('src/main.ts');
    const gateway = startServer(`${name}: gateway`, command, env, (line) =>
      String(line.msg).startsWith('Gateway listening'),
    );
    started.push(gateway.started);
    const url = configuration.makeStart ? `http://127.0.0.1:${port}` : String((await gateway.ready).url);
    // Its readiness only matters when it fails: it exits, or never listens.
    const failed = gateway.ready.then(
      () => new Promise<never>(() => undefined),
      (error: unknown) => Promise.reject(error),
    );
    if (cloud) await installEveryPortal(cloud.cloud, url);
    const run = stockCommand(url, configuration.keyed ? apiKey : undefined);
    console.log(
      `stock ${name}: schemathesis ${run.map((arg) => (arg.includes(' ') ? `'${arg.replace(apiKey, '<key>')}'` : arg)).join(' ')}`,
    );
    const fuzzer = startProcess(schemathesis, run, {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    relayRunnerOutput(fuzzer.child);
    started.push(fuzzer);
    const exit = fuzzer.exited.then(({ code, error }) => {
      if (error) throw error;
      return code ?? 1;
    });
    return await Promise.race([failed, exit]);
  } finally {
    // Each with its whole process group (make starts node).
    await Promise.all(started.reverse().map((each) => each.stop()));
    await cloud?.cloud.close();
    rmSync(cwd, { recursive: true, force: true });
  }
}

async function main(names: string[]): Promise<number> {
  const results: [string, number][] = [];
  for (const name of names.length > 0 ? names : Object.keys(configurations)) results.push([name, await stockRun(name)]);
  for (const [name, code] of results)
    console.log(`stock ${name}: ${code === 0 ? 'passed' : `FAILED (schemathesis exited ${code})`}`);
  return results.every(([, code]) => code === 0) ? 0 : 1;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  exitOnSignals();
  process.exitCode = await main(process.argv.slice(2));
}
