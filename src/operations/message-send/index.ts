import { checkChatId, explainChatId } from '../chat';
import type { Bitrix24Method } from '../method';

/**
 * imopenlines.bot.session.message.send (rest.php, botSessionSendAutoMessage): sends the line's welcome
 * message or a text. Past CHAT_ID the server checks nothing and answers true, sent or not: the spec's schema
 * and its x-conditions refuse every input it would silently send nothing for.
 */
export const messageSend: Bitrix24Method = {
  name: 'imopenlines.bot.session.message.send',
  upperCasesKeys: true,
  check: checkChatId,
  explain: explainChatId,
  testValues: {},
  emulate: () => undefined,
};
