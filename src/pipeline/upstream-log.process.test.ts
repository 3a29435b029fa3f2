// Every log line about a request's upstream call carries the request's id (`reqId`, as the access log and
// X-Request-Id name it), so that an operator can match it to the call: the built gateway (`npm run build`
// first), its webhook on a port where nothing listens.
import { afterEach, describe, expect, it } from 'vitest';
import { closedPort } from '../test-support/ports';
import { type GatewayProcess, loggedLine, startGatewayProcess } from '../test-support/processes';

const running: GatewayProcess[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((started) => started.stop()));
});

describe("a request's upstream failure in the log", () => {
  it('carries the reqId of the answer it was logged for', async () => {
    const key = 'alpha-key-0123456789';
    const started = await startGatewayProcess({
      BITRIX24_WEBHOOK_URL: `http://127.0.0.1:${await closedPort()}/rest/1/c0de/`,
      BITRIX24_CLIENT_ID: 'bot.1',
      GATEWAY_API_KEYS: `alpha:${key}`,
    });
    running.push(started);
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const response = await fetch(`${started.url}/rest/imopenlines.bot.session.transfer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ CHAT_ID: 112, USER_ID: 12 }),
      });
      expect(response.status).toBe(502);
      expect(((await response.json()) as { error: string }).error).toBe('UPSTREAM_UNREACHABLE');
      ids.push(response.headers.get('x-request-id')!);
    }
    expect(new Set(ids).size).toBe(2);
    for (const id of ids) {
      const line = JSON.parse(
        await loggedLine(started, (l) => l.includes('Bitrix24 gave no answer') && l.includes(`"reqId":"${id}"`)),
      ) as { reqId: string; upstream: string; level: number };
      expect(line).toMatchObject({ reqId: id, upstream: 'unreachable', level: 40 });
      // The access log names the same request by the same field.
      await loggedLine(started, (l) => l.includes(`"reqId":"${id}"`) && !l.includes('Bitrix24 gave no answer'));
    }
  });
});
