import type { HttpBindings } from '@hono/node-server';
import { type Context, Hono } from 'hono';
import { type PhpParams, phpEmpty, phpInt, upperCaseKeys } from '../bitrix24-semantics';
import { type Bitrix24Method, methodNamed } from '../operations';
import {
  errorAnswer,
  internalServerError,
  json,
  methodNotFound,
  noAuth,
  notJson,
  operationTimeLimit,
  queryLimitExceeded,
  rfc3339,
  time,
} from './answers';
import type { LeakyBucket, OperatingTime } from './limits';
import { readParams } from './params';
import { type Sentinel, sentinelOf } from './sentinels';
import { bitrix24Text } from './texts';
import type { EmulatorOptions, EmulatorStats, ReceivedCall } from './types';
import { sizeOfCall, type Window } from './window';

export type Settings = Required<Omit<EmulatorOptions, 'answerHeaders' | 'oauthLookup'>> &
  Pick<EmulatorOptions, 'answerHeaders' | 'oauthLookup'>;

/** The portal's state, shared by the app and the emulator's API. */
export interface Portal {
  settings: Settings;
  bucket: LeakyBucket;
  /** Each method's operating time (Bitrix24 counts it per method). */
  operatingOf(method: string): OperatingTime;
  /** The most recent calls, within the settings' bounds. */
  received: Window<ReceivedCall>;
  stats: EmulatorStats;
}

/** Thrown where the connection is to be dropped but there is none (in-process); never answered. */
export class HangUp extends Error {
  constructor() {
    super('The emulator dropped the connection (test value 5903)');
  }
}

/** The portal as a Hono app: every method the gateway knows, at the webhook and the OAuth paths. */
export function portalApp(portal: Portal): Hono {
  const app = new Hono();
  const { answerHeaders } = portal.settings;
  if (answerHeaders) {
    app.use(async (c, next) => {
      await next();
      for (const [name, value] of Object.entries(answerHeaders())) c.header(name, value);
    });
  }
  app.all('/rest/:userId/:code/:method', (c) => {
    const { userId, code } = portal.settings.webhook;
    return call(c, portal, c.req.param('userId') === userId && c.req.param('code') === code ? 'webhook' : undefined);
  });
  app.all('/rest/:method', (c) => call(c, portal, 'oauth'));
  app.notFound(methodNotFound);
  app.onError((err) => {
    if (err instanceof HangUp) throw err;
    return internalServerError();
  });
  return app;
}

type Auth = 'webhook' | 'oauth';

async function call(c: Context, portal: Portal, auth: Auth | undefined): Promise<Response> {
  const { settings, stats } = portal;
  const start = settings.now();
  const params = await readParams(c.req.raw);

  if (!auth || (auth === 'oauth' && phpEmpty(params.auth))) return noAuth();
  // Bitrix24 lower-cases method names, and takes an optional .json suffix.
  const name = c.req
    .param('method')!
    .toLowerCase()
    .replace(/\.json$/, '');
  // The gateway's probe: changes nothing, counts in the portal's bucket, not among the calls received.
  if (name === 'server.time') return serverTime(portal, start);
  const method = methodNamed(name);
  if (!method) return methodNotFound();
  // The parameters as the method reads them.
  const read = method.upperCasesKeys ? upperCaseKeys(params) : params;

  stats.calls += 1;
  const received: ReceivedCall = {
    path: new URL(c.req.url).pathname,
    method: c.req.method,
    params,
    contentType: c.req.header('content-type'),
    // Hono's copy has no prototype: a header named __proto__ is a header like any other.
    headers: c.req.header(),
    at: start,
  };
  stats.receivedDropped += portal.received.push(received, sizeOfCall(received));

  if (settings.rateLimit.enabled) {
    if (!portal.bucket.take(start)) {
      stats.rejectedByRateLimit += 1;
      return queryLimitExceeded();
    }
    stats.maxBucketLevel = Math.max(stats.maxBucketLevel, portal.bucket.level(start));
  }

  const sentinel = sentinelOf(phpInt(read.CHAT_ID));
  if (sentinel?.stage === 'platform') return platform(c, portal, method, sentinel, start);

  const operating = portal.operatingOf(method.name);
  if (settings.operatingLimit.enabled && operating.exhausted(start)) return operationTimeLimit();
  operating.charge(start, settings.operatingLimit.costPerCallSeconds);

  return run(method, read, auth, sentinel, settings.oauthLookup) ?? success(portal, method, start);
}

/** The method itself, in the server's order, on the parameters as it reads them; undefined when it succeeds. */
function run(
  method: Bitrix24Method,
  params: PhpParams,
  auth: Auth,
  sentinel: Sentinel | undefined,
  oauthLookup: Settings['oauthLookup'],
): Response | undefined {
  // Step 1 of every session method: no browser-session authorization.
  if (sentinel?.stage === 'auth-type' && sentinel.kind === 'error') {
    return errorAnswer(sentinel.status, sentinel.error, sentinel.description);
  }
  const verdict = method.check(params);
  if (verdict.outcome === 'crashed') return internalServerError();
  const code =
    verdict.outcome === 'rejected'
      ? verdict.code
      : ((auth === 'oauth' ? oauthLookup?.({ method: method.name, params }) : undefined) ??
        method.emulate({ params, auth, testValue: phpInt(params.CHAT_ID) }));
  if (code === undefined) return undefined;
  const { status, description } = bitrix24Text(method.name, code);
  return errorAnswer(status, code, description);
}

async function platform(
  c: Context,
  portal: Portal,
  method: Bitrix24Method,
  sentinel: Sentinel,
  start: number,
): Promise<Response> {
  switch (sentinel.kind) {
    case 'error':
      return errorAnswer(sentinel.status, sentinel.error, sentinel.description);
    case 'not-json':
      return notJson();
    case 'hang-up': {
      const socket = (c.env as Partial<HttpBindings> | undefined)?.incoming?.socket;
      if (!socket) throw new HangUp();
      socket.destroy();
      return new Response(null); // never reaches anyone
    }
    case 'slow':
      await delay(portal.settings.slowResponseMs, c.req.raw.signal);
      return success(portal, method, start);
  }
}

/** `server.time`: the portal's time (DATE_ATOM), as Bitrix24 answers it; within its rate limit. */
function serverTime(portal: Portal, start: number): Response {
  if (portal.settings.rateLimit.enabled) {
    if (!portal.bucket.take(start)) {
      portal.stats.rejectedByRateLimit += 1;
      return queryLimitExceeded();
    }
    portal.stats.maxBucketLevel = Math.max(portal.stats.maxBucketLevel, portal.bucket.level(start));
  }
  const finish = portal.settings.now();
  return new Response(JSON.stringify({ result: rfc3339(finish), time: time(start, finish, 0) }), {
    status: 200,
    headers: { 'content-type': 'application/json; charset=utf-8' },
  });
}

function success(portal: Portal, method: Bitrix24Method, start: number): Response {
  const finish = portal.settings.now();
  const operating = portal.operatingOf(method.name);
  return json(200, { result: true, time: time(start, finish, operating.used(finish), operating.resetAt(finish)) });
}

/** Resolves after `ms`, or at once when `signal` aborts (the client went away); never holds the process. */
function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    timer.unref();
    signal.addEventListener('abort', done, { once: true });
  });
}
