import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { OpenAPIHono, z } from '@hono/zod-openapi';
import { zGetDocsAssetPath, zGetDocsAssetResponse, zGetDocsResponse, zPathNotFound } from '../../generated/zod.gen';
import { answer, serviceRoute } from '../service';
import { packageRoot } from '../spec';
import { frontPageRoutes } from './front-page';

const page = serviceRoute('/docs', 'getDocs', { 200: answer('The page', 'text/html', zGetDocsResponse) });
const withSlash = serviceRoute('/docs/', 'getDocsWithSlash', {
  308: { description: 'The page is at /docs', headers: z.object({ Location: z.enum(['../docs']) }) },
});
const favicon = serviceRoute('/favicon.ico', 'getFavicon', { 204: { description: 'No icon' } });
const asset = serviceRoute(
  '/docs/{asset}',
  'getDocsAsset',
  {
    200: { description: 'The file', content: { 'text/javascript': { schema: zGetDocsAssetResponse } } },
    404: answer('No such file', 'application/json', zPathNotFound),
  },
  { params: zGetDocsAssetPath },
);

// Relative URLs, so the page also works behind a path prefix.
const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Bitrix24 session transfer gateway: API reference</title>
</head>
<body>
<div id="redoc"></div>
<script src="docs/redoc.standalone.js"></script>
<script src="docs/docs.js"></script>
</body>
</html>
`;

// Every response open (each error code shows at once), the served spec, nothing from another host. Once
// rendered, the first tag of the sidebar (the Bitrix24 methods; Redoc keeps one tag open at a time) is
// opened, so that the operations are on the first screen beside the document's sections.
const init = `const root = document.getElementById('redoc');
Redoc.init('openapi.json', {
  expandResponses: 'all',
  jsonSampleExpandLevel: 3,
  pathInMiddlePanel: true,
  requiredPropsFirst: true,
  // Wide enough for the longest method name in full (imopenlines.bot.session.message.send).
  theme: { sidebar: { width: '340px' } },
}, root, () => {
  const first = root.querySelector('.menu-content li[data-item-id^="tag/"] > label');
  // Opening it also scrolls to it; a link to a section (a #hash) keeps its place instead.
  if (!location.hash && first && first.nextElementSibling?.getBoundingClientRect().height === 0) first.click();
});
`;

// Redoc styles elements inline and runs its search in a worker made from a blob; everything else comes
// from this origin only.
const contentSecurityPolicy =
  "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/**
 * Redoc's one self-contained file: copied into dist/ by the build (Redoc is a devDependency, so production
 * has no node_modules/redoc), or read from the package when the gateway runs from its sources.
 */
function redocBundle(): Uint8Array {
  const built = join(packageRoot(), 'dist', 'docs', 'redoc.standalone.js');
  const file = existsSync(built) ? built : createRequire(import.meta.url).resolve('redoc/bundles/redoc.standalone.js');
  return readFileSync(file);
}

/** A value made on first use: the gateway's start does not read the megabyte of Redoc nobody may ask for. */
function once<T>(make: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= make());
}

/** `/docs`: Redoc for the served spec, from the redoc package (no CDN); and `/`, the page that points to it. */
export function docsRoutes(): OpenAPIHono {
  const assets: Record<z.infer<typeof zGetDocsAssetPath>['asset'], () => Uint8Array | string> = {
    'redoc.standalone.js': once(redocBundle),
    'docs.js': () => init,
  };
  const app = new OpenAPIHono();
  app.route('/', frontPageRoutes());
  app.openapi(page, (c) => c.html(html, 200, { 'Content-Security-Policy': contentSecurityPolicy }) as never);
  app.openapi(withSlash, (c) => c.body(null, 308, { Location: '../docs' }) as never);
  app.openapi(favicon, (c) => c.body(null, 204, { 'cache-control': 'public, max-age=86400' }) as never);
  app.openapi(
    asset,
    (c) => {
      const body = assets[(c.req.valid('param' as never) as z.infer<typeof zGetDocsAssetPath>).asset]();
      return c.body(body as never, 200, {
        'content-type': 'text/javascript; charset=utf-8',
        'cache-control': 'public, max-age=3600',
      }) as never;
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
