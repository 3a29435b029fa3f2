// Replicas sharing Redis (issue #13): one redis-server, one emulator with its bucket on (as the burst), and
// REPLICAS built gateways with `REDIS_URL` and `GATEWAY_REPLICAS`, the burst's rate and burst settings; the
// burst's N valid transfers are sent at once, round-robin over the replicas. The portal must reject none of
// their calls (the bucket in Redis is the portal's, whichever replica takes a slot), and the drain time is
// compared with the theoretical minimum, as for one gateway.
import { log } from '../format';
import { CPU, stop } from '../processes';
import { settings, TRANSFER } from '../settings';
import {
  emulatorStats,
  resetEmulator,
  type Server,
  startEmulator,
  startGateway,
  startRedis,
  waitShared,
} from '../targets';
import { afterStartProbes, arrivalSpreadS, burstEnv, fireAll, theoreticalDrainS } from './burst';

export interface ReplicasResult {
  replicas: number;
  n: number;
  rate: number;
  size: number;
  theoreticalS: number;
  seconds: number;
  /** From the first transfer's arrival at a replica to the last one's (their access logs). */
  arrivalSpreadS: number;
  /** Count by answer: "200", or the status and error code. */
  statuses: Record<string, number>;
  /** The same, for each replica in turn. */
  byReplica: Record<string, number>[];
  upstreamRejected: number;
  upstreamCalls: number;
  maxBucketLevel: number;
}

export async function replicas(): Promise<ReplicasResult> {
  const { n, rate, size } = settings.burst;
  const count = settings.replicas;
  const theoreticalS = theoreticalDrainS();
  // Redis and the emulator on the load CPU, as upstreams; the replicas on the target CPU.
  const redis = await startRedis(CPU.load);
  const emulator = await startEmulator(CPU.load, `${rate},${size}`);
  const gateways: Server[] = [];
  try {
    const env = { ...burstEnv(), REDIS_URL: redis.url, GATEWAY_REPLICAS: String(count) };
    gateways.push(
      ...(await Promise.all(
        Array.from({ length: count }, (_, i) =>
          startGateway(emulator, { build: 'built', mode: 'oauth', name: `gateway-replica-${i + 1}`, env }),
        ),
      )),
    );
    // Each replica starts degraded (its share alone) until it has reached Redis: the run is of the shared bucket.
    await Promise.all(gateways.map(waitShared));
    await afterStartProbes(count);
    await resetEmulator(emulator);
    const through = await fireAll(
      gateways.map((g) => `${g.url}${TRANSFER}`),
      n,
    );
    const stats = await emulatorStats(emulator);
    const spread = arrivalSpreadS(gateways.map((g) => g.proc));
    log(
      `  ${count} replicas, ${n} at once round-robin: drained in ${through.seconds.toFixed(2)} s (theoretical minimum ${theoreticalS.toFixed(2)} s; arrivals spread over ${spread.toFixed(2)} s), ` +
        `upstream rejections ${stats.rejectedByRateLimit}, answers ${JSON.stringify(through.statuses)}`,
    );
    return {
      replicas: count,
      n,
      rate,
      size,
      theoreticalS,
      seconds: through.seconds,
      arrivalSpreadS: spread,
      statuses: through.statuses,
      byReplica: through.byUrl,
      upstreamRejected: stats.rejectedByRateLimit,
      upstreamCalls: stats.calls,
      maxBucketLevel: stats.maxBucketLevel,
    };
  } finally {
    await Promise.all(gateways.map((g) => stop(g.proc)));
    await stop(emulator.proc);
    await stop(redis.proc);
  }
}
