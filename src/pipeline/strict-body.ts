import type { Context } from 'hono';
import { gatewayError, type Rejection } from '../error-matrix';
import type { GatewayEnv } from '../request-context';
import { formTextProblem, jsonTextProblem } from '../strict-text';
import type { BodyFacts } from './operations';

/** A body read strictly: its text, or why it is not text the gateway may read. */
export type StrictBody = { text: string; problem?: undefined } | { text?: undefined; problem: Rejection };

const decoder = new TextDecoder();

/**
 * Reads a JSON or form body's bytes strictly (see src/strict-text): a body that is not UTF-8, or that holds a
 * lone surrogate, is a 400 INVALID_BODY (also kept as `bodyProblem`), and nothing of it is judged or sent.
 * The text is decoded once, here, and given to Hono's body cache, so that `c.req.text()` reads the same text
 * (decoded as Request.text() would, a BOM dropped) without Hono rebuilding a Response to decode it.
 */
export async function readStrictly(
  c: Context<GatewayEnv>,
  kind: 'json' | 'form',
  body: BodyFacts,
): Promise<StrictBody> {
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  const text = decoder.decode(bytes);
  // Hono keeps each body it has read as a promise of it, by the method that read it.
  (c.req.bodyCache as { text?: Promise<string> }).text = Promise.resolve(text);
  const problem =
    kind === 'json' ? jsonTextProblem(bytes, text) : formTextProblem(bytes, (name) => body.parameters.has(name));
  if (problem === undefined) return { text };
  const rejection = gatewayError('INVALID_BODY', problem);
  c.set('bodyProblem', rejection);
  return { problem: rejection };
}
