// The README's example of the official Bitrix24 SDK, as written there: src/server/b24jssdk.test.ts runs it
// against a real gateway over HTTPS (GATEWAY_URL, GATEWAY_KEY, NODE_EXTRA_CA_CERTS).
import { B24Hook } from '@bitrix24/b24jssdk';

const gateway = process.env.GATEWAY_URL ?? 'https://gateway.example:8080';
const b24 = B24Hook.fromWebhookUrl(`${gateway}/rest/1/${process.env.GATEWAY_KEY}`);
const result = await b24.actions.v2.call.make({
  method: 'imopenlines.bot.session.transfer',
  params: { CHAT_ID: 112, USER_ID: 12 },
}); // throws an AjaxError with .code 'TRANSFER_ID_EMPTY', 'BOT_ID_ERROR', … as Bitrix24 would
console.log(result.isSuccess, result.getData()?.result); // true true
