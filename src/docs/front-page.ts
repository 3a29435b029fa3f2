import { OpenAPIHono } from '@hono/zod-openapi';
import { zGetIndexResponse } from '../../generated/zod.gen';
import { answer, serviceRoute } from '../service';

const route = serviceRoute('/', 'getIndex', { 200: answer('The page', 'text/html', zGetIndexResponse) });

/** The gateway's own endpoints, as the front page names them: [relative link, what it is]. */
export const endpoints: readonly (readonly [string, string])[] = [
  ['docs', 'the API reference (Redoc): every method, parameter, error code and example'],
  ['openapi.json', 'the OpenAPI document this gateway serves, for client generators and fuzzers'],
  ['openapi.yaml', 'the same document as YAML'],
  ['healthz', 'liveness'],
  ['readyz', 'readiness (503 while it stops)'],
  ['metrics', 'Prometheus metrics'],
];

// Relative links, so the page also works behind a path prefix. Nothing to load: no script, style or image.
const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Bitrix24 chat-bot session gateway</title>
</head>
<body>
<h1>Bitrix24 chat-bot session gateway</h1>
<p>A validating gateway for <code>imopenlines.bot.session.transfer</code>, <code>.operator</code>,
<code>.message.send</code> and <code>.finish</code>: call them with <code>POST /rest/&lt;method&gt;</code>,
as you would call Bitrix24.</p>
<ul>
${endpoints.map(([path, what]) => `<li><a href="${path}">/${path}</a>: ${what}</li>`).join('\n')}
</ul>
</body>
</html>
`;

// The page loads nothing, so the policy allows nothing but the page's own links.
const contentSecurityPolicy = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** `GET /`: a page for a person who opens the gateway's address in a browser. */
export function frontPageRoutes(): OpenAPIHono {
  const app = new OpenAPIHono();
  app.openapi(route, (c) => c.html(html, 200, { 'Content-Security-Policy': contentSecurityPolicy }) as never);
  return app;
}
