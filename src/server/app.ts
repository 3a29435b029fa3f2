import { OpenAPIHono } from '@hono/zod-openapi';
import { HTTPException } from 'hono/http-exception';
import { bodyLimit } from 'hono/body-limit';
import { methodNotAllowed } from 'hono/method-not-allowed';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { type CallerEnv, callerAuth } from '../caller-auth';
import type { Config } from '../config';
import { type ErrorCode, gatewayError } from '../error-matrix';
import type { Logger } from '../logger';
import { serviceRoutes } from '../service';
import { transferRoutes } from '../transfer';
import type { UpstreamMode } from '../transfer/normalise';
import type { UpstreamAnswer, UpstreamParams } from '../upstream';

export interface AppDeps {
  config: Pick<Config, 'apiKeys' | 'allowAnonymous' | 'bodyLimitBytes'>;
  mode: UpstreamMode;
  defaultClientId?: string;
  callUpstream: (params: UpstreamParams) => Promise<UpstreamAnswer>;
  logger: Logger;
}

/** The gateway as a Hono app: every answer, success or error, is one the spec documents. */
export function createApp(deps: AppDeps): OpenAPIHono<CallerEnv> {
  const app = new OpenAPIHono<CallerEnv>();

  app.use(
    methodNotAllowed({
      app,
      onMethodNotAllowed: (c, methods) => {
        const allowed = methods.filter((m) => m !== 'HEAD');
        const { status, body } = gatewayError('METHOD_NOT_ALLOWED', `Method ${c.req.method} is not allowed here; use ${allowed.join(' or ')}`);
        return c.json(body, status, { Allow: methods.join(', ') });
      },
    }),
  );
  app.use(
    bodyLimit({
      maxSize: deps.config.bodyLimitBytes,
      onError: (c) => {
        const { status, body } = gatewayError('BODY_TOO_LARGE', `The body is larger than ${deps.config.bodyLimitBytes} bytes`);
        return c.json(body, status);
      },
    }),
  );

  app.route('/', transferRoutes({ ...deps, authenticate: callerAuth({ keys: deps.config.apiKeys, allowAnonymous: deps.config.allowAnonymous }) }));
  app.route('/', serviceRoutes());

  app.notFound((c) => c.json({ error: 'ERROR_METHOD_NOT_FOUND', error_description: 'Method not found!' }, 404));
  app.onError((error, c) => {
    const known = error instanceof HTTPException ? fromHttpException(error) : undefined;
    if (known) {
      const { status, body } = gatewayError(known.code, known.description);
      return c.json(body, status);
    }
    if (error instanceof HTTPException && error.status < 500) return error.getResponse();
    deps.logger.error({ err: error }, 'unexpected error');
    const { status, body } = gatewayError('INTERNAL_SERVER_ERROR', 'Internal server error');
    return c.json(body, status as ContentfulStatusCode);
  });
  return app;
}

/** Hono's and zod-openapi's own rejections, as the spec's codes. */
function fromHttpException(error: HTTPException): { code: ErrorCode; description: string } | undefined {
  switch (error.status) {
    case 400:
      return { code: 'INVALID_BODY', description: `The body could not be parsed: ${error.message}` };
    case 413:
      return { code: 'BODY_TOO_LARGE', description: error.message };
    case 415:
      return { code: 'UNSUPPORTED_MEDIA_TYPE', description: 'A body needs a Content-Type: application/json or application/x-www-form-urlencoded' };
    default:
      return undefined;
  }
}
