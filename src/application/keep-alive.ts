// The one renewal Bitrix24 does not ask for: a portal nobody called for 150 days would lose its refresh
// token at 180, so it is renewed once before that (tokens.ts `dueForKeepAlive`). Checked every few hours
// and shortly after start, one portal at a time; the operator sees each portal's refresh-token age in
// `GET /portals` and in the log line of each renewal. Nothing else is renewed on a timer: Bitrix24 may
// block an application that refreshes before every call or on a schedule.
import type { Logger } from '../logger';
import { type AccessTokens, KEEP_ALIVE_AFTER_MS } from './tokens';
import type { PortalStore } from './types';

export interface KeepAliveOptions {
  store: PortalStore;
  tokens: Pick<AccessTokens, 'keepAlive'>;
  logger: Pick<Logger, 'info' | 'warn'>;
  /** How often the portals are looked over (default every 6 hours; the first look a minute after start). */
  everyMs?: number;
  firstAfterMs?: number;
  now?: () => number;
}

/** Starts the checks; returns how to stop them. */
export function keepPortalsAlive(options: KeepAliveOptions): () => void {
  const { store, tokens, logger, now = Date.now } = options;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const look = async () => {
    for (const portal of await store.list()) {
      if (stopped) return;
      if (portal.state !== 'ready' || now() - portal.refreshTokenIssuedAt <= KEEP_ALIVE_AFTER_MS) continue;
      try {
        await tokens.keepAlive(portal.memberId);
        logger.info({ memberId: portal.memberId }, 'Renewed the refresh token of a portal idle for 150 days');
      } catch (error) {
        logger.warn(
          { memberId: portal.memberId, reason: error instanceof Error ? error.name : 'unknown' },
          "Could not renew an idle portal's refresh token; the next look tries again",
        );
      }
    }
  };
  const schedule = (ms: number) => {
    timer = setTimeout(() => {
      void look()
        .catch((error: unknown) =>
          logger.warn({ reason: error instanceof Error ? error.name : 'unknown' }, 'The keep-alive look failed'),
        )
        .finally(() => {
          if (!stopped) schedule(options.everyMs ?? 6 * 3600_000);
        });
    }, ms);
    timer.unref();
  };
  schedule(options.firstAfterMs ?? 60_000);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
