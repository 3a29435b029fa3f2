// The TypeScript SDK generated from the spec (generated/) calling a real gateway.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../generated/client';
import { getHealth, transferSession, transferSessionJson } from '../../generated/sdk.gen';
import { type Stack, startStack } from '../test-support/stack';

const key = 'sdk-team-key-0123456789';
let stack: Stack;
let client: ReturnType<typeof createClient>;
beforeAll(async () => {
  stack = await startStack({ config: { apiKeys: new Map([[key, 'sdk']]), allowAnonymous: false } });
  client = createClient({ baseUrl: stack.gateway.url, auth: key });
});
afterAll(() => stack.close());

describe('the generated SDK', () => {
  it('transfers a dialogue and gets the typed result', async () => {
    const { data, error, response } = await transferSession({
      client,
      body: { CHAT_ID: 112, USER_ID: 12, LEAVE: 'N' },
    });
    expect(response.status).toBe(200);
    expect(error).toBeUndefined();
    expect(data?.result).toBe(true);
    expect(typeof data?.time.duration).toBe('number');
  });

  it('gets a documented error as a typed value', async () => {
    const { data, error, response } = await transferSessionJson({ client, body: { CHAT_ID: 5 } });
    expect(response.status).toBe(400);
    expect(data).toBeUndefined();
    expect(error).toEqual({ error: 'TRANSFER_ID_EMPTY', error_description: expect.any(String) });
  });

  it('sends the API key as a bearer token', async () => {
    const anonymous = createClient({ baseUrl: stack.gateway.url });
    const { error, response } = await transferSession({ client: anonymous, body: { CHAT_ID: 1, USER_ID: 2 } });
    expect(response.status).toBe(401);
    expect(error).toMatchObject({ error: 'GATEWAY_AUTH_REQUIRED' });
  });

  it("runs the README's example as written (examples/typescript/transfer.ts)", async () => {
    const tsx = new URL('../../node_modules/.bin/tsx', import.meta.url).pathname;
    const example = new URL('../../examples/typescript/transfer.ts', import.meta.url).pathname;
    const { stdout } = await promisify(execFile)(tsx, [example], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, GATEWAY_URL: stack.gateway.url, GATEWAY_KEY: key },
    });
    expect(stdout).toMatch(/^true \d+(\.\d+)?\n$/);
  });

  it('reads the health endpoint', async () => {
    expect((await getHealth({ client })).data).toEqual({ status: 'ok' });
  });
});
