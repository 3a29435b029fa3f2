import { botOf, testValueOf } from '../bot';
import { checkChatId, explainChatId } from '../chat';
import type { Bitrix24Method } from '../method';

/**
 * imopenlines.bot.session.finish (rest.php, botSessionFinish): the bot takes the dialogue and the session is
 * finished; the server ignores both results and answers true.
 */
export const finish: Bitrix24Method = {
  name: 'imopenlines.bot.session.finish',
  upperCasesKeys: true,
  check: checkChatId,
  explain: explainChatId,
  testValues: { 4001: 'BOT_ID_ERROR' },
  // Step 3 finds the calling application's bot, as the transfer does.
  emulate({ params, auth, testValue }) {
    return botOf(params, auth) ?? testValueOf(this.testValues, testValue);
  },
};
