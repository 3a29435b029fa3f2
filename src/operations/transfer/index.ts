import { botOf, testValueOf } from '../bot';
import type { Bitrix24Method } from '../method';
import { check, explain } from './checks';
import { normalise } from './normalise';

/** imopenlines.bot.session.transfer: hands the dialogue to an employee or a queue. */
export const transfer: Bitrix24Method = {
  name: 'imopenlines.bot.session.transfer',
  upperCasesKeys: false,
  check,
  explain,
  normalise,
  testValues: { 4001: 'BOT_ID_ERROR', 4002: 'OPERATOR_WRONG', 4003: 'WRONG_CHAT' },
  // Step 5 finds the calling application's bot; step 6 transfers.
  emulate({ params, auth, testValue }) {
    return botOf(params, auth) ?? testValueOf(this.testValues, testValue);
  },
};
