import { z } from '@hono/zod-openapi';
import type { BodyFacts } from './operations';

/**
 * A body schema for forms, whose values are all text: the parameters that take integers take canonical
 * decimal digits, decoded before the JSON schema reads them.
 */
export function formSchema(json: z.ZodType, body: BodyFacts): z.ZodType {
  const integers = new Set([...body.parameters.values()].filter((p) => p.integer).map((p) => p.name));
  return z.preprocess((form: unknown) => {
    if (typeof form !== 'object' || form === null) return form;
    return Object.fromEntries(
      Object.entries(form).map(([key, value]) => [
        key,
        integers.has(key) && typeof value === 'string' && /^(0|-?[1-9][0-9]{0,15})$/.test(value)
          ? Number(value)
          : value,
      ]),
    );
  }, json);
}
