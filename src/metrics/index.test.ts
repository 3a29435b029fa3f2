import { describe, expect, it } from 'vitest';
import { Metrics } from '.';

const series = async (metrics: Metrics) =>
  (await metrics.registry.getSingleMetric('gateway_requests_total')!.get()).values.map((v) => v.labels);

describe('gateway_requests_total', () => {
  it('keeps documented codes, statuses and short names as they are', async () => {
    const metrics = new Metrics({ queueDepth: () => 0 });
    metrics.countRequest({
      operation: '/rest/imopenlines.bot.session.transfer',
      status: 400,
      code: 'CHAT_ID_EMPTY',
      team: 'alpha',
    });
    expect(await series(metrics)).toEqual([
      { operation: '/rest/imopenlines.bot.session.transfer', status: 400, code: 'CHAT_ID_EMPTY', team: 'alpha' },
    ]);
  });

  it('folds anything else into "other", so no value from outside can make a new series', async () => {
    const metrics = new Metrics({ queueDepth: () => 0 });
    for (const code of ['x', '__proto__', 'constructor', 'I_AM_A_TEAPOT', 'a'.repeat(10_000)]) {
      metrics.countRequest({
        operation: 'o'.repeat(200),
        status: Number.POSITIVE_INFINITY,
        code,
        team: 't'.repeat(200),
      });
    }
    expect(await series(metrics)).toEqual([{ operation: 'other', status: 'other', code: 'other', team: 'other' }]);
  });

  it('never throws into the request', () => {
    const metrics = new Metrics({ queueDepth: () => 0 });
    expect(() =>
      metrics.countRequest({
        operation: undefined as never,
        status: Number.NaN,
        code: undefined as never,
        team: {} as never,
      }),
    ).not.toThrow();
  });
});

describe('gateway_upstream_webhook_refused_total', () => {
  it("counts Bitrix24's refusals of the gateway's webhook by code, anything else as other", async () => {
    const metrics = new Metrics({ queueDepth: () => 0 });
    for (const code of ['NO_AUTH_FOUND', 'NO_AUTH_FOUND', 'insufficient_scope', '__proto__', 'x'.repeat(500)]) {
      metrics.countWebhookRefused(code);
    }
    const values = (await metrics.registry.getSingleMetric('gateway_upstream_webhook_refused_total')!.get()).values;
    expect(values.map((v) => [v.labels.code, v.value])).toEqual([
      ['NO_AUTH_FOUND', 2],
      ['insufficient_scope', 1],
      ['other', 2],
    ]);
  });
});

describe('gateway_portals', () => {
  it('reports the portals by state as last read, reading the store in the background at most once a period', async () => {
    const metrics = new Metrics({ queueDepth: () => 0 });
    let reads = 0;
    let answer: () => Promise<Record<string, number>> = async () => ({ ready: 3, 'needs-reinstall': 1 });
    metrics.observePortals({
      states: () => {
        reads += 1;
        return answer();
      },
      unwritten: () => 2,
      everyMs: 60_000,
    });
    // The first scrape starts the read and reports nothing of it yet: a scrape never waits for the store.
    expect(await metrics.registry.metrics()).not.toContain('gateway_portals{');
    await expect.poll(async () => metrics.registry.metrics()).toContain('gateway_portals{state="ready"} 3');
    const text = await metrics.registry.metrics();
    expect(text).toContain('gateway_portals{state="needs-reinstall"} 1');
    expect(text).toContain('gateway_portals{state="installing"} 0');
    expect(text).toContain('gateway_portal_tokens_unwritten 2');
    // Within the period, no more reads; a store that fails leaves the last count.
    answer = () => Promise.reject(new Error('Redis away'));
    await metrics.registry.metrics();
    expect(reads).toBe(1);
  });

  it('keeps its labels to the fixed states, whatever the store answers', async () => {
    const metrics = new Metrics({ queueDepth: () => 0 });
    metrics.observePortals({
      states: async () => ({ ready: 1, '<script>': 5, ['x'.repeat(500)]: 1 }),
      unwritten: () => 0,
    });
    await metrics.registry.metrics();
    await expect.poll(async () => metrics.registry.metrics()).toContain('gateway_portals{state="ready"} 1');
    const text = await metrics.registry.metrics();
    expect(text).not.toContain('state="<script>"');
    expect(text.match(/^gateway_portals\{/gm)).toHaveLength(4);
  });
});
