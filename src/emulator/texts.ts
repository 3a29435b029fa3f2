import { specMatrix } from '../error-matrix';
import { operations } from '../spec';

/**
 * The status and Bitrix24's own text of one of a method's codes, as the spec's examples give them (the
 * operations that name the method share one error matrix).
 */
export function bitrix24Text(method: string, code: string): { status: number; description: string } {
  let texts = byMethod.get(method);
  if (!texts) {
    const operation = operations().find(({ operation }) => operation['x-bitrix24-method'] === method)?.operation;
    if (!operation) throw new Error(`No operation of the spec names ${method}`);
    texts = new Map(
      specMatrix(operation.operationId).map((row) => [
        row.code,
        {
          status: row.status,
          description: String((row.example as { error_description?: unknown })?.error_description),
        },
      ]),
    );
    byMethod.set(method, texts);
  }
  const text = texts.get(code);
  if (!text) throw new Error(`The spec documents no ${code} for ${method}`);
  return text;
}

const byMethod = new Map<string, Map<string, { status: number; description: string }>>();
