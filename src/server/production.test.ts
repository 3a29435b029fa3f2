// Production behaviour against the emulator with its real bucket enforced, at scaled rates: shaping,
// bounds, retries, request ids, metrics, secure headers and graceful shutdown.
import { describe, expect, it } from 'vitest';
import { createLogger } from '../logger';
import { sendRaw } from '../test-support/raw-http';
import { type Stack, startStack, TRANSFER } from '../test-support/stack';
import { gatewayApp, Lifecycle } from './app';

const transfer = (stack: Stack, team: 'alpha' | 'beta' | 'anonymous', chatId = 1) =>
  stack.post(
    TRANSFER,
    { CHAT_ID: chatId, USER_ID: 2 },
    { headers: team === 'anonymous' ? {} : { authorization: `Bearer ${team}-key-0123456789` } },
  );
const teams = {
  config: {
    apiKeys: new Map([
      ['alpha-key-0123456789', 'alpha'],
      ['beta-key-0123456789', 'beta'],
    ]),
    allowAnonymous: false,
  },
};

async function withStack(
  options: Parameters<typeof startStack>[0],
  test: (stack: Stack) => Promise<void>,
): Promise<void> {
  const stack = await startStack(options);
  try {
    await test(stack);
  } finally {
    await stack.close();
  }
}

describe('shaping', () => {
  it('lets a burst of many concurrent transfers through, none seeing QUERY_LIMIT_EXCEEDED, the portal never over its limit', () =>
    withStack(
      {
        ...teams,
        // Scaled from 2/s to 10/s; the limiter's headroom (a quarter second of requests) absorbs the
        // arrival jitter of a busy two-core machine.
        config: { ...teams.config, rateLimit: { drainPerSecond: 10, burst: 5, maxQueue: 100, maxWaitMs: 5_000 } },
        emulator: { rateLimit: { enabled: true, drainPerSecond: 10, burst: 5 } },
      },
      async (stack) => {
        const answers = await Promise.all(
          Array.from({ length: 24 }, (_, i) => transfer(stack, i % 3 ? 'alpha' : 'beta', i + 1)),
        );
        expect(answers.map((a) => a.status)).toEqual(Array(24).fill(200));
        expect(stack.emulator.stats.rejectedByRateLimit).toBe(0);
        expect(stack.emulator.stats.maxBucketLevel).toBeLessThanOrEqual(5);
        expect(stack.emulator.received).toHaveLength(24);
        expect(await metric(stack, 'gateway_limiter_wait_seconds_count')).toBe(24);
      },
    ));

  it("answers past the queue's length at once, 503 with Retry-After, without calling Bitrix24", () =>
    withStack(
      // Rates slow enough that the queue cannot move while ten requests arrive, even on a busy machine.
      {
        config: { rateLimit: { drainPerSecond: 2, burst: 2, maxQueue: 3, maxWaitMs: 5_000 } },
        emulator: { rateLimit: { enabled: true, drainPerSecond: 2, burst: 2 } },
      },
      async (stack) => {
        const finished: number[] = [];
        const answers = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            stack.post(TRANSFER, { CHAT_ID: i + 1, USER_ID: 2 }).then((a) => {
              finished.push(a.status);
              return a;
            }),
          ),
        );
        const refused = answers.filter((a) => a.status === 503);
        expect(answers.filter((a) => a.status === 200)).toHaveLength(4);
        expect(refused).toHaveLength(6);
        for (const answer of refused) {
          expect(answer.body.error).toBe('QUERY_LIMIT_EXCEEDED');
          expect(Number(answer.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
        }
        // The refusals came back before the queue moved: no refused request waited its turn.
        expect(finished.slice(0, 7).filter((status) => status === 503)).toHaveLength(6);
        expect(stack.emulator.received).toHaveLength(4);
        expect(stack.emulator.stats.rejectedByRateLimit).toBe(0);
        expect(await metric(stack, 'gateway_limiter_rejections_total{reason="queue-full"}')).toBe(6);
      },
    ));

  it('answers a request that would wait too long at once', () =>
    withStack(
      { config: { rateLimit: { drainPerSecond: 2, burst: 2, maxQueue: 100, maxWaitMs: 300 } } },
      async (stack) => {
        expect((await transfer(stack, 'anonymous')).status).toBe(200);
        const answer = await transfer(stack, 'anonymous');
        expect([answer.status, answer.body.error, answer.headers.get('retry-after')]).toEqual([
          503,
          'QUERY_LIMIT_EXCEEDED',
          '1',
        ]);
        expect(stack.emulator.received).toHaveLength(1);
      },
    ));
});

describe('retries', () => {
  it("retries Bitrix24's QUERY_LIMIT_EXCEEDED (other applications share the bucket) until the transfer goes through", () =>
    withStack(
      {
        // The gateway thinks it may send 1000/s, but the portal allows a burst of 2 at 20/s.
        config: { retry: { deadlineMs: 5_000, baseDelayMs: 50 } },
        emulator: { rateLimit: { enabled: true, drainPerSecond: 20, burst: 2 } },
      },
      async (stack) => {
        const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => transfer(stack, 'anonymous', i + 1)));
        expect(answers.map((a) => a.status)).toEqual(Array(6).fill(200));
        expect(stack.emulator.stats.rejectedByRateLimit).toBeGreaterThan(0);
        expect(await metric(stack, 'gateway_upstream_retries_total{reason="query-limit"}')).toBe(
          stack.emulator.stats.rejectedByRateLimit,
        );
        // Every transfer was executed once: a retry only repeats a call Bitrix24 refused.
        const executed = stack.emulator.received.filter((_call, i) => i >= 0).map((call) => call.params.CHAT_ID);
        expect(new Set(executed)).toEqual(new Set([1, 2, 3, 4, 5, 6]));
      },
    ));

  it('never retries a timeout: the call may have been executed', () =>
    withStack(
      {
        config: { upstreamTimeoutMs: 200, retry: { deadlineMs: 5_000, baseDelayMs: 10 } },
        emulator: { slowResponseMs: 2_000 },
      },
      async (stack) => {
        const answer = await transfer(stack, 'anonymous', 5904);
        expect([answer.status, answer.body.error]).toEqual([504, 'UPSTREAM_TIMEOUT']);
        expect(stack.emulator.received).toHaveLength(1);
      },
    ));

  it("pauses the method when the portal's operating time runs out, until operating_reset_at", () =>
    withStack(
      { emulator: { operatingLimit: { enabled: true, limitSeconds: 2, costPerCallSeconds: 1, windowSeconds: 600 } } },
      async (stack) => {
        expect((await transfer(stack, 'anonymous')).status).toBe(200);
        const second = await transfer(stack, 'anonymous');
        expect(second.status).toBe(200);
        const resetAt = second.body.time.operating_reset_at as number;
        const relayed = await transfer(stack, 'anonymous');
        expect([relayed.status, relayed.body.error]).toEqual([429, 'OPERATION_TIME_LIMIT']);
        // The pause lasts until the operating_reset_at Bitrix24 reported (the oldest basket leaving its window).
        expect(Number(relayed.headers.get('retry-after'))).toBeCloseTo(resetAt - Date.now() / 1000, -1);
        const held = await transfer(stack, 'anonymous');
        expect([held.status, held.body.error]).toEqual([429, 'OPERATION_TIME_LIMIT']);
        expect(stack.emulator.received).toHaveLength(3);
      },
    ));
});

describe('observability', () => {
  it('echoes a valid X-Request-Id and makes one otherwise, in the answer and the log line', () =>
    withStack({}, async (stack) => {
      const echoed = await stack.post(TRANSFER, { CHAT_ID: 1 }, { headers: { 'x-request-id': 'trace-abc-123' } });
      expect(echoed.headers.get('x-request-id')).toBe('trace-abc-123');
      const made = await stack.post(TRANSFER, { CHAT_ID: 1 }, { headers: { 'x-request-id': 'not valid!' } });
      expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      const lines = stack.logs.filter((line) => line.msg === 'request');
      expect(lines.map((line) => line.reqId)).toEqual(['trace-abc-123', made.headers.get('x-request-id')]);
      expect(lines[0]).toMatchObject({ route: TRANSFER, status: 400, code: 'TRANSFER_ID_EMPTY', team: 'anonymous' });
    }));

  it('counts requests by status, code and team in /metrics, never a key', () =>
    withStack(teams, async (stack) => {
      await transfer(stack, 'alpha');
      await transfer(stack, 'beta', 4001);
      const text = await (await fetch(`${stack.gateway.url}/metrics`)).text();
      expect(text).toMatch(
        /gateway_requests_total\{operation="\/rest\/imopenlines\.bot\.session\.transfer",status="200",code="",team="alpha"\} 1/,
      );
      expect(text).toMatch(/gateway_requests_total\{[^}]*status="400",code="BOT_ID_ERROR",team="beta"\} 1/);
      expect(text).toContain('gateway_upstream_duration_seconds_bucket');
      expect(text).toContain('gateway_limiter_queue_depth 0');
      expect(text).toContain('process_cpu_user_seconds_total');
      expect(text).not.toContain('-key-0123456789');
    }));

  it('sends secure headers', () =>
    withStack({}, async (stack) => {
      const answer = await transfer(stack, 'anonymous');
      expect(answer.headers.get('x-content-type-options')).toBe('nosniff');
      expect(answer.headers.get('strict-transport-security')).toBeTruthy();
      expect(answer.headers.get('x-powered-by')).toBeNull();
    }));
});

describe('graceful shutdown', () => {
  it('finishes the request in flight, then refuses new ones', async () => {
    const stack = await startStack({ config: { upstreamTimeoutMs: 5_000 }, emulator: { slowResponseMs: 400 } });
    const inFlight = transfer(stack, 'anonymous', 5904);
    for (let i = 0; i < 200 && stack.emulator.received.length === 0; i++)
      await new Promise((resolve) => setTimeout(resolve, 10));
    expect(stack.emulator.received).toHaveLength(1);
    const closed = stack.gateway.close();
    const answer = await inFlight;
    expect(answer.status).toBe(200);
    await closed;
    await expect(transfer(stack, 'anonymous')).rejects.toThrow();
    expect(stack.emulator.received).toHaveLength(1);
    await stack.emulator.close();
  });

  it('when SHUTDOWN_TIMEOUT_MS runs out, answers a transfer still waiting for Bitrix24 504 UPSTREAM_TIMEOUT, and one waiting in the queue 503 GATEWAY_SHUTTING_DOWN, before closing', async () => {
    const stack = await startStack({
      config: {
        shutdownTimeoutMs: 300,
        upstreamTimeoutMs: 10_000,
        rateLimit: { drainPerSecond: 0.1, burst: 2, maxQueue: 10, maxWaitMs: 20_000 },
      },
      emulator: { slowResponseMs: 10_000 },
    });
    const waitingForBitrix24 = transfer(stack, 'anonymous', 5904);
    for (let i = 0; i < 200 && stack.emulator.received.length === 0; i++)
      await new Promise((resolve) => setTimeout(resolve, 10));
    const waitingInQueue = transfer(stack, 'anonymous');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(stack.gateway.metrics.registry.getSingleMetric('gateway_limiter_queue_depth')).toBeDefined();
    const started = Date.now();
    const closed = stack.gateway.close();
    const [sent, queued] = await Promise.all([waitingForBitrix24, waitingInQueue]);
    expect([sent.status, sent.body.error]).toEqual([504, 'UPSTREAM_TIMEOUT']);
    expect(sent.body.error_description).toContain('stopped before Bitrix24 answered');
    expect([queued.status, queued.body.error, queued.headers.get('retry-after')]).toEqual([
      503,
      'GATEWAY_SHUTTING_DOWN',
      '1',
    ]);
    await closed;
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(stack.emulator.received).toHaveLength(1);
    await stack.emulator.close();
  });

  it('answers a request pipelined behind a slow one during the drain 503 GATEWAY_SHUTTING_DOWN, not silence', async () => {
    const stack = await startStack({ config: { upstreamTimeoutMs: 5_000 }, emulator: { slowResponseMs: 600 } });
    const request = (chatId: number, id: string) => {
      const body = JSON.stringify({ CHAT_ID: chatId, USER_ID: 2 });
      return `POST ${TRANSFER} HTTP/1.1\r\nHost: g\r\nX-Request-Id: ${id}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    };
    const pipelined = sendRaw(stack.gateway.url, [request(5904, 'slow'), 200, request(1, 'behind')], {
      timeoutMs: 5_000,
    });
    for (let i = 0; i < 200 && stack.emulator.received.length === 0; i++)
      await new Promise((resolve) => setTimeout(resolve, 10));
    const closed = stack.gateway.close();
    const result = await pipelined;
    expect(
      result.answers.map((a) => [a.status, a.headers.get('x-request-id'), (a.body as { error?: string }).error]),
    ).toEqual([
      [200, 'slow', undefined],
      [503, 'behind', 'GATEWAY_SHUTTING_DOWN'],
    ]);
    expect(result.closedByServer).toBe(true);
    await closed;
    expect(stack.emulator.received).toHaveLength(1);
    await stack.emulator.close();
  });

  it('answers 503 GATEWAY_SHUTTING_DOWN and readiness 503 once stopping', async () => {
    const lifecycle = new Lifecycle();
    const app = gatewayApp({
      config: { apiKeys: new Map(), allowAnonymous: true, bodyLimitBytes: 1_024 },
      mode: 'webhook',
      callUpstream: () => Promise.reject(new Error('must not be called')),
      logger: createLogger('silent'),
      lifecycle,
    });
    expect((await app.request('/readyz')).status).toBe(200);
    lifecycle.shuttingDown = true;
    const refused = await app.request(TRANSFER, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"CHAT_ID":1,"USER_ID":2}',
    });
    expect([refused.status, (await refused.json()).error, refused.headers.get('retry-after')]).toEqual([
      503,
      'GATEWAY_SHUTTING_DOWN',
      '1',
    ]);
    const readiness = await app.request('/readyz');
    expect([readiness.status, await readiness.json()]).toEqual([
      503,
      { status: 'shutting-down', limiter: 'in-process' },
    ]);
    expect((await app.request('/healthz')).status).toBe(200);
  });
});

async function metric(stack: Stack, series: string): Promise<number> {
  const text = await stack.gateway.metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

describe('W3C trace context', () => {
  const incoming = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

  it("logs the caller's trace with the request and passes it on to Bitrix24 as the gateway's own span", () =>
    withStack({}, async (stack) => {
      const received: (string | undefined)[] = [];
      const upstream = stack.emulator;
      const answer = await stack.post(
        TRANSFER,
        { CHAT_ID: 1, USER_ID: 2 },
        { headers: { traceparent: incoming, tracestate: 'team=a' } },
      );
      expect(answer.status).toBe(200);
      const line = stack.logs.find((l) => l.msg === 'request' && l.route === TRANSFER)!;
      expect(line).toMatchObject({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', parentSpanId: '00f067aa0ba902b7' });
      const call = upstream.received.at(-1)!;
      received.push(call.headers.traceparent, call.headers.tracestate);
      expect(received).toEqual([`00-4bf92f3577b34da6a3ce929d0e0e4736-${line.spanId}-01`, 'team=a']);
    }));

  it('starts a new trace when the caller sends none (or an invalid one), and never refuses the request for it', () =>
    withStack({}, async (stack) => {
      for (const headers of [{}, { traceparent: 'not-a-trace' }] as Record<string, string>[]) {
        const answer = await stack.post(TRANSFER, { CHAT_ID: 1, USER_ID: 2 }, { headers });
        expect(answer.status).toBe(200);
        const line = stack.logs.filter((l) => l.msg === 'request').at(-1)!;
        expect(line.traceId).toMatch(/^[0-9a-f]{32}$/);
        expect(line.parentSpanId).toBeUndefined();
        expect(stack.emulator.received.at(-1)!.headers.traceparent).toBe(`00-${line.traceId}-${line.spanId}-00`);
      }
    }));
});
