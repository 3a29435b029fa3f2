// The TypeScript SDK generated from the spec (generated/) calling a real gateway.
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { createClient } from '../../generated/client';
import {
  finishSession,
  getHealth,
  operatorSession,
  sendSessionMessage,
  transferSession,
  transferSessionJson,
} from '../../generated/sdk.gen';
import type {
  FinishError400,
  FinishSessionErrors,
  MessageSendError400,
  OperatorError400,
  OperatorSessionErrors,
  SendSessionMessageErrors,
} from '../../generated/types.gen';
import { runProcess, tsx } from '../test-support/processes';
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

  // The transfer's three siblings, through the same client: a result each, and each one's 400 typed as
  // its own error schema (a union of that method's codes, not Error400's).
  it('hands a dialogue to an operator, sends a message and finishes a session, each with its typed result', async () => {
    const operator = await operatorSession({ client, body: { CHAT_ID: 112 } });
    expect(operator.response.status).toBe(200);
    expect(operator.data?.result).toBe(true);
    const sent = await sendSessionMessage({ client, body: { CHAT_ID: 112, NAME: 'DEFAULT', MESSAGE: 'Hello' } });
    expect(sent.response.status).toBe(200);
    expect(sent.data?.result).toBe(true);
    const finished = await finishSession({ client, body: { CHAT_ID: 112 } });
    expect(finished.response.status).toBe(200);
    expect(finished.data?.result).toBe(true);
    expect(typeof finished.data?.time.duration).toBe('number');
  });

  it("gets each sibling's 400 as its own typed error", async () => {
    expectTypeOf<OperatorSessionErrors[400]>().toEqualTypeOf<OperatorError400>();
    expectTypeOf<SendSessionMessageErrors[400]>().toEqualTypeOf<MessageSendError400>();
    expectTypeOf<FinishSessionErrors[400]>().toEqualTypeOf<FinishError400>();

    const operator = await operatorSession({ client, body: { CHAT_ID: 4003 } }); // emulator test value
    expect(operator.response.status).toBe(400);
    expect(operator.data).toBeUndefined();
    expect(operator.error).toEqual({ error: 'WRONG_CHAT', error_description: expect.any(String) });
    // WRONG_CHAT is a code of the operator's own 400; the transfer's TRANSFER_ID_EMPTY is not.
    expectTypeOf<'WRONG_CHAT'>().toExtend<OperatorError400['error']>();
    expectTypeOf<'TRANSFER_ID_EMPTY'>().not.toExtend<OperatorError400['error']>();

    const finished = await finishSession({ client, body: { CHAT_ID: 4001 } }); // emulator test value
    expect(finished.response.status).toBe(400);
    expect(finished.error).toEqual({ error: 'BOT_ID_ERROR', error_description: expect.any(String) });

    // The gateway's own refusal: NAME=DEFAULT without MESSAGE would be answered true by Bitrix24, sending nothing.
    const unsent = await sendSessionMessage({ client, body: { CHAT_ID: 112, NAME: 'DEFAULT' } });
    expect(unsent.response.status).toBe(400);
    expect(unsent.error).toEqual({ error: 'INVALID_PARAMETER', error_description: expect.stringContaining('MESSAGE') });
  });

  it("runs the README's example as written (examples/typescript/transfer.ts)", async () => {
    const example = new URL('../../examples/typescript/transfer.ts', import.meta.url).pathname;
    const { code, stdout, stderr } = await runProcess(...tsx(example), {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, GATEWAY_URL: stack.gateway.url, GATEWAY_KEY: key },
    });
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/^true \d+(\.\d+)?\n$/);
  });

  it('reads the health endpoint', async () => {
    expect((await getHealth({ client })).data).toEqual({ status: 'ok' });
  });
});
