import type { HttpBindings } from '@hono/node-server';
import { type Context, Hono } from 'hono';
import { checkTransfer, type PhpParams, phpInt, validationMessages } from '../bitrix24-semantics';
import {
  errorAnswer,
  internalServerError,
  json,
  methodNotFound,
  noAuth,
  notJson,
  operationTimeLimit,
  queryLimitExceeded,
  time,
} from './answers';
import type { LeakyBucket, OperatingTime } from './limits';
import { readParams } from './params';
import { BOT_NOT_FOUND, type Sentinel, sentinelOf } from './sentinels';
import type { EmulatorOptions, EmulatorStats, ReceivedCall } from './types';

export type Settings = Required<Omit<EmulatorOptions, 'answerHeaders'>> & Pick<EmulatorOptions, 'answerHeaders'>;

/** The portal's state, shared by the app and the emulator's API. */
export interface Portal {
  settings: Settings;
  bucket: LeakyBucket;
  operating: OperatingTime;
  received: ReceivedCall[];
  stats: EmulatorStats;
}

/** Thrown where the connection is to be dropped but there is none (in-process); never answered. */
export class HangUp extends Error {
  constructor() {
    super('The emulator dropped the connection (test value 5903)');
  }
}

const METHOD = 'imopenlines.bot.session.transfer';

export function createApp(portal: Portal): Hono {
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
  // Bitrix24 lower-cases method names.
  const method = c.req.param('method')!.toLowerCase();
  if (method !== METHOD && method !== `${METHOD}.json`) return methodNotFound();

  stats.calls += 1;
  portal.received.push({
    path: new URL(c.req.url).pathname,
    method: c.req.method,
    params,
    contentType: c.req.header('content-type'),
    headers: c.req.header(),
    at: start,
  });

  if (settings.rateLimit.enabled) {
    if (!portal.bucket.take(start)) {
      stats.rejectedByRateLimit += 1;
      return queryLimitExceeded();
    }
    stats.maxBucketLevel = Math.max(stats.maxBucketLevel, portal.bucket.level(start));
  }

  const sentinel = sentinelOf(phpInt(params.CHAT_ID));
  if (sentinel?.stage === 'platform') return platform(c, portal, sentinel, start);

  if (settings.operatingLimit.enabled && portal.operating.exhausted(start)) return operationTimeLimit();
  portal.operating.charge(start, settings.operatingLimit.costPerCallSeconds);

  return transfer(params, auth, sentinel) ?? success(portal, start);
}

/** The method itself, in the server's order; undefined when the transfer succeeds. */
function transfer(params: PhpParams, auth: Auth, sentinel: Sentinel | undefined): Response | undefined {
  const at = (stage: Sentinel['stage']) =>
    sentinel?.stage === stage && sentinel.kind === 'error'
      ? errorAnswer(sentinel.status, sentinel.error, sentinel.description)
      : undefined;

  const wrongAuthType = at('auth-type');
  if (wrongAuthType) return wrongAuthType;

  const verdict = checkTransfer(params);
  if (verdict.outcome === 'rejected') return errorAnswer(400, verdict.code, validationMessages[verdict.code]);
  if (verdict.outcome === 'crashed') return internalServerError();

  // A webhook names its bot by CLIENT_ID; an OAuth token already belongs to the bot's application.
  if (auth === 'webhook' && phpEmpty(params.CLIENT_ID)) {
    return errorAnswer(BOT_NOT_FOUND.status, BOT_NOT_FOUND.error, BOT_NOT_FOUND.description);
  }
  return at('bot') ?? at('transfer');
}

async function platform(c: Context, portal: Portal, sentinel: Sentinel, start: number): Promise<Response> {
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
      return success(portal, start);
  }
}

function success(portal: Portal, start: number): Response {
  const finish = portal.settings.now();
  const operating = portal.operating.used(finish);
  return json(200, { result: true, time: time(start, finish, operating, portal.operating.resetAt(finish)) });
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

/** PHP's `empty()`. */
function phpEmpty(value: unknown): boolean {
  if (value === undefined || value === null || value === false || value === '' || value === '0' || value === 0)
    return true;
  return typeof value === 'object' && Object.keys(value).length === 0;
}
