// The one pipeline of every Bitrix24 method the spec describes: request → caller auth → media type →
// validation in Bitrix24's order → normalisation → rate limit → upstream → relay. The routes are built by
// one loop over the spec's operations; a method's own code is in src/operations/<method>/.
import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { gatewayError, type Rejection } from '../error-matrix';
import type { IdempotencySettings } from '../idempotency';
import type { Logger } from '../logger';
import type { Redactor } from '../relay';
import { type GatewayEnv, guard, respondError } from '../request-context';
import { type CallUpstream, forward, shuttingDown } from './forward';
import { idempotent } from './idempotent';
import { judge } from './judge';
import { contentEncodingProblem, mediaTypeProblem } from './media-type';
import { normalise } from './normalise';
import { type GatewayMode, type MethodOperation, methodOperations } from './operations';
import { methodRoute, requestSchemas } from './route';
import { check } from './schema-check';
import { validate } from './validate';

export { type CallUpstream, RefusedBeforeSending } from './forward';
export { contentEncodingProblem, mediaTypeProblem } from './media-type';
export { type GatewayMode, type MethodOperation, methodOperations } from './operations';

/** What the pipeline needs from the rest of the gateway. */
export interface PipelineDeps {
  mode: GatewayMode;
  /** The gateway's settings that fill parameters a request leaves out (`x-default-setting`). */
  settings: Readonly<Record<string, string | undefined>>;
  callUpstream: CallUpstream;
  /** Authenticates the caller by the Authorization header; sets `c.var.team`. */
  authenticate: MiddlewareHandler;
  /** Authenticates the caller by the key in the named path parameter (a webhook-style path). */
  authenticatePathKey: (parameter: string) => MiddlewareHandler;
  /**
   * Application mode: may the caller's team call the portal the named path parameter names, and is it
   * installed? Sets `c.var.portal` (its member_id) or answers the documented refusal, nothing sent.
   */
  portalAccess?: (parameter: string) => MiddlewareHandler;
  /** True once the gateway has begun to stop. */
  isShuttingDown: () => boolean;
  redactor: Redactor;
  logger: Logger;
  /** Idempotency keys (`Idempotency-Key`); without, the header is validated but keeps nothing. */
  idempotency?: IdempotencySettings;
  /** The operations to serve; default: every operation of the spec that names a Bitrix24 method. */
  operations?: MethodOperation[];
}

/** Every Bitrix24 method of the spec, at each of its paths. */
export function methodRoutes(deps: PipelineDeps): OpenAPIHono<GatewayEnv> {
  const app = new OpenAPIHono<GatewayEnv>();
  const served = (deps.operations ?? methodOperations()).filter(
    (operation) => operation.modes?.includes(deps.mode) ?? true,
  );
  for (const operation of served) {
    const refuse = refusal(operation, deps.logger);
    const stopping = guard((c) => {
      if (!deps.isShuttingDown()) return undefined;
      const { rejection, headers } = shuttingDown();
      return refuse(c, rejection, headers);
    });
    const authenticate = operation.keyInPath ? deps.authenticatePathKey(operation.keyInPath) : deps.authenticate;
    const portal = operation.portalInPath ? deps.portalAccess?.(operation.portalInPath) : undefined;
    if (operation.portalInPath && !portal) throw new Error(`${operation.operationId}: no portalAccess for its portal`);
    const schemas = requestSchemas(operation);
    app.openAPIRegistry.registerPath(methodRoute(operation, schemas));
    app.post(
      operation.path.replaceAll(/\/{(.+?)}/g, '/:$1'),
      stopping,
      authenticate,
      ...(portal ? [portal] : []),
      admit(operation, deps, refuse),
      validate(operation, schemas, deps.mode, refuse) as MiddlewareHandler,
      handler(operation, deps, refuse),
    );
  }
  return app;
}

type Refuse = (c: Context, rejection: Rejection, headers?: Record<string, string>) => Response;

/**
 * What is refused before the body is read, in the spec's order: a call without an Idempotency-Key when
 * IDEMPOTENCY_KEY=required, or with one from an anonymous caller where a key needs an API key (OAuth mode:
 * the key's parameters leave the caller's access token out, so only a team keeps callers' keys apart), then a
 * body with a content coding (the gateway decodes none) or of a media type the operation does not take.
 */
function admit(operation: MethodOperation, deps: PipelineDeps, refuse: Refuse): MiddlewareHandler {
  const mediaType = mediaTypeProblem(operation.body.mediaTypes);
  const keyRequired = gatewayError(
    'INVALID_PARAMETER',
    'The Idempotency-Key header is required by this gateway (see "Safe retries")',
  );
  const needsApiKey =
    operation.headers.find((header) => header.name === 'idempotency-key')?.needsApiKeyIn?.includes(deps.mode) ?? false;
  const unscoped = gatewayError(
    'IDEMPOTENCY_KEY_UNSCOPED',
    'In OAuth mode an Idempotency-Key is taken only from a caller with a gateway API key, whose team scopes it; nothing was sent to Bitrix24: send an API key, or no Idempotency-Key',
  );
  const readsKey = needsApiKey || deps.idempotency?.required === true;
  return guard((c) => {
    if (readsKey) {
      const key = c.req.header('idempotency-key');
      if (key === undefined && deps.idempotency?.required) return refuse(c, keyRequired);
      // Callers let in without an API key are all team "anonymous" (src/caller-auth).
      if (key !== undefined && needsApiKey && c.get('team') === 'anonymous') return refuse(c, unscoped);
    }
    const problem =
      contentEncodingProblem(c.req.header('content-encoding'), c.req.header('transfer-encoding')) ??
      mediaType(c.req.header('content-type'));
    return problem && respondError(c, problem);
  });
}

/**
 * How the pipeline answers an error for `operation`: through the one answering function, and only with a code
 * the operation documents (anything else is a bug of the gateway, answered 500 and logged).
 */
function refusal(operation: MethodOperation, logger: Logger): Refuse {
  return (c, rejection, headers) => {
    if (operation.codes.has(rejection.body.error)) return respondError(c, rejection, headers);
    logger.error(
      { reqId: c.get('requestId'), operation: operation.operationId, code: rejection.body.error },
      'an undocumented error code',
    );
    return respondError(c, gatewayError('INTERNAL_SERVER_ERROR', 'Internal server error'));
  };
}

function handler(operation: MethodOperation, deps: PipelineDeps, refuse: Refuse) {
  const json = operation.schemas.body.strict();
  return async (c: Context): Promise<Response> => {
    const contentType = c.req.header('content-type');
    // With no body at all the validators had nothing to check; judge it as Bitrix24 would: no parameters.
    if (!contentType) return refuse(c, judge(operation, 'json', {}, check(json, {}), deps.mode)!);
    const kind = contentType.toLowerCase().startsWith('application/json') ? 'json' : 'form';
    const request = c.req.valid(kind as never) as Record<string, unknown>;
    const params = normalise(operation, request, { mode: deps.mode, settings: deps.settings });
    const send = () => forward(c, operation, params, { ...deps, refuse });
    const key = c.req.header('idempotency-key');
    if (key === undefined || !deps.idempotency) return (await send()).response;
    return idempotent(c, operation, params, key, send, { idempotency: deps.idempotency, logger: deps.logger, refuse });
  };
}
