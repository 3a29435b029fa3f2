import type { Bitrix24Method } from './method';
import { transfer } from './transfer';

export type { Bitrix24Method, EmulatedCall } from './method';

/** Every Bitrix24 method the gateway and its emulator know; the spec's operations name them. */
export const bitrix24Methods: readonly Bitrix24Method[] = [transfer];

const byName = new Map(bitrix24Methods.map((method) => [method.name, method]));

/** The method called `name` (as Bitrix24 spells it, lower case), if the gateway knows it. */
export function methodNamed(name: string): Bitrix24Method | undefined {
  return byName.get(name);
}
