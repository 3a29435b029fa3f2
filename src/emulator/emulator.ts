import { type Portal, portalApp, type Settings } from './app';
import { LeakyBucket, OperatingTime } from './limits';
import type { Emulator, EmulatorOptions, EmulatorStats } from './types';
import { Window } from './window';

export const defaults: Omit<Settings, 'answerHeaders'> = {
  webhook: { userId: '1', code: 'emulatorsecret' },
  rateLimit: { enabled: true, drainPerSecond: 2, burst: 50 },
  operatingLimit: { enabled: true, limitSeconds: 480, costPerCallSeconds: 0.01, windowSeconds: 600 },
  slowResponseMs: 60_000,
  now: Date.now,
  maxReceivedCalls: 1_000,
  maxReceivedBytes: 16 * 1024 * 1024,
};

const noStats = (): EmulatorStats => ({ maxBucketLevel: 0, rejectedByRateLimit: 0, calls: 0, receivedDropped: 0 });

/** A Bitrix24 portal that knows the chat-bot session methods the gateway knows (src/operations/), and one webhook. */
export function createEmulator(options: EmulatorOptions = {}): Emulator {
  const settings: Settings = { ...defaults, ...withoutUndefined(options) };
  const { rateLimit, operatingLimit } = settings;
  // Keyed by the registry's method names only (app.ts looks the caller's up first): bounded.
  const operating = new Map<string, OperatingTime>();
  const portal: Portal = {
    settings,
    bucket: new LeakyBucket(rateLimit.drainPerSecond, rateLimit.burst),
    operatingOf(method) {
      let time = operating.get(method);
      if (!time) {
        time = new OperatingTime(operatingLimit.windowSeconds, operatingLimit.limitSeconds);
        operating.set(method, time);
      }
      return time;
    },
    received: new Window(settings.maxReceivedCalls, settings.maxReceivedBytes),
    stats: noStats(),
  };
  return {
    app: portalApp(portal),
    get received() {
      return portal.received.toArray();
    },
    receivedSince(calls) {
      return portal.received.newest(portal.stats.calls - calls);
    },
    stats: portal.stats,
    reset() {
      // In place, so that references the caller holds stay live.
      portal.received.clear();
      Object.assign(portal.stats, noStats());
      portal.bucket.reset();
      operating.clear();
    },
  };
}

function withoutUndefined<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<T>;
}
