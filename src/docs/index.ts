import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { OpenAPIHono, type z } from '@hono/zod-openapi';
import { zGetDocsAssetPath, zGetDocsAssetResponse, zGetDocsResponse, zPathNotFound } from '../../generated/zod.gen';
import { answer, serviceRoute } from '../service';

const page = serviceRoute('/docs', 'getDocs', { 200: answer('The page', 'text/html', zGetDocsResponse) });
const asset = serviceRoute(
  '/docs/{asset}',
  'getDocsAsset',
  {
    200: {
      description: 'The file',
      content: { 'text/css': { schema: zGetDocsAssetResponse }, 'text/javascript': { schema: zGetDocsAssetResponse } },
    },
    404: answer('No such file', 'application/json', zPathNotFound),
  },
  { params: zGetDocsAssetPath },
);

// Relative URLs, so the page also works behind a path prefix.
const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Bitrix24 session transfer gateway: API reference</title>
<link rel="stylesheet" href="docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/swagger-ui-bundle.js"></script>
<script src="docs/docs.js"></script>
</body>
</html>
`;

// No calls anywhere but this gateway: Swagger UI's online validator is switched off.
const init = `window.ui = SwaggerUIBundle({
  url: 'openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  validatorUrl: null,
  docExpansion: 'list',
  defaultModelsExpandDepth: 0,
});
`;

// Swagger UI styles elements inline; everything else comes from this origin only.
const contentSecurityPolicy =
  "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

function swaggerUiFile(name: string): string {
  const root = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  return readFileSync(join(root, name), 'utf8');
}

/** `/docs`: Swagger UI for the served spec, from the swagger-ui-dist package (no CDN). */
export function docsRoutes(): OpenAPIHono {
  const assets: Record<z.infer<typeof zGetDocsAssetPath>['asset'], { type: string; body: string }> = {
    'swagger-ui.css': { type: 'text/css; charset=utf-8', body: swaggerUiFile('swagger-ui.css') },
    'swagger-ui-bundle.js': { type: 'text/javascript; charset=utf-8', body: swaggerUiFile('swagger-ui-bundle.js') },
    'docs.js': { type: 'text/javascript; charset=utf-8', body: init },
  };
  const app = new OpenAPIHono();
  app.openapi(page, (c) => c.html(html, 200, { 'Content-Security-Policy': contentSecurityPolicy }) as never);
  app.openapi(
    asset,
    (c) => {
      const file = assets[(c.req.valid('param' as never) as z.infer<typeof zGetDocsAssetPath>).asset];
      return c.body(file.body, 200, { 'content-type': file.type, 'cache-control': 'public, max-age=3600' }) as never;
    },
    (result, c) => {
      if (!result.success) {
        c.set('errorCode' as never, 'ERROR_METHOD_NOT_FOUND' as never);
        return c.json({ error: 'ERROR_METHOD_NOT_FOUND' as const, error_description: 'Method not found!' }, 404);
      }
    },
  );
  return app;
}
