import { finish } from './finish';
import { messageSend } from './message-send';
import type { Bitrix24Method } from './method';
import { operator } from './operator';
import { transfer } from './transfer';

export type { Bitrix24Method, EmulatedCall } from './method';

/** Every Bitrix24 method the gateway and its emulator know; the spec's operations name them. */
export const bitrix24Methods: readonly Bitrix24Method[] = [transfer, operator, messageSend, finish];

const byName = new Map(bitrix24Methods.map((method) => [method.name, method]));

/** The method called `name` (as Bitrix24 spells it, lower case), if the gateway knows it. */
export function methodNamed(name: string): Bitrix24Method | undefined {
  return byName.get(name);
}
