// Issue 34's parts of bench/results.md: the portal-scoped transfer against the webhook one (bench/scenarios
// /application.ts), and the refresh storm over replicas sharing Redis (bench/scenarios/refresh-storm.ts).
import { fmtMb, fmtMs, fmtRps, table } from './format';
import { CPU } from './processes';
import { type ApplicationResult, cpuRatio, type Mode, modes } from './scenarios/application';
import {
  baselineUs,
  refreshesPerToken,
  STORM_AT_MS,
  type StormResult,
  type StormRun,
  stormRefreshes,
} from './scenarios/refresh-storm';
import { median } from './scenarios/startup';
import { settings, webhookBody } from './settings';

const modeLabel: Record<Mode, string> = {
  webhook: 'webhook mode (`BITRIX24_WEBHOOK_URL`)',
  application: 'application mode, portal-scoped (`/portals/<member_id>/rest/…`)',
};

export function applicationLines(r: ApplicationResult): string[] {
  const row = (mode: Mode) => {
    const m = r[mode];
    const of = (f: (i: number) => number) => median(m.runs.map((_, i) => f(i)));
    return [
      modeLabel[mode],
      `\`${m.path.replace(/[0-9a-f]{32}/, '<member_id>')}\``,
      `${m.probe.status} ${m.probe.code}`,
      fmtRps(of((i) => m.runs[i]!.rps)),
      fmtMs(of((i) => m.runs[i]!.p50_us)),
      fmtMs(of((i) => m.runs[i]!.p99_us)),
      String(m.errors),
      String(m.upstreamCalls),
      `${of((i) => m.runs[i]!.targetCpu).toFixed(0)} %`,
      `${of((i) => m.runs[i]!.oursCpu[1] ?? NaN).toFixed(0)} %`,
      m.perRequestUs.map((us) => us.toFixed(0)).join(', '),
      median(m.perRequestUs).toFixed(0),
      `${fmtMb(m.memory.rssKb)} / ${fmtMb(m.memory.hwmKb)}`,
      `${Math.max(...m.runs.map((run) => run.otherCpu)).toFixed(0)} %`,
    ];
  };
  return [
    `Two built gateways side by side on CPU ${CPU.target}, each idle while the other is loaded: one in webhook mode against the emulator (as the startup scenario's), the other in application mode, the application of the emulated cloud (\`bench/cloud.ts\`: its authorization server and one portal on a listener of its own, its limits off), installed through the gateway's \`/bitrix24/events\` as Bitrix24 installs it (the portal kept in the data folder, no Redis). Each gateway's upstream is its own process on CPU ${CPU.load}, with wrk. Both with \`RATE_LIMIT_SHAPING=off\`, as every throughput run. The same body (\`${webhookBody}\`: the gateway adds the webhook's \`CLIENT_ID\`, or the portal's access token and its bot), the same load as the throughput runs (\`wrk -t1 -c${settings.connections}\`, ${settings.warmup} s warm-up each, then ${r.rounds} rounds of ${settings.duration} s each, the two alternately, in an order reversed every round). Figures are medians over the rounds; "CPU µs/req" lists each round's. Goal (issue 34): application mode's CPU per request within 1.1× webhook mode's: **${cpuRatio(r).toFixed(2)}×**.`,
    '',
    table(
      [
        'gateway',
        'path',
        'answer',
        'req/s',
        'p50 ms',
        'p99 ms',
        'errors',
        'upstream calls',
        'gateway CPU',
        'upstream CPU',
        'CPU µs/req, each round',
        'median',
        'VmRSS / VmHWM after',
        'other CPU (most)',
      ],
      modes.map(row),
      ['l', 'l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
  ];
}

export function stormLines(s: StormResult): string[] {
  const listeners = s.shared
    ? "on one listener they share (the cloud's virtual portals: each call goes to the portal its token names)"
    : `each on a listener of its own (this cloud has no shared listener: ${s.portals} portals, its most)`;
  const row = (what: string, run: StormRun) => [
    what,
    fmtRps(run.load.rps),
    fmtMs(run.load.p50_us),
    fmtMs(run.load.p99_us),
    fmtMs(run.load.max_us),
    String(run.errors),
    String(run.counts.calls),
    String(run.counts.tokenRequests),
    String(run.counts.refreshes),
    String(run.counts.invalidGrant),
    `${run.cpu.replicas.toFixed(0)} % / ${run.cpu.cloud.toFixed(0)} % / ${run.cpu.redis.toFixed(0)} %`,
    `${run.load.otherCpu.toFixed(0)} %`,
  ];
  const { presentations: p } = s;
  const e = p.expired;
  const added = (field: 'p50_us' | 'p99_us' | 'max_us') => fmtMs(s.storm.load[field] - baselineUs(s, field));
  return [
    `${s.replicas} built gateways in application mode sharing one \`redis-server\` (append-only file on, \`appendfsync everysec\`; \`REDIS_URL\`, \`GATEWAY_REPLICAS=${s.replicas}\`, \`RATE_LIMIT_SHAPING=off\`), all on CPU ${CPU.target}; the emulated cloud (\`bench/cloud.ts\`, its limits off) with ${s.portals} portals ${listeners}, and Redis, on CPU ${CPU.load} with wrk. Every portal is installed through the first replica; access tokens live an hour, so nothing expires unless the storm expires it. Load: \`wrk -t${s.replicas} -c${s.connections}\` with \`bench/portals.lua\`, thread i connected to replica i, each request the transfer to the next portal in turn (\`POST /portals/<member_id>/rest/imopenlines.bot.session.transfer\`); ${settings.warmup * s.replicas} s warm-up (${settings.warmup} s for each replica's share), then a ${settings.duration} s run with no expiry, the same run with every portal's access tokens expired at once ${STORM_AT_MS / 1000} s in, and a run with no expiry again (the two bracket the storm's: the machine's drift and the replicas' warming up fall on both sides) (the cloud's \`expireAccessTokens\`, all portals in one turn of its event loop): each replica's next call to a portal is answered \`expired_token\`, and the fleet must refresh each portal once (a lease in Redis; the other replicas wait for its pair), retrying the call with the new token. The counts are the authorization server's own: token requests, refreshes (new pairs minted), \`invalid_grant\`, and how many times each refresh token it issued was presented.`,
    '',
    table(
      [
        'run',
        'req/s',
        'p50 ms',
        'p99 ms',
        'max ms',
        'errors',
        'transfers at the portals',
        'token requests',
        'refreshes',
        'invalid_grant',
        'CPU: replicas / cloud / Redis',
        'other CPU',
      ],
      [
        row('no expiry, before', s.before),
        row(`${s.expired} portals' tokens expired at once`, s.storm),
        row('no expiry, after', s.after),
      ],
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    `- **Refreshes per token**: ${refreshesPerToken(s).toFixed(2)}: of the ${s.expired} refresh tokens held when every access token expired (one a portal), ${e.tokens} were presented since, ${e.presentations} times in all (${e.once} once, ${e.more} more than once)${e.tokens < s.expired ? `; ${s.expired - e.tokens} portals were not called again before the runs ended` : ''}. The authorization server counted ${stormRefreshes(s)} refreshes in the storm's run and the one after it${s.allRefreshedMs === undefined ? '' : `, the storm's ${s.expired} all done ${s.allRefreshedMs.toFixed(0)} ms after the expiry`}. Over the whole scenario (installs, warm-up, the three runs) ${p.tokens} refresh tokens were presented, ${p.once} once and ${p.more} more than once (at most ${p.max}×); goal ≤ 1.`,
    `- **Added latency**, against the mean of the two runs with no expiry: p99 ${added('p99_us')} ms, max ${added('max_us')} ms, p50 ${added('p50_us')} ms (one storm in a ${settings.duration} s run: the p99 counts the slowest 1 % of all its calls, the max the slowest call a storm made wait).`,
  ];
}
