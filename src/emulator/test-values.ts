import type { Bitrix24Method } from '../operations';
import { type Sentinel, sentinels } from './sentinels';
import { bitrix24Text } from './texts';

/**
 * Every test value of the emulator for `method`, keyed on `(int)CHAT_ID`: the REST platform's, which act
 * for every method, and the method's own (its `testValues`, with the status and text the spec gives them).
 */
export function testValuesFor(method: Bitrix24Method): ReadonlyMap<number, Sentinel> {
  const own = Object.entries(method.testValues).map(([chatId, code]): [number, Sentinel] => {
    const { status, description } = bitrix24Text(method.name, code);
    return [Number(chatId), { stage: 'method', kind: 'error', status, error: code, description }];
  });
  const platform = Object.entries(sentinels).map(([chatId, sentinel]): [number, Sentinel] => [
    Number(chatId),
    sentinel,
  ]);
  return new Map([...platform, ...own].sort(([a], [b]) => a - b));
}
