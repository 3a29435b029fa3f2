// Idempotency keys (`Idempotency-Key`, IETF draft-ietf-httpapi-idempotency-key-header): the same key with the
// same parameters never reaches Bitrix24 twice; the first answer is replayed. Scoped per calling team and
// Bitrix24 method; keys and parameters are kept hashed only (a key may carry data, so it is never logged).
import { createHash } from 'node:crypto';
import type { Claim, IdempotencyStore, StoredAnswer, StoreFailure } from './store';

// The stores are not re-exported: each loads its own engine (SQLite's native module, the Redis client), and
// src/server imports the one its configuration uses (./sqlite-store without REDIS_URL, ./redis-store with it).
export {
  type Claim,
  type IdempotencyStore,
  IdempotencyStoreUnavailable,
  type StoredAnswer,
  type StoreFailure,
} from './store';

export interface IdempotencySettings {
  store: IdempotencyStore;
  /** How long a key is kept after its request finished. */
  retentionMs: number;
  /** How long a claim holds before its holder counts as gone (the longest a request can take, and a margin). */
  leaseMs: number;
  /** Every call must carry a key (IDEMPOTENCY_KEY=required); without, 400 and nothing sent. */
  required?: boolean;
  /** A finished call's answer the store did not take (the key stays taken): for a metric. */
  onAnswerNotStored?: (reason: StoreFailure) => void;
}

/** The key a caller sent, the same whether quoted (a Structured Fields string) or bare. */
export function keyOf(header: string): string {
  return header.length >= 2 && header.startsWith('"') && header.endsWith('"') ? header.slice(1, -1) : header;
}

/** The key as stored: scoped to the team and the method (and the portal, in application mode), hashed. */
export function scopedKey(team: string, method: string, key: string, portal?: string): string {
  if (portal === undefined) return sha256(JSON.stringify([team, method, key]));
  // A portal's keys name it first (a member_id holds no `/`): a shared store keeps each portal's keys together.
  return `${portal}/${sha256(JSON.stringify([team, method, key, portal]))}`;
}

/** The request's parameters, hashed: key order does not matter, so a JSON and a form body of one call match. */
export function fingerprintOf(params: Readonly<Record<string, unknown>>): string {
  const sorted = Object.keys(params)
    .sort()
    .map((name) => [name, params[name]]);
  return sha256(JSON.stringify(sorted));
}

/** What a retry gets when the first request's holder went away before its outcome was known. */
export const outcomeUnknown: StoredAnswer = {
  status: 502,
  headers: { 'content-type': 'application/json; charset=utf-8' },
  body: JSON.stringify({
    error: 'UPSTREAM_UNREACHABLE',
    error_description:
      'The first request with this Idempotency-Key ended before its outcome was known; Bitrix24 may or may not have executed it, and it is not sent again',
  }),
};

export type { Claim as IdempotencyClaim };

const sha256 = (text: string) => createHash('sha256').update(text).digest('base64url');
