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
