import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { isErrorCode } from '../error-matrix';
import type { LimiterState, ShapingEvents } from '../rate-limit';
import { WEBHOOK_REFUSALS } from '../upstream-health';

const LIMITER_STATES: LimiterState[] = ['in-process', 'shared', 'degraded'];

/** What the gauges read when they are collected. */
export interface MetricSources {
  queueDepth: () => number;
  limiterState?: () => LimiterState;
}

/** The gateway's Prometheus metrics, in a registry of its own (one per gateway instance). */
/** The portal states the gauge reports: a fixed set (src/application/types.ts PortalState). */
const PORTAL_STATES = ['installing', 'ready', 'bot-failed', 'needs-reinstall'] as const;

export class Metrics {
  readonly registry = new Registry();

  readonly requests = new Counter({
    name: 'gateway_requests_total',
    help: 'Answered requests, by operation, status, error code and caller team (never a key).',
    labelNames: ['operation', 'status', 'code', 'team'] as const,
    registers: [this.registry],
  });

  readonly upstreamDuration = new Histogram({
    name: 'gateway_upstream_duration_seconds',
    help: 'Time from sending a call to Bitrix24 to its answer, by outcome.',
    labelNames: ['outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  readonly limiterWait = new Histogram({
    name: 'gateway_limiter_wait_seconds',
    help: "Time requests waited in the queue for the portal's rate limit.",
    buckets: [0, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60],
    registers: [this.registry],
  });

  readonly limiterRejections = new Counter({
    name: 'gateway_limiter_rejections_total',
    help: "Requests the gateway answered for Bitrix24's limits without calling it, by reason.",
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly retries = new Counter({
    name: 'gateway_upstream_retries_total',
    help: 'Calls to Bitrix24 repeated, by reason.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly redisRestartsEmpty = new Counter({
    name: 'gateway_redis_restarted_empty_total',
    help: "Times this replica found that Redis lost its data (restarted empty, or flushed: the gateway's marker key gone or written again): finished idempotency keys were lost, and keys Redis does not know were fail-closed for a lease.",
    registers: [this.registry],
  });

  readonly idempotencyAnswersNotStored = new Counter({
    name: 'gateway_idempotency_answers_not_stored_total',
    help: 'Finished calls whose answer the idempotency store did not take (the key stays taken: a retry gets "outcome unknown"), by reason.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly webhookRefused = new Counter({
    name: 'gateway_upstream_webhook_refused_total',
    help: "Callers' calls Bitrix24 refused for the gateway's own webhook (webhook mode), by Bitrix24's code: NO_AUTH_FOUND, INVALID_CREDENTIALS, insufficient_scope or ACCESS_DENIED. The operator's to fix, not the callers'.",
    labelNames: ['code'] as const,
    registers: [this.registry],
  });

  readonly applicationEvents = new Counter({
    name: 'gateway_application_events_total',
    help: "Application mode: Bitrix24's events at /bitrix24/events, by event (ONAPPINSTALL, ONAPPUPDATE, ONAPPUNINSTALL, or unknown) and outcome (installed, bot-failed, updated, uninstalled, invalid, refused, not-installed, rate-limited, unavailable, failed).",
    labelNames: ['event', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly portalsLost = new Counter({
    name: 'gateway_portals_lost_total',
    help: 'Application mode: portals whose refresh token the authorization server refused (invalid_grant): each needs the application installed again; the log names its member_id.',
    registers: [this.registry],
  });

  constructor({ queueDepth, limiterState = () => 'in-process' }: MetricSources) {
    new Gauge({
      name: 'gateway_limiter_queue_depth',
      help: "Requests waiting for the portal's rate limit.",
      registers: [this.registry],
      collect() {
        this.set(queueDepth());
      },
    });
    new Gauge({
      name: 'gateway_limiter_shared',
      help: "How the portal's limits are held: 1 for the state now (in-process, shared through Redis, or degraded: Redis away, this replica on its share).",
      labelNames: ['state'] as const,
      registers: [this.registry],
      collect() {
        const now = limiterState();
        for (const state of LIMITER_STATES) this.set({ state }, state === now ? 1 : 0);
      },
    });
    collectDefaultMetrics({ register: this.registry });
  }

  /**
   * The Redis store of idempotency keys, read at each collection: what waits to be written back, what was
   * not kept, and the fail-closed window. No labels.
   */
  /**
   * Application mode: the portals by state (read from the store at most once a minute, in the background:
   * a scrape never waits for it), and the refreshed pairs this replica holds that the store did not take.
   */
  observePortals(sources: {
    states: () => Promise<Record<string, number>>;
    unwritten: () => number;
    everyMs?: number;
  }): void {
    const everyMs = sources.everyMs ?? 60_000;
    let last: Record<string, number> | undefined;
    let readAt = Number.NEGATIVE_INFINITY;
    let reading = false;
    const refresh = () => {
      if (reading || Date.now() - readAt < everyMs) return;
      reading = true;
      sources
        .states()
        .then(
          (states) => {
            last = states;
            readAt = Date.now();
          },
          // The store away: the last count stays, and the next scrape tries again.
          () => undefined,
        )
        .finally(() => {
          reading = false;
        });
    };
    new Gauge({
      name: 'gateway_portals',
      help: 'Application mode: the installed portals by state (ready, installing, bot-failed, needs-reinstall: those need the application installed again), as last read from the store (at most once a minute).',
      labelNames: ['state'],
      registers: [this.registry],
      collect() {
        refresh();
        if (!last) return;
        for (const state of PORTAL_STATES) this.set({ state }, last[state] ?? 0);
      },
    });
    new Gauge({
      name: 'gateway_portal_tokens_unwritten',
      help: 'Application mode: portals whose refreshed pair the store (Redis) did not take, kept by this replica and written back when it answers; a replica stopped with one loses that portal.',
      registers: [this.registry],
      collect() {
        this.set(sources.unwritten());
      },
    });
  }

  observeRedisKeys(state: () => { pending: number; dropped: number; failClosed: boolean }): void {
    new Gauge({
      name: 'gateway_idempotency_write_backs_pending',
      help: 'Answers (and releases) of finished calls that Redis did not take, kept by this replica to be written back when it answers again.',
      registers: [this.registry],
      collect() {
        this.set(state().pending);
      },
    });
    let counted = 0;
    new Counter({
      name: 'gateway_idempotency_write_backs_dropped_total',
      help: 'Answers (and releases) not kept to be written back, the bound on what is kept being reached: their keys stay claimed in Redis, unless it also loses its data.',
      registers: [this.registry],
      collect() {
        const dropped = state().dropped;
        if (dropped > counted) this.inc(dropped - counted);
        counted = dropped;
      },
    });
    new Gauge({
      name: 'gateway_idempotency_fail_closed',
      help: 'Whether calls with an Idempotency-Key that Redis does not know are refused now (1): for the longest lease after it lost its data, or while it is new, as this replica last learnt.',
      registers: [this.registry],
      collect() {
        this.set(state().failClosed ? 1 : 0);
      },
    });
  }

  /**
   * Counts one answered request. Every label comes from a fixed set (the routes, the documented codes, the
   * configured teams) and is checked again here, so that no value a caller or a portal sends can make a
   * new series, and counting never throws into the request.
   */
  countRequest(labels: { operation: string; status: number; code: string; team: string }): void {
    try {
      this.requests.inc({
        operation: bounded(labels.operation),
        status:
          Number.isInteger(labels.status) && labels.status >= 100 && labels.status <= 599 ? labels.status : 'other',
        code:
          labels.code === '' || labels.code === 'ERROR_METHOD_NOT_FOUND' || isErrorCode(labels.code)
            ? labels.code
            : 'other',
        team: bounded(labels.team),
      });
    } catch {
      // A metric is never worth an answer.
    }
  }

  /** Counts a refusal of the gateway's webhook; a code outside the fixed set is counted as `other`. */
  countWebhookRefused(code: string): void {
    this.webhookRefused.inc({ code: Object.hasOwn(WEBHOOK_REFUSALS, code) ? code : 'other' });
  }

  /** Counts an application event; an event or outcome outside the fixed sets is counted as `other`. */
  countApplicationEvent(event: string, outcome: string): void {
    this.applicationEvents.inc({
      event: APPLICATION_EVENTS.has(event) ? event : 'other',
      outcome: /^[a-z-]{1,24}$/.test(outcome) ? outcome : 'other',
    });
  }

  /** Shaping's events, counted. */
  shapingEvents(): ShapingEvents {
    return {
      waited: (ms) => this.limiterWait.observe(ms / 1000),
      retried: (reason) => this.retries.inc({ reason }),
      rejected: (reason) => this.limiterRejections.inc({ reason }),
    };
  }
}

const bounded = (value: string) => (value.length <= 128 ? value : 'other');

/** Bitrix24's application events the handler takes, and `unknown` for a body that names none of them. */
const APPLICATION_EVENTS: ReadonlySet<string> = new Set(['ONAPPINSTALL', 'ONAPPUPDATE', 'ONAPPUNINSTALL', 'unknown']);
