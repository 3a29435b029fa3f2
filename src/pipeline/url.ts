import type { z } from 'zod';
import { gatewayError, type Rejection } from '../error-matrix';
import type { MethodOperation } from './operations';

/** A query string, webhook-style path or header parameter the spec refuses. */
export function judgeUrl(
  operation: MethodOperation,
  target: 'query' | 'param' | 'header',
  issues: z.core.$ZodIssue[],
): Rejection {
  const issue = issues[0];
  if (issue?.code === 'unrecognized_keys') {
    const names = issue.keys.map((key) => JSON.stringify(key.length > 64 ? `${key.slice(0, 64)}…` : key)).join(', ');
    return gatewayError(
      'UNKNOWN_PARAMETER',
      `The query string takes only ${operation.query.map((p) => p.name).join(', ')}; the method's parameters go in the body (got ${names})`,
    );
  }
  const name = String(issue?.path[0] ?? target);
  if (target === 'header') {
    const header = operation.headers.find((p) => p.name === name);
    // Never echoed: a key may carry data.
    return gatewayError('INVALID_PARAMETER', `The ${name} header must be ${header?.expected ?? 'valid'}`);
  }
  const parameter = (target === 'param' ? operation.pathParameters : operation.query).find((p) => p.name === name);
  if (target === 'param') {
    return gatewayError(
      'INVALID_PARAMETER',
      parameter?.secret
        ? 'The key in the URL is not a valid gateway API key'
        : `The ${name} in the URL must be ${parameter?.expected ?? 'valid'}`,
    );
  }
  return gatewayError('INVALID_PARAMETER', `${name} must be ${parameter?.expected ?? 'valid'}`);
}
