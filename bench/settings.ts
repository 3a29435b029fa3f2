// The benchmark's knobs (environment variables, listed in bench/results.md) and the fixed inputs every
// scenario shares: the repository root, the transfer path, the gateway API key and the request bodies.
import { resolve } from 'node:path';
import type { TargetName } from './scenarios/throughput';

function num(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name}: "${value}" is not a positive number`);
  return n;
}

/** The repository root: `make bench` runs from it. */
export const root = process.cwd();

export const settings = {
  /** Seconds measured per run, after a warm-up. */
  duration: num('BENCH_DURATION', 10),
  warmup: num('BENCH_WARMUP', 3),
  connections: num('BENCH_CONNECTIONS', 32),
  /** The unloaded run (1 connection): latency without queueing. */
  unloadedDuration: num('BENCH_UNLOADED_DURATION', 5),
  /** The burst: N transfers at once through a bucket of `rate` a second and `size` burst (Bitrix24: 2/s, 50). */
  burst: { n: num('BENCH_BURST_N', 100), rate: num('BENCH_BURST_RATE', 5), size: num('BENCH_BURST_SIZE', 50) },
  /** Gateways sharing one Redis for the burst over replicas (issue #13). */
  replicas: num('BENCH_REPLICAS', 3),
  /** Unloaded transfers of each kind, one at a time, for the Redis and Idempotency-Key costs, after a warm-up of each. */
  sequential: num('BENCH_SEQUENTIAL', 500),
  sequentialWarmup: num('BENCH_SEQUENTIAL_WARMUP', 100),
  /** Rounds of the portal-scoped transfer against the webhook one, each a run of each, alternately (issue 34). */
  applicationRounds: num('BENCH_APPLICATION_ROUNDS', 3),
  /** Portals whose access tokens expire at once in the refresh storm (issue 34), over `replicas` gateways. */
  stormPortals: num('BENCH_STORM_PORTALS', 200),
  /** Measured starts of each gateway build (the median is reported), after one unmeasured start each. */
  starts: num('BENCH_STARTS', 7),
  /** Where the results go: an absolute path, or one relative to the repository root. */
  output: resolve(root, process.env.BENCH_OUTPUT || 'bench/results.md'),
  profile: process.argv.includes('--profile'),
  /** `--throughput`: only the gateway and the two floors under load, printed, nothing written (a quick check while working on the request path). */
  throughputOnly: process.argv.includes('--throughput'),
  throughputTargets: (process.env.BENCH_TARGETS || 'gateway,forward,floor').split(',') as TargetName[],
  /** `BENCH_ONLY=application,storm`: these scenarios only, printed (no results.md); see bench/run.ts. */
  only: (process.env.BENCH_ONLY ?? '').split(',').filter(Boolean),
};

export const TRANSFER = '/rest/imopenlines.bot.session.transfer';
export const KEY = 'bench-key-0123456789abcdef';

/**
 * The same bodies to every target of the throughput runs. The gateway runs in OAuth mode against the
 * emulator there, so the body carries `auth` and the path is the spec's own: what Prism and the forwarding
 * floor forward, the emulator answers as is.
 */
export const bodies = {
  valid: JSON.stringify({ CHAT_ID: 112, USER_ID: 12, LEAVE: 'N', auth: 'benchtoken' }),
  rejected: JSON.stringify({ CHAT_ID: '12abc', USER_ID: 12, LEAVE: 'N', auth: 'benchtoken' }),
};
export type BodyKind = keyof typeof bodies;

/** A valid transfer in webhook mode (the startup scenario): the gateway adds its webhook and CLIENT_ID. */
export const webhookBody = JSON.stringify({ CHAT_ID: 112, USER_ID: 12, LEAVE: 'N' });
