// Texts the methods' `explain` share: what the caller sent that made Bitrix24's check fail.
import { isSet, type PhpParams } from '../bitrix24-semantics';
import { preview } from '../preview';

export const show = (value: unknown) => preview(value, 40);

/** A parameter as sent (own properties only, never one inherited through a prototype), else as PHP read it. */
export function sent(record: Readonly<Record<string, unknown>>, php: PhpParams, key: string): unknown {
  return Object.hasOwn(record, key) ? record[key] : Object.hasOwn(php, key) ? php[key] : undefined;
}

/** CHAT_ID_EMPTY, which every session method answers first: CHAT_ID missing, or not a positive integer. */
export function chatIdEmpty(php: PhpParams, record: Readonly<Record<string, unknown>>): string {
  if (isSet(php, 'CHAT_ID')) return `CHAT_ID ${show(sent(record, php, 'CHAT_ID'))} is not a positive integer`;
  const lookalike = Object.keys(record).find((key) => key !== 'CHAT_ID' && key.toLowerCase() === 'chat_id');
  return lookalike
    ? `CHAT_ID is missing (parameter names are case-sensitive; got "${lookalike}")`
    : 'CHAT_ID is missing';
}
