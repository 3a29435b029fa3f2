// The portal-scoped transfer (issue 34): the built gateway in application mode, `POST /portals/<member_id>
// /rest/imopenlines.bot.session.transfer` with the portal's token added by the gateway, against the same
// transfer in webhook mode, under the throughput runs' load (wrk, the same connections and durations, shaping
// off, the upstream's limits off). Both gateways run side by side on the target CPU (each idle while the other
// is loaded), their upstreams on the load CPU: the emulator for webhook mode, the emulated cloud (one portal
// on a listener of its own, bench/cloud.ts) for application mode. The runs alternate, in an order reversed
// every round, so that the machine's drift falls on both alike; the medians of CPU time per request compare.
import { cloudPortals, cloudStats, installAll, startApplicationGateway, startCloudProcess } from '../cloud-targets';
import { fmtMs, fmtRps, fmtUs, log } from '../format';
import { type Answer, cpuPerRequestUs, type Load, probe, readVm, wrk } from '../load';
import { CPU, stop } from '../processes';
import { settings, TRANSFER, webhookBody } from '../settings';
import { emulatorStats, type Server, startEmulator, startGateway } from '../targets';
import { median } from './startup';

export type Mode = 'webhook' | 'application';
export const modes: Mode[] = ['webhook', 'application'];

export interface ModeResult {
  /** The path loaded (the portal-scoped one names the portal's member_id). */
  path: string;
  probe: Answer;
  /** One run per round, in round order. */
  runs: Load[];
  /** The gateway's CPU time per request in each run, µs. */
  perRequestUs: number[];
  /** Answers other than 200, socket errors and timeouts, over every run. */
  errors: number;
  /** Calls its upstream received over the runs (the emulator's count; the cloud portal's transfers). */
  upstreamCalls: number;
  /** VmRSS and VmHWM after the runs, kB. */
  memory: { rssKb: number; hwmKb: number };
}

export interface ApplicationResult {
  rounds: number;
  webhook: ModeResult;
  application: ModeResult;
}

const shapingOff = { RATE_LIMIT_SHAPING: 'off' };

export async function application(): Promise<ApplicationResult> {
  const emulator = await startEmulator(CPU.load);
  const cloud = await startCloudProcess(CPU.load, 1, false).catch(async (error) => {
    await stop(emulator.proc);
    throw error;
  });
  const gateways: Server[] = [];
  try {
    const webhook = await startGateway(emulator, {
      build: 'built',
      mode: 'webhook',
      name: 'gateway-webhook',
      env: shapingOff,
    });
    gateways.push(webhook);
    const app = await startApplicationGateway(cloud, { name: 'gateway-application', env: shapingOff });
    gateways.push(app);
    await installAll(cloud, app);
    const [memberId] = await cloudPortals(cloud);
    const targets: Record<Mode, { server: Server; upstream: number; path: string; calls: () => Promise<number> }> = {
      webhook: {
        server: webhook,
        upstream: emulator.proc.pid,
        path: TRANSFER,
        calls: async () => (await emulatorStats(emulator)).calls,
      },
      application: {
        server: app,
        upstream: cloud.proc.pid,
        path: `/portals/${memberId}${TRANSFER}`,
        calls: async () => (await cloudStats(cloud)).calls,
      },
    };
    const results = {} as Record<Mode, ModeResult>;
    for (const mode of modes) {
      const { server, upstream, path } = targets[mode];
      const url = `${server.url}${path}`;
      const answer = await probe(url, webhookBody);
      if (answer.status !== 200)
        throw new Error(`${mode} mode: the transfer was answered ${answer.status} ${answer.code}`);
      await wrk(url, webhookBody, settings.connections, settings.warmup, [server.proc.pid, upstream]);
      results[mode] = {
        path,
        probe: answer,
        runs: [],
        perRequestUs: [],
        errors: 0,
        upstreamCalls: 0,
        memory: readVm(server.proc.pid),
      };
    }
    for (let round = 0; round < settings.applicationRounds; round++) {
      for (const mode of round % 2 ? [...modes].reverse() : modes) {
        const { server, upstream, path, calls } = targets[mode];
        const before = await calls();
        const load = await wrk(`${server.url}${path}`, webhookBody, settings.connections, settings.duration, [
          server.proc.pid,
          upstream,
        ]);
        const result = results[mode];
        result.upstreamCalls += (await calls()) - before;
        result.runs.push(load);
        result.perRequestUs.push(cpuPerRequestUs(load));
        result.errors += load.non2xx + load.connect_errors + load.read_errors + load.write_errors + load.timeouts;
        log(
          `  round ${round + 1} ${mode.padEnd(11)} ${fmtRps(load.rps).padStart(7)} req/s  p50 ${fmtMs(load.p50_us)} ms  p99 ${fmtMs(load.p99_us)} ms  CPU ${load.targetCpu.toFixed(0)} % (${fmtUs(load)} µs/req)  upstream CPU ${(load.oursCpu[1] ?? NaN).toFixed(0)} %  other CPU ${load.otherCpu.toFixed(0)} %`,
        );
      }
    }
    for (const mode of modes) results[mode].memory = readVm(targets[mode].server.proc.pid);
    const result = { rounds: settings.applicationRounds, ...results };
    log(
      `  CPU per request, median of ${result.rounds}: application ${median(results.application.perRequestUs).toFixed(0)} µs, webhook ${median(results.webhook.perRequestUs).toFixed(0)} µs: ${cpuRatio(result).toFixed(2)}×`,
    );
    return result;
  } finally {
    await Promise.all(gateways.map((g) => stop(g.proc)));
    await stop(cloud.proc);
    await stop(emulator.proc);
  }
}

/** The portal-scoped transfer's CPU per request against the webhook one's (medians over the rounds). */
export const cpuRatio = (r: ApplicationResult) => median(r.application.perRequestUs) / median(r.webhook.perRequestUs);
