// What every session method checks first, after the authorization type: `(int)CHAT_ID <= 0` is
// CHAT_ID_EMPTY. The transfer goes on to its destination; its siblings check nothing more.
import { type PhpParams, phpInt, type Verdict } from '../bitrix24-semantics';
import { chatIdEmpty } from './explain';

/** The server's CHAT_ID check. */
export function checkChatId(params: PhpParams): Verdict {
  return phpInt(params.CHAT_ID) <= 0 ? { outcome: 'rejected', code: 'CHAT_ID_EMPTY' } : { outcome: 'accepted' };
}

/** Why checkChatId rejected the request: the one code it answers. */
export function explainChatId(_code: string, php: PhpParams, sent: Readonly<Record<string, unknown>>): string {
  return chatIdEmpty(php, sent);
}
