// The refresh storm (issue 34): the access tokens of every portal expire at once, under load, across replicas
// sharing Redis (the fleet-wide refresh: one refresh a portal, whichever replica meets the expiry first, the
// others waiting for its pair). BENCH_REPLICAS built gateways in application mode share one redis-server (with its
// append-only file, as application mode needs); the emulated cloud (bench/cloud.ts) runs BENCH_STORM_PORTALS
// portals, installed through the first replica. wrk (bench/portals.lua) spreads the transfers over the
// portals and over the replicas (one thread a replica). A run with no expiry, the same run with every
// portal's tokens expired 1 s in, and one with no expiry again (the two bracket the storm's, so that the
// machine's drift and the replicas' warming up fall on both sides): the p99 latency the storm adds against
// their mean, and from the authorization server's own counts, how many refreshes it took and how often each
// refresh token was presented (at most once).
import {
  type CloudStats,
  cloudPortals,
  cloudStats,
  expireAll,
  installAll,
  type Presentations,
  presentations,
  startApplicationGateway,
  startCloudProcess,
  waitReady,
} from '../cloud-targets';
import { fmtMs, fmtRps, log } from '../format';
import { type Load, probe, wrk } from '../load';
import { CPU, sleep, stop } from '../processes';
import { settings, TRANSFER, webhookBody } from '../settings';
import { type Server, startRedis } from '../targets';

/** When, into the storm's run, every token expires. */
export const STORM_AT_MS = 1_000;
/** How often the authorization server's count is read while the storm's refreshes come in. */
const POLL_MS = 20;
/** How long the calls left in flight by the last run are given to finish. */
const SETTLE_MS = 1_000;

export interface StormRun {
  load: Load;
  /** Answers other than 200, socket errors and timeouts. */
  errors: number;
  /** The authorization server's counts during the run, and the transfers the portals received. */
  counts: CloudStats;
  /** CPU time during the run, % of one CPU: the replicas together, the cloud, Redis. */
  cpu: { replicas: number; cloud: number; redis: number };
}

export interface StormResult {
  portals: number;
  /** The portals share one listener (the cloud's virtual portals), or have one each. */
  shared: boolean;
  replicas: number;
  /** wrk's connections over all replicas (a multiple of the replicas). */
  connections: number;
  /** The runs with no expiry, before and after the storm's. */
  before: StormRun;
  storm: StormRun;
  after: StormRun;
  /** Portals whose tokens expired. */
  expired: number;
  /** From the expiry to the authorization server's count of refreshes reaching `expired`, ms (polled). */
  allRefreshedMs: number | undefined;
  /**
   * Over the whole scenario (installs, warm-up, the three runs): how often each refresh token was presented;
   * `expired`: the same of the refresh tokens held when every access token expired (one a portal).
   */
  presentations: Presentations & { expired: Presentations };
}

export async function refreshStorm(): Promise<StormResult> {
  const count = settings.replicas;
  // Redis and the cloud on the load CPU, as upstreams (with wrk); the replicas on the target CPU.
  const redis = await startRedis(CPU.load, { aof: true });
  const cloud = await startCloudProcess(CPU.load, settings.stormPortals, true).catch(async (error) => {
    await stop(redis.proc);
    throw error;
  });
  const gateways: Server[] = [];
  try {
    // Shaping off, as the throughput runs: the portals' limits are off, and the load is the same in both runs.
    const env = { REDIS_URL: redis.url, GATEWAY_REPLICAS: String(count), RATE_LIMIT_SHAPING: 'off' };
    gateways.push(
      ...(await Promise.all(
        Array.from({ length: count }, (_, i) =>
          startApplicationGateway(cloud, { name: `gateway-storm-${i + 1}`, env }),
        ),
      )),
    );
    await Promise.all(gateways.map(waitReady));
    await installAll(cloud, gateways[0]!);
    const memberIds = await cloudPortals(cloud);
    for (const [i, gateway] of gateways.entries()) {
      const answer = await probe(`${gateway.url}/portals/${memberIds[i % memberIds.length]}${TRANSFER}`, webhookBody);
      if (answer.status !== 200) throw new Error(`storm replica ${i + 1}: answered ${answer.status} ${answer.code}`);
    }
    const connections = Math.max(count, Math.floor(settings.connections / count) * count);
    const script = {
      script: 'bench/portals.lua',
      threads: count,
      env: {
        BENCH_PORTALS: memberIds.join(','),
        BENCH_PORTS: gateways.map((g) => new URL(g.url).port).join(','),
        BENCH_METHOD: TRANSFER.slice('/rest/'.length),
      },
    };
    const ours = [...gateways.map((g) => g.proc.pid), cloud.proc.pid, redis.proc.pid];
    const load = (seconds: number) => wrk(`${gateways[0]!.url}/`, webhookBody, connections, seconds, ours, script);
    const measured = async (during?: () => Promise<void>): Promise<StormRun> => {
      const before = await cloudStats(cloud);
      const run = load(settings.duration);
      await during?.();
      const result = await run;
      const after = await cloudStats(cloud);
      const cpu = result.oursCpu;
      return {
        load: result,
        cpu: { replicas: sum(cpu.slice(0, count)), cloud: cpu[count] ?? NaN, redis: cpu[count + 1] ?? NaN },
        errors: result.non2xx + result.connect_errors + result.read_errors + result.write_errors + result.timeouts,
        counts: {
          tokenRequests: after.tokenRequests - before.tokenRequests,
          refreshes: after.refreshes - before.refreshes,
          invalidGrant: after.invalidGrant - before.invalidGrant,
          invalidClient: after.invalidClient - before.invalidClient,
          calls: after.calls - before.calls,
        },
      };
    };

    // Each replica takes a share of the load: warmed as long as one gateway of the throughput runs is, each.
    await load(settings.warmup * count);
    const before = await measured();
    report('no expiry', before);
    let expired = 0;
    let allRefreshedMs: number | undefined;
    const storm = await measured(async () => {
      await sleep(STORM_AT_MS);
      const refreshed = (await cloudStats(cloud)).refreshes;
      const t0 = performance.now();
      expired = (await expireAll(cloud)).expired;
      const deadline = t0 + settings.duration * 1_000 - STORM_AT_MS;
      while (performance.now() < deadline) {
        if ((await cloudStats(cloud)).refreshes - refreshed >= expired) {
          allRefreshedMs = performance.now() - t0;
          break;
        }
        await sleep(POLL_MS);
      }
    });
    report(`${expired} expired`, storm);
    const after = await measured();
    report('no expiry', after);
    // A call still in flight when wrk stopped may be refreshing: its presentation is counted once it is done.
    await sleep(SETTLE_MS);
    const presented = await presentations(cloud);
    const result: StormResult = {
      portals: memberIds.length,
      shared: cloud.shared,
      replicas: count,
      connections,
      before,
      storm,
      after,
      expired,
      allRefreshedMs,
      presentations: presented,
    };
    log(
      `  ${presented.expired.tokens} of the ${expired} refresh tokens held at the expiry presented, ${presented.expired.presentations} times in all${allRefreshedMs === undefined ? '' : ` (the storm's ${expired} refreshes all done within ${allRefreshedMs.toFixed(0)} ms)`}; over the scenario ${presented.tokens} refresh tokens presented, ${presented.more} more than once (most: ${presented.max}); p99 added ${fmtMs(result.storm.load.p99_us - baselineUs(result, 'p99_us'))} ms`,
    );
    return result;
  } finally {
    await Promise.all(gateways.map((g) => stop(g.proc)));
    await stop(cloud.proc);
    await stop(redis.proc);
  }
}

function report(what: string, run: StormRun): void {
  const { load, counts } = run;
  log(
    `  ${what.padEnd(12)} ${fmtRps(load.rps).padStart(7)} req/s  p50 ${fmtMs(load.p50_us)} ms  p99 ${fmtMs(load.p99_us)} ms  max ${fmtMs(load.max_us)} ms  errors ${run.errors}  refreshes ${counts.refreshes}  CPU: replicas ${run.cpu.replicas.toFixed(0)} %, cloud ${run.cpu.cloud.toFixed(0)} %, Redis ${run.cpu.redis.toFixed(0)} %, other ${load.otherCpu.toFixed(0)} %`,
  );
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

/** A latency of the runs with no expiry: the mean of the one before the storm's and the one after, µs. */
export const baselineUs = (r: Pick<StormResult, 'before' | 'after'>, field: 'p50_us' | 'p99_us' | 'max_us') =>
  (r.before.load[field] + r.after.load[field]) / 2;

/** Refreshes after the expiry: in the storm's run, and in the run after it (a portal first called again then). */
export const stormRefreshes = (r: Pick<StormResult, 'storm' | 'after'>) =>
  r.storm.counts.refreshes + r.after.counts.refreshes;

/**
 * Presentations per refresh token held at the expiry, of those presented (the authorization server's count): 1
 * when the fleet refreshed each portal once; more, a refresh token spent twice.
 */
export const refreshesPerToken = (r: StormResult) => {
  const { tokens, presentations: all } = r.presentations.expired;
  return tokens > 0 ? all / tokens : NaN;
};
