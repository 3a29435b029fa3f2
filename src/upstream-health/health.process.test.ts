// The built gateway learns how its portal is (issue 32), through real listeners: a portal that is down, one
// that refuses the gateway's webhook, then one that takes it; and in OAuth mode a portal that answers at all.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type RunningEmulator, startEmulator } from '../emulator';
import { closedPort } from '../test-support/ports';
import { type GatewayProcess, startGatewayProcess } from '../test-support/processes';

const KEY = 'health-test-key-0123456789';
const CODE = 'gatewayscode';
const TRANSFER = '/rest/imopenlines.bot.session.transfer';

let gateway: GatewayProcess | undefined;
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await gateway?.stop();
  await emulator?.close();
  gateway = undefined;
  emulator = undefined;
});

interface Readiness {
  status: number;
  body: { status: string; upstream?: { state: string; problem?: string } };
}

async function readiness(url: string): Promise<Readiness> {
  const response = await fetch(`${url}/readyz`);
  return { status: response.status, body: await response.json() };
}

/** Polls /readyz until Bitrix24's state is `state` (the probe runs every 200 ms while idle). */
async function until(url: string, state: string, timeoutMs = 10_000): Promise<Readiness> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = await readiness(url);
    if (now.body.upstream?.state === state) return now;
    if (Date.now() > deadline) throw new Error(`upstream never ${state}: ${JSON.stringify(now.body)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A transfer from a caller with a valid key; CHAT_ID 4034 is the emulator's test value for insufficient_scope. */
const transfer = (url: string, chatId = 112) =>
  fetch(`${url}${TRANSFER}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ CHAT_ID: chatId, USER_ID: 12 }),
  });

const upstreamLines = (lines: string[]) =>
  lines
    .map((line) => JSON.parse(line) as { upstream?: string; was?: string; msg: string })
    .filter((line) => line.was !== undefined);

describe('the built gateway knows its portal (webhook mode)', () => {
  it('says unreachable and stays ready while the portal is down, 503 while it refuses the webhook, ok when it takes it', async () => {
    const port = await closedPort();
    gateway = await startGatewayProcess({
      BITRIX24_WEBHOOK_URL: `http://127.0.0.1:${port}/rest/1/${CODE}/`,
      BITRIX24_CLIENT_ID: 'emulator.bot',
      GATEWAY_API_KEYS: `alpha:${KEY}`,
      UPSTREAM_PROBE_INTERVAL_MS: '200',
      UPSTREAM_TIMEOUT_MS: '1000',
      LOG_LEVEL: 'info',
    });
    const { url } = gateway;

    // Down: ready (every replica would be down alike), and it says why.
    const down = await until(url, 'unreachable');
    expect(down.status).toBe(200);
    expect(down.body).toMatchObject({
      status: 'ready',
      upstream: { state: 'unreachable', problem: 'Bitrix24 could not be reached (ECONNREFUSED)' },
    });

    // It comes back, with another webhook code than the gateway's: the emulator's auth error.
    emulator = await startEmulator({ port, rateLimit: { enabled: false, drainPerSecond: 2, burst: 50 } });
    const refused = await until(url, 'refused');
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({
      status: 'not-ready',
      upstream: {
        state: 'refused',
        problem:
          "Bitrix24 refused the gateway's webhook (BITRIX24_WEBHOOK_URL) with NO_AUTH_FOUND: its user or code is wrong, or the webhook was deleted",
      },
    });
    expect(JSON.stringify(refused.body)).not.toContain(CODE);

    // A caller with a valid key gets Bitrix24's status and code, and learns it is the gateway's webhook.
    const answer = await transfer(url);
    expect(answer.status).toBe(401);
    const body = (await answer.json()) as { error: string; error_description: string };
    expect(body.error).toBe('NO_AUTH_FOUND');
    expect(body.error_description).toBe(
      "Bitrix24 refused the gateway's own webhook (BITRIX24_WEBHOOK_URL), not the caller's key: the gateway's operator must fix it. Bitrix24 said: Wrong authorization data",
    );
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toContain('gateway_upstream_webhook_refused_total{code="NO_AUTH_FOUND"} 1\n');

    // The portal now takes the gateway's webhook: the next probe turns it ok, and ready.
    await emulator.close();
    emulator = await startEmulator({
      port,
      webhook: { userId: '1', code: CODE },
      rateLimit: { enabled: false, drainPerSecond: 2, burst: 50 },
    });
    const ok = await until(url, 'ok');
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ status: 'ready', upstream: { state: 'ok' } });
    expect((await transfer(url)).status).toBe(200);
    expect(emulator.stats.calls).toBe(1);

    // One line per change, saying why (lines are written within 100 ms).
    const lines = gateway.lines;
    await expect.poll(() => upstreamLines(lines).length).toBe(3);
    const changes = upstreamLines(lines);
    expect(changes.map((line) => [line.was, line.upstream])).toEqual([
      ['unknown', 'unreachable'],
      ['unreachable', 'refused'],
      ['refused', 'ok'],
    ]);
    expect(changes[1]!.msg).toBe(
      "Upstream refused: Bitrix24 refused the gateway's webhook (server.time: 401 NO_AUTH_FOUND)",
    );

    // A webhook without the scope: refused on a caller's call (server.time needs no scope), said so, counted.
    const scope = await transfer(url, 4034);
    expect(scope.status).toBe(403);
    expect(await scope.json()).toEqual({
      error: 'insufficient_scope',
      error_description:
        "Bitrix24 refused the gateway's own webhook (BITRIX24_WEBHOOK_URL), not the caller's key: the gateway's operator must fix it. Bitrix24 said: The request requires higher privileges than provided by the webhook token",
    });
    expect(await (await fetch(`${url}/metrics`)).text()).toContain(
      'gateway_upstream_webhook_refused_total{code="insufficient_scope"} 1\n',
    );
    for (const line of gateway.lines) expect(line).not.toContain(CODE);
  });
});

describe('the built gateway knows its portal (OAuth mode)', () => {
  it('takes any answer as reachable: the probe without credentials gets 401, and the portal is ok', async () => {
    emulator = await startEmulator({ port: 0, rateLimit: { enabled: false, drainPerSecond: 2, burst: 50 } });
    gateway = await startGatewayProcess({
      BITRIX24_PORTAL_URL: emulator.url,
      UPSTREAM_PROBE_INTERVAL_MS: '200',
      LOG_LEVEL: 'info',
    });
    const ok = await until(gateway.url, 'ok');
    expect(ok).toMatchObject({ status: 200, body: { status: 'ready', upstream: { state: 'ok' } } });
    // Probes every 200 ms while idle: none was a call of a method.
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(emulator.stats.calls).toBe(0);
    // The caller's own token refused (the emulator's test value 4011): relayed as Bitrix24 wrote it, not
    // counted as the gateway's, and the portal stays ok.
    const answer = await fetch(`${gateway.url}${TRANSFER}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ CHAT_ID: 4011, USER_ID: 12, auth: 'callers-token' }),
    });
    expect([answer.status, await answer.json()]).toEqual([
      401,
      { error: 'NO_AUTH_FOUND', error_description: 'Wrong authorization data' },
    ]);
    expect(await (await fetch(`${gateway.url}/metrics`)).text()).not.toContain(
      'gateway_upstream_webhook_refused_total{',
    );
    expect(await readiness(gateway.url)).toMatchObject({ status: 200, body: { upstream: { state: 'ok' } } });
    const lines = gateway.lines;
    await expect.poll(() => upstreamLines(lines).length).toBe(1);
    expect(upstreamLines(lines).map((line) => line.upstream)).toEqual(['ok']);
  });
});

describe("a portal that quotes the gateway's webhook in its refusal", () => {
  let portal: Server | undefined;
  afterEach(
    () =>
      new Promise<void>((resolve) => {
        if (!portal) return resolve();
        portal.close(() => resolve());
        portal.closeAllConnections();
      }),
  );

  it("has it redacted in the caller's description and never in /readyz nor the log", async () => {
    portal = createServer((request, response) => {
      request.resume();
      response.writeHead(401, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ error: 'NO_AUTH_FOUND', error_description: `No webhook ${CODE} for user 1` }));
    });
    await new Promise<void>((resolve) => portal!.listen(0, '127.0.0.1', resolve));
    const { port } = portal.address() as AddressInfo;
    gateway = await startGatewayProcess({
      BITRIX24_WEBHOOK_URL: `http://127.0.0.1:${port}/rest/1/${CODE}/`,
      BITRIX24_CLIENT_ID: 'emulator.bot',
      GATEWAY_API_KEYS: `alpha:${KEY}`,
      UPSTREAM_PROBE_INTERVAL_MS: '200',
      LOG_LEVEL: 'info',
    });
    const refused = await until(gateway.url, 'refused');
    expect(refused.status).toBe(503);
    const answer = await transfer(gateway.url);
    const text = await answer.text();
    expect(answer.status).toBe(401);
    expect(JSON.parse(text)).toEqual({
      error: 'NO_AUTH_FOUND',
      error_description:
        "Bitrix24 refused the gateway's own webhook (BITRIX24_WEBHOOK_URL), not the caller's key: the gateway's operator must fix it. Bitrix24 said: No webhook [redacted] for user 1",
    });
    expect(JSON.stringify(refused.body)).not.toContain(CODE);
    const lines = gateway.lines;
    await expect.poll(() => upstreamLines(lines).length).toBe(1);
    for (const line of lines) expect(line).not.toContain(CODE);
  });
});
