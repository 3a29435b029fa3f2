import { type PhpParams, phpEmpty } from '../bitrix24-semantics';

/**
 * The server's lookup of the calling application's bot, which the transfer and the finish make: a webhook
 * names its bot by CLIENT_ID (none: BOT_ID_ERROR); an OAuth token already belongs to the bot's application.
 */
export function botOf(params: PhpParams, auth: 'webhook' | 'oauth'): 'BOT_ID_ERROR' | undefined {
  return auth === 'webhook' && phpEmpty(params.CLIENT_ID) ? 'BOT_ID_ERROR' : undefined;
}

/** The code a method's test value stands for, if `chatId` is one of its test values. */
export function testValueOf(testValues: Readonly<Record<number, string>>, chatId: number): string | undefined {
  return Object.hasOwn(testValues, chatId) ? testValues[chatId] : undefined;
}
