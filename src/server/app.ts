import type { HttpBindings } from '@hono/node-server';
import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { methodNotAllowed } from 'hono/method-not-allowed';
import { requestId } from 'hono/request-id';
import { secureHeaders } from 'hono/secure-headers';
import { callerAuth, KeyRing, pathKeyAuth } from '../caller-auth';
import type { Config } from '../config';
import { docsRoutes } from '../docs';
import { type ErrorCode, gatewayError } from '../error-matrix';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import type { Caller, LimiterState, ShapedAnswer } from '../rate-limit';
import type { Redactor } from '../relay';
import { type GatewayEnv, respondError } from '../request-context';
import { serviceRoutes } from '../service';
import { specYaml } from '../spec';
import { servedSpec } from '../spec/served';
import { traceContext } from '../trace-context';
import { transferRoutes } from '../transfer';
import type { UpstreamMode } from '../transfer/normalise';
import type { UpstreamParams } from '../upstream';

export interface AppDeps {
  config: Pick<Config, 'apiKeys' | 'allowAnonymous' | 'bodyLimitBytes'>;
  mode: UpstreamMode;
  defaultClientId?: string;
  callUpstream: (params: UpstreamParams, caller: Caller) => Promise<ShapedAnswer>;
  logger: Logger;
  metrics?: Metrics;
  /** Requests being answered, and whether the gateway has begun to stop. */
  lifecycle?: Lifecycle;
  /** Knows the gateway's own secrets (webhook code, CLIENT_ID, API keys), which are never relayed. */
  redactor?: Redactor;
  /** The callers' keys, when they can change while the gateway runs; default: config.apiKeys, fixed. */
  keyRing?: KeyRing;
  /** How the portal's limits are held now (for /readyz). */
  limiterState?: () => LimiterState;
}

/** What graceful shutdown needs to know. */
export class Lifecycle {
  inFlight = 0;
  shuttingDown = false;
  /** Called after each answer is written while stopping (the server closes the connections now idle). */
  onAnswerWritten: () => void = () => undefined;
  #idle: (() => void)[] = [];
  /** Answers not yet written on each connection: more than one when a client pipelines. */
  readonly #unwritten = new WeakMap<object, number>();

  /** Resolves when no request is in flight. */
  idle(): Promise<void> {
    return this.inFlight === 0 ? Promise.resolve() : new Promise((resolve) => this.#idle.push(resolve));
  }

  readonly track: MiddlewareHandler = async (c, next) => {
    const { incoming, outgoing } = (c.env as Partial<HttpBindings> | undefined) ?? {};
    // A pipelined request's answer gets its socket only when its turn comes; the request has it at once.
    const connection: object = incoming?.socket ?? c;
    this.inFlight += 1;
    this.#unwritten.set(connection, (this.#unwritten.get(connection) ?? 0) + 1);
    outgoing?.once('close', () => {
      this.#unwritten.set(connection, (this.#unwritten.get(connection) ?? 1) - 1);
      if (this.shuttingDown) this.onAnswerWritten();
    });
    try {
      await next();
      // A stopping server closes each connection after its last answer; a request pipelined behind this
      // one still gets its own answer (503 GATEWAY_SHUTTING_DOWN), not a closed connection.
      if (this.shuttingDown && this.#unwritten.get(connection) === 1) c.header('Connection', 'close');
    } finally {
      if (!outgoing) this.#unwritten.set(connection, (this.#unwritten.get(connection) ?? 1) - 1);
      this.inFlight -= 1;
      if (this.inFlight === 0) for (const resolve of this.#idle.splice(0)) resolve();
    }
  };
}

/** The gateway as a Hono app: every answer, success or error, is one the spec documents. */
export function createApp(deps: AppDeps): OpenAPIHono<GatewayEnv> {
  const app = new OpenAPIHono<GatewayEnv>();
  const lifecycle = deps.lifecycle ?? new Lifecycle();

  app.use(lifecycle.track);
  app.use(requestId({ headerName: 'X-Request-Id' }));
  app.use(async (c, next) => {
    c.set('trace', traceContext(c.req.header('traceparent'), c.req.header('tracestate')));
    await next();
  });
  app.use(accessLog(deps.logger, deps.metrics));
  app.use(secureHeaders());
  app.use(
    methodNotAllowed({
      app,
      onMethodNotAllowed: (c, methods) => {
        const allowed = methods.filter((m) => m !== 'HEAD');
        const rejection = gatewayError(
          'METHOD_NOT_ALLOWED',
          `Method ${c.req.method} is not allowed here; use ${allowed.join(' or ')}`,
        );
        return respondError(c, rejection, { Allow: methods.join(', ') });
      },
    }),
  );
  app.use(limitBody(deps.config.bodyLimitBytes));

  const callers = {
    keys: deps.keyRing ?? new KeyRing(deps.config.apiKeys),
    allowAnonymous: deps.config.allowAnonymous,
  };
  app.route(
    '/',
    transferRoutes({
      ...deps,
      authenticate: callerAuth(callers) as MiddlewareHandler,
      authenticatePathKey: pathKeyAuth(callers) as MiddlewareHandler,
      isShuttingDown: () => lifecycle.shuttingDown,
    }),
  );
  app.route('/', docsRoutes());
  const served = servedSpec(specYaml, { upstream: deps.mode, anonymous: deps.config.allowAnonymous });
  app.route(
    '/',
    serviceRoutes({
      isShuttingDown: () => lifecycle.shuttingDown,
      served,
      ...(deps.metrics && { metrics: deps.metrics }),
      ...(deps.limiterState && { limiterState: deps.limiterState }),
    }),
  );

  app.notFound((c) => {
    c.set('errorCode', 'ERROR_METHOD_NOT_FOUND');
    return c.json({ error: 'ERROR_METHOD_NOT_FOUND', error_description: 'Method not found!' }, 404);
  });
  app.onError((error, c) => {
    const known = error instanceof HTTPException ? fromHttpException(error) : undefined;
    if (known) return respondError(c, gatewayError(known.code, known.description));
    // Another middleware's own answer, through the context so that it keeps X-Request-Id.
    if (error instanceof HTTPException && error.status < 500) {
      const response = error.getResponse();
      return c.newResponse(response.body, response);
    }
    deps.logger.error({ err: error, reqId: c.get('requestId') }, 'unexpected error');
    return respondError(c, gatewayError('INTERNAL_SERVER_ERROR', 'Internal server error'));
  });
  return app;
}

/**
 * One log line and one count per answered request. Only the route's pattern is logged, never the path
 * itself (a mistyped URL can hold a webhook code), and the caller's team, never the key.
 */
function accessLog(logger: Logger, metrics: Metrics | undefined): MiddlewareHandler<GatewayEnv> {
  return async (c, next) => {
    const started = performance.now();
    await next();
    const route = c.req.routePath === '/*' || c.req.routePath === '*' ? 'unmatched' : c.req.routePath;
    const status = c.res.status;
    const code = c.get('errorCode') ?? '';
    const team = c.get('team') ?? '-';
    metrics?.countRequest({ operation: route, status, code, team });
    // The request id @bitrix24/b24jssdk puts in the query, when it is one (the spec's pattern).
    const sdkRequestId = /^[A-Za-z0-9_.-]{1,64}$/.exec(c.req.query('bx24_request_id') ?? '')?.[0];
    const trace = c.get('trace');
    const line = {
      reqId: c.get('requestId'),
      sdkRequestId,
      traceId: trace?.traceId,
      spanId: trace?.spanId,
      parentSpanId: trace?.parentSpanId,
      method: c.req.method,
      route,
      status,
      code: code || undefined,
      team,
      ms: Math.round(performance.now() - started),
    };
    try {
      if (status >= 500) logger.warn(line, 'request');
      else logger.info(line, 'request');
    } catch {
      // A log line is never worth an answer: the request is answered whatever the logger does.
    }
  };
}

/**
 * 413 BODY_TOO_LARGE past the limit. Hono's bodyLimit reads `c.req.raw.body`, which makes
 * @hono/node-server build a whole WHATWG Request (an undici Request, an AbortController, a web stream over
 * the socket) for every request: the benchmark's profile found that the gateway's largest single cost.
 * With a Content-Length and no Transfer-Encoding, Node's parser already holds the body to that length, so
 * the header is enough; only chunked bodies go through bodyLimit.
 */
function limitBody(maxBytes: number): MiddlewareHandler {
  const tooLarge = (c: Context) =>
    respondError(c, gatewayError('BODY_TOO_LARGE', `The body is larger than ${maxBytes} bytes`));
  const limitStreamed = bodyLimit({ maxSize: maxBytes, onError: tooLarge });
  return async (c, next) => {
    if (c.req.header('transfer-encoding') !== undefined) return limitStreamed(c, next);
    const length = c.req.header('content-length');
    if (length !== undefined && Number(length) > maxBytes) return tooLarge(c);
    return next();
  };
}

/** Hono's and zod-openapi's own rejections, as the spec's codes. */
function fromHttpException(error: HTTPException): { code: ErrorCode; description: string } | undefined {
  switch (error.status) {
    case 400:
      return { code: 'INVALID_BODY', description: `The body could not be parsed: ${error.message}` };
    case 413:
      return { code: 'BODY_TOO_LARGE', description: error.message };
    case 415:
      return {
        code: 'UNSUPPORTED_MEDIA_TYPE',
        description: 'A body needs a Content-Type: application/json or application/x-www-form-urlencoded',
      };
    default:
      return undefined;
  }
}
