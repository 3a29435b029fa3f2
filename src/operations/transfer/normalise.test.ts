import { describe, expect, it } from 'vitest';
import { methodOperations } from '../../pipeline';
import { normalise as normaliseFor } from '../../pipeline/normalise';

// The pipeline's normalisation (documented parameters, defaults, settings) with the transfer's own.
const operation = methodOperations().find((o) => o.operationId === 'transferSession')!;
const normalise = (request: Record<string, unknown>, options: { mode: 'webhook' | 'oauth'; defaultClientId: string }) =>
  normaliseFor(operation, request, { mode: options.mode, settings: { BITRIX24_CLIENT_ID: options.defaultClientId } });
const webhook = { mode: 'webhook', defaultClientId: 'bot.1' } as const;

describe('normalise', () => {
  it.each([
    [{ CHAT_ID: 1, USER_ID: 2, QUEUE_ID: 3, TRANSFER_ID: 'queue4' }, { USER_ID: 2 }],
    [{ CHAT_ID: 1, QUEUE_ID: 3, TRANSFER_ID: 'queue4' }, { QUEUE_ID: 3 }],
    [{ CHAT_ID: 1, QUEUE_ID: 3, TRANSFER_ID: 9 }, { QUEUE_ID: 3 }],
    [{ CHAT_ID: 1, TRANSFER_ID: 'queue4' }, { QUEUE_ID: 4 }],
    [{ CHAT_ID: 1, TRANSFER_ID: '12' }, { USER_ID: 12 }],
    [{ CHAT_ID: 1, TRANSFER_ID: 12 }, { USER_ID: 12 }],
  ])('applies the documented priority to %j', (request, destination) => {
    expect(normalise(request, webhook)).toEqual({ CHAT_ID: 1, LEAVE: 'N', CLIENT_ID: 'bot.1', ...destination });
  });

  it("keeps LEAVE and the caller's CLIENT_ID", () => {
    expect(normalise({ CHAT_ID: 1, USER_ID: 2, LEAVE: 'Y', CLIENT_ID: 'mine' }, webhook)).toEqual({
      CHAT_ID: 1,
      USER_ID: 2,
      LEAVE: 'Y',
      CLIENT_ID: 'mine',
    });
  });

  it('forwards auth in OAuth mode and adds no CLIENT_ID there', () => {
    expect(normalise({ CHAT_ID: 1, USER_ID: 2, auth: 'token' }, { mode: 'oauth', defaultClientId: 'x' })).toEqual({
      CHAT_ID: 1,
      USER_ID: 2,
      LEAVE: 'N',
      auth: 'token',
    });
  });
});
