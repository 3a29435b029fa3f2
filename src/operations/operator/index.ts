import { testValueOf } from '../bot';
import { checkChatId, explainChatId } from '../chat';
import type { Bitrix24Method } from '../method';

/**
 * imopenlines.bot.session.operator (modules/imopenlines/lib/rest.php, botSessionOperator): ends the bot's
 * part of the session, and the line's queue hands the dialogue to a free operator.
 */
export const operator: Bitrix24Method = {
  name: 'imopenlines.bot.session.operator',
  upperCasesKeys: true,
  check: checkChatId,
  explain: explainChatId,
  testValues: { 4003: 'WRONG_CHAT' },
  // Step 3: endBotSession() fails for a chat without a bot's session (WRONG_CHAT, "Operator is not a bot").
  emulate({ testValue }) {
    return testValueOf(this.testValues, testValue);
  },
};
