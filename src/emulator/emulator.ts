import { type Portal, portalApp, type Settings } from './app';
import { LeakyBucket, OperatingTime } from './limits';
import type { Emulator, EmulatorOptions } from './types';

export const defaults: Omit<Settings, 'answerHeaders'> = {
  webhook: { userId: '1', code: 'emulatorsecret' },
  rateLimit: { enabled: true, drainPerSecond: 2, burst: 50 },
  operatingLimit: { enabled: true, limitSeconds: 480, costPerCallSeconds: 0.01, windowSeconds: 600 },
  slowResponseMs: 60_000,
  now: Date.now,
};

/** A Bitrix24 portal that knows the chat-bot session methods the gateway knows (src/operations/), and one webhook. */
export function createEmulator(options: EmulatorOptions = {}): Emulator {
  const settings: Settings = { ...defaults, ...withoutUndefined(options) };
  const { rateLimit, operatingLimit } = settings;
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
    received: [],
    stats: { maxBucketLevel: 0, rejectedByRateLimit: 0, calls: 0 },
  };
  return {
    app: portalApp(portal),
    received: portal.received,
    stats: portal.stats,
    reset() {
      // In place, so that references the caller holds stay live.
      portal.received.length = 0;
      Object.assign(portal.stats, { maxBucketLevel: 0, rejectedByRateLimit: 0, calls: 0 });
      portal.bucket.reset();
      operating.clear();
    },
  };
}

function withoutUndefined<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<T>;
}
