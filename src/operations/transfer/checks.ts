// imopenlines.bot.session.transfer as the server reads it (modules/imopenlines/lib/rest.php,
// botSessionTransfer): its checks 2 to 4, in its order, and where they differ from its documentation.
import { emptyParams, isSet, type PhpParams, phpInt, phpString, type Verdict } from '../../bitrix24-semantics';
import { checkChatId } from '../chat';
import { chatIdEmpty, sent as sentValue, show } from '../explain';

/** The server's checks 2 to 4; the first failing one is the answer. */
export function check(input: PhpParams): Verdict {
  const params = Object.assign(emptyParams(), input);
  const chat = checkChatId(params);
  if (chat.outcome !== 'accepted') return chat;

  // The server's priority, not the documented one: a TRANSFER_ID overwrites USER_ID or QUEUE_ID.
  if (isSet(params, 'TRANSFER_ID')) {
    const transferId = params.TRANSFER_ID;
    if (typeof transferId === 'object') return { outcome: 'crashed', reason: 'TRANSFER_ID is not a scalar' };
    const text = phpString(transferId as string | number | boolean);
    if (text.startsWith('queue')) params.QUEUE_ID = text.slice('queue'.length);
    else params.USER_ID = transferId;
  }

  if (isSet(params, 'USER_ID')) {
    return phpInt(params.USER_ID) <= 0 ? { outcome: 'rejected', code: 'USER_ID_EMPTY' } : { outcome: 'accepted' };
  }
  if (isSet(params, 'QUEUE_ID')) {
    return phpInt(params.QUEUE_ID) <= 0 ? { outcome: 'rejected', code: 'QUEUE_ID_EMPTY' } : { outcome: 'accepted' };
  }
  return { outcome: 'rejected', code: 'TRANSFER_ID_EMPTY' };
}

/** Why `check` rejected the request with `code`, naming the parameter. */
export function explain(code: string, php: PhpParams, sent: Readonly<Record<string, unknown>>): string {
  switch (code) {
    case 'CHAT_ID_EMPTY':
      return chatIdEmpty(php, sent);
    case 'TRANSFER_ID_EMPTY':
      return 'give a destination: USER_ID, QUEUE_ID or TRANSFER_ID';
    default: {
      const named = code === 'USER_ID_EMPTY' ? 'USER_ID' : 'QUEUE_ID';
      const source = isSet(php, 'TRANSFER_ID') ? 'TRANSFER_ID' : named;
      const expected = source === 'TRANSFER_ID' ? 'a user id or "queue<N>"' : 'a positive integer';
      return `${source} ${show(sentValue(sent, php, source))} is not ${expected}`;
    }
  }
}
