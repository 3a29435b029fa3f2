import { z } from 'zod';

/** A schema's verdict on a value: its output, or its issues, worded as `safeParse` words them. */
export type Verdict<T = unknown> = { success: true; data: T } | { success: false; issues: z.core.$ZodIssue[] };

/**
 * `schema.safeParse(value)` without the ZodError that safeParse builds around a refusal's issues (an Error
 * subclass with its methods bound one by one; a rejected request's CPU fell about 12 % without it,
 * bench/results.md): the pipeline reads only the issues. They are finalised (message, path) as safeParse finalises them.
 */
export function check<T>(schema: z.ZodType<T>, value: unknown): Verdict<T> {
  const ctx = { async: false } as const;
  const result = schema._zod.run({ value, issues: [] }, ctx);
  if (result instanceof Promise) throw new z.core.$ZodAsyncError();
  if (result.issues.length === 0) return { success: true, data: result.value as T };
  const config = z.core.config();
  return { success: false, issues: result.issues.map((issue) => z.core.util.finalizeIssue(issue, ctx, config)) };
}
