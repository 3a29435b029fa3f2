import type { Hono } from 'hono';
import type { PhpParams } from '../bitrix24-semantics';

export interface EmulatorOptions {
  /** The one webhook the portal knows. Default `{ userId: '1', code: 'emulatorsecret' }`. */
  webhook?: { userId: string; code: string };
  /** The portal's leaky bucket. Default enabled, 2 a second, burst 50. */
  rateLimit?: { enabled: boolean; drainPerSecond: number; burst: number };
  /**
   * The method's operating-time limit, over ten baskets of `windowSeconds / 10`. Default enabled, 480 s,
   * 0.01 s a call, 600 s window.
   */
  operatingLimit?: { enabled: boolean; limitSeconds: number; costPerCallSeconds: number; windowSeconds: number };
  /** How long the "slow" test value (CHAT_ID 5904) waits before answering, ms. Default 60000. */
  slowResponseMs?: number;
  /** The clock, ms. Default `Date.now`. */
  now?: () => number;
  /** Headers added to every answer (none by default, as Bitrix24 sends none the gateway relays). */
  answerHeaders?: () => Record<string, string>;
  /** How many of the calls it received it keeps (`received`), the most recent. Default 1,000. */
  maxReceivedCalls?: number;
  /**
   * And how many bytes of them, as `sizeOfCall` counts what a call holds (about twice its parameters'
   * length in characters): the oldest go past it, the newest is always kept. Default 16 MiB.
   */
  maxReceivedBytes?: number;
  /**
   * OAuth calls only: the portal's lookup of the calling application, between a method's checks and its own
   * steps (the cloud emulator's portals use it for the application's bot, which the transfer and the finish
   * look up). A code it answers is the method's answer, with the status and text the spec gives that code for
   * the method; undefined lets the method go on. Default: none (an OAuth token's application has its bot).
   */
  oauthLookup?: (call: OAuthLookup) => string | undefined;
}

/** What `oauthLookup` is told of a call that passed the method's checks. */
export interface OAuthLookup {
  /** The REST method, as the registry names it. */
  method: string;
  /** The parameters as the method reads them (its `auth` among them). */
  params: PhpParams;
}

export interface ReceivedCall {
  path: string;
  /** The HTTP method. */
  method: string;
  /** The parameters as the server parsed them (query merged with body). */
  params: PhpParams;
  contentType: string | undefined;
  /** Its headers, names in lower case. */
  headers: Record<string, string>;
  /** When it arrived, ms on the emulator's clock. */
  at: number;
}

export interface EmulatorStats {
  /** The highest level the bucket reached; never above its burst. */
  maxBucketLevel: number;
  rejectedByRateLimit: number;
  /** Calls that passed auth to the method, whatever they were answered: those `received` holds and those it dropped. */
  calls: number;
  /** Calls dropped from `received`, the oldest first, to keep it within its bounds. */
  receivedDropped: number;
}

export interface Emulator {
  /** The portal, usable in-process: `emulator.app.request(...)`. */
  app: Hono;
  /**
   * The most recent calls that passed auth to the method, newest last, within `maxReceivedCalls` and
   * `maxReceivedBytes`: a copy, read afresh at every access.
   */
  readonly received: ReceivedCall[];
  /**
   * The calls received since `stats.calls` was `calls` (those still kept), newest last: what a request
   * sent, whether or not `received` was full before it.
   */
  receivedSince(calls: number): ReceivedCall[];
  stats: EmulatorStats;
  /** Clears `received` and `stats`, empties the bucket and forgets the operating time. */
  reset(): void;
}

export interface StartOptions extends EmulatorOptions {
  /** 0 (the default) takes a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
}

export interface RunningEmulator extends Emulator {
  /** `http://host:port`, no trailing slash. */
  url: string;
  /** `${url}/rest/${userId}/${code}/`. */
  webhookUrl: string;
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}
