import { afterEach, describe, expect, it } from 'vitest';
import { type RunningEmulator, startEmulator } from '.';
import { valid } from './testing';

const METHOD = 'imopenlines.bot.session.transfer';
let running: RunningEmulator | undefined;

afterEach(async () => {
  await running?.close();
  running = undefined;
});

const post = (url: string, body: object, init: RequestInit = {}) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), ...init });

describe('startEmulator', () => {
  it('serves the method on a free loopback port, like a portal', async () => {
    running = await startEmulator({ port: 0, webhook: { userId: '3', code: 's3cret' } });
    expect(running.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(running.webhookUrl).toBe(`${running.url}/rest/3/s3cret/`);

    const response = await post(`${running.webhookUrl}${METHOD}.json`, valid);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await response.json()).toMatchObject({ result: true, time: { operating: 0.01 } });

    const form = await fetch(`${running.webhookUrl}${METHOD}`, {
      method: 'POST',
      body: new URLSearchParams({ CHAT_ID: '0' }),
    });
    expect(form.status).toBe(400);
    expect(running.received.map((call) => call.params)).toEqual([valid, { CHAT_ID: '0' }]);
    expect(running.stats.calls).toBe(2);
  });

  it('drops the connection for 5903: fetch rejects, and the server goes on serving', async () => {
    running = await startEmulator({ port: 0 });
    await expect(post(`${running.webhookUrl}${METHOD}`, { ...valid, CHAT_ID: 5903 })).rejects.toThrow(TypeError);
    expect((await post(`${running.webhookUrl}${METHOD}`, valid)).status).toBe(200);
  });

  it('stops waiting for 5904 when the client gives up', async () => {
    running = await startEmulator({ port: 0, slowResponseMs: 60_000 });
    await expect(
      post(`${running.webhookUrl}${METHOD}`, { ...valid, CHAT_ID: 5904 }, { signal: AbortSignal.timeout(50) }),
    ).rejects.toThrow();
    expect((await post(`${running.webhookUrl}${METHOD}`, valid)).status).toBe(200);
  });

  it('close() stops listening at once, even with an answer pending', async () => {
    const emulator = await startEmulator({ port: 0, slowResponseMs: 60_000 });
    const url = `${emulator.webhookUrl}${METHOD}`;
    const pending = post(url, { ...valid, CHAT_ID: 5904 });
    const settled = pending.then(
      () => 'answered',
      () => 'dropped',
    );
    while (emulator.received.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const started = performance.now();
    await emulator.close();
    expect(await settled).toBe('dropped');
    expect(performance.now() - started).toBeLessThan(1000);
    await expect(post(url, valid)).rejects.toThrow();
  });
});
