import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { guard } from '.';

describe('guard', () => {
  const app = new Hono();
  const seen: string[] = [];
  app.use(
    guard((c) => {
      seen.push(c.req.path);
      return c.req.path === '/refused' ? c.text('refused', 403) : undefined;
    }),
  );
  app.use(
    guard((c) =>
      c.req.path === '/thrown'
        ? (() => {
            throw new Error('a bug');
          })()
        : undefined,
    ),
  );
  app.get('*', (c) => c.text('handled'));
  app.onError((error, c) => c.text(`error: ${error.message}`, 500));

  it("answers with the check's Response, and nothing after it runs", async () => {
    const response = await app.request('/refused');
    expect(response.status).toBe(403);
    expect(await response.text()).toBe('refused');
  });

  it('hands the request on when the check gives nothing', async () => {
    const response = await app.request('/passed');
    expect(await response.text()).toBe('handled');
    expect(seen).toContain('/passed');
  });

  it('lets what the check throws reach the error handler', async () => {
    const response = await app.request('/thrown');
    expect(response.status).toBe(500);
    expect(await response.text()).toBe('error: a bug');
  });
});
