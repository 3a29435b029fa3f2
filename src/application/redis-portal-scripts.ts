// The keys and Lua scripts of the portals' store in Redis (redis-portal-store.ts). Each script touches one
// hash slot, so that the store runs on a Redis Cluster: a portal's scripts its own record (the hash tag
// `{<prefix>:portal:<member_id>}`), the indexes' scripts the indexes (the tag `{<prefix>:portals}`, one slot
// for all of them, written by separate commands from the records). Lua cannot open a sealed secret: the
// refresh's compare-and-set compares a digest of the refresh token stored beside it (`refresh_digest`).
import { createHash } from 'node:crypto';

/** The separator inside index entries (`<domain>\0<member_id>`): neither a member_id nor a domain holds it. */
export const SEP = '\0';

/** The record's fields that `get` reads, in HMGET's order. */
export const RECORD_FIELDS = [
  'domain',
  'client_endpoint',
  'state',
  'state_reason',
  'bot_id',
  'expires_at',
  'issued_at',
  'installed_at',
  'refreshed_at',
  'tokens_key',
  'tokens',
  'app_key',
  'app',
] as const;

/** The fields a summary (`list`) reads: no secret among them. */
export const SUMMARY_FIELDS = [
  'domain',
  'state',
  'state_reason',
  'bot_id',
  'issued_at',
  'installed_at',
  'refreshed_at',
] as const;

/** The keys of a store under `prefix` (REDIS_KEY_PREFIX: no braces, so that it never ends a hash tag). */
/**
 * A portal's hash tag, `{<prefix>:portal:<member_id>}`: its record is this key; its limit, Idempotency-Keys,
 * marker and refresh lease are keys under it, so that one portal's keys share a slot of a Redis Cluster.
 */
export function portalTag(prefix: string, memberId: string): string {
  return `{${prefix}:portal:${escapeTag(memberId)}}`;
}

export function portalKeys(prefix: string) {
  const index = `{${prefix}:portals}`;
  return {
    /** The portal's record, a hash: alone in its slot's tag (the member_id escaped so it cannot end the tag). */
    record: (memberId: string) => portalTag(prefix, memberId),
    /** The lease on the portal's refresh (a token, with its expiry): in the record's slot. */
    lease: (memberId: string) => `${portalTag(prefix, memberId)}:refresh`,
    /** The indexes, in this order as the index scripts' KEYS (one slot). */
    index: [
      // Every member_id (score 0: in byte order, as SQLite's ORDER BY); its size is the count `maxPortals` bounds.
      `${index}:members`,
      // `<domain>\0<member_id>`: the portals at an address.
      `${index}:domains`,
      // `<member_id>\0<domain>`: the addresses indexed for a portal, so that they can be removed.
      `${index}:by-member`,
      // member_id → the record version its address entries were last settled at.
      `${index}:settled`,
    ],
  };
}

/** `%`, `{` and `}` as %XX: the key part is injective and holds no brace. */
function escapeTag(text: string): string {
  return text.replace(/[%{}]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * What the compare-and-set compares: SHA-256 over the member_id and the refresh token (JSON-encoded together,
 * so that no pair can be written as another). A refresh token is random and long (Bitrix24's are), so the
 * digest cannot be reversed; it only lets one who reads Redis confirm a refresh token they already hold.
 * Not an HMAC under a key derived from the vault's: that would add only this (a token already held is
 * useful without Redis anyway), and it would tie the digest to a key, so a key's rotation would have to
 * digest every record again before a refresh could compare; the vault does not expose a derivation either.
 */
export function refreshDigest(memberId: string, refreshToken: string): string {
  return createHash('sha256')
    .update(JSON.stringify(['bitrix24-gateway/refresh-digest/v1', memberId, refreshToken]), 'utf8')
    .digest('hex');
}

/**
 * A version of the record, newer than any written before it in its slot: Redis's clock in µs, or one more
 * than the record held (a clock that went back). The index settles a portal's addresses at the newest one.
 */
const VERSION = `
local t = redis.call('TIME')
local v = math.max((tonumber(redis.call('HGET', KEYS[1], 'v')) or 0) + 1, tonumber(t[1]) * 1000000 + tonumber(t[2]))
v = string.format('%.0f', v)
`;

/** KEYS[1]: the record. ARGV: its fields and values, in pairs. Replaces the record whole; answers its version. */
export const PUT = `${VERSION}
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', v, unpack(ARGV))
return v
`;

/**
 * KEYS[1]: the record. ARGV: the spent refresh token's digest, the new one's, the key id and sealed tokens,
 * expires_at, issued_at, refreshed_at, client_endpoint, domain ('' keeps it). Writes over the spent token
 * only: {1, version, domain, previous domain}. The new token already there is a retry of this very write
 * (the first answered too late): {2, version, domain}, nothing written. Otherwise {0}.
 */
export const REPLACE_TOKENS = `
local held = redis.call('HGET', KEYS[1], 'refresh_digest')
if not held then return {0} end
if held ~= ARGV[1] then
  if held == ARGV[2] then
    local now = redis.call('HMGET', KEYS[1], 'v', 'domain')
    return {2, now[1], now[2]}
  end
  return {0}
end
${VERSION}
local previous = redis.call('HGET', KEYS[1], 'domain')
local domain = previous
if ARGV[9] ~= '' then domain = ARGV[9] end
redis.call('HSET', KEYS[1], 'v', v, 'refresh_digest', ARGV[2], 'tokens_key', ARGV[3], 'tokens', ARGV[4],
  'expires_at', ARGV[5], 'issued_at', ARGV[6], 'refreshed_at', ARGV[7], 'client_endpoint', ARGV[8], 'domain', domain)
return {1, v, domain, previous}
`;

/** KEYS[1]: the record. ARGV: the spent refresh token's digest, the reason. 1: marked; 0: another token is held. */
export const MARK_LOST = `
if redis.call('HGET', KEYS[1], 'refresh_digest') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', 'needs-reinstall', 'state_reason', ARGV[2])
return 1
`;

/** KEYS[1]: the record. ARGV: state, '1' and a reason (or '0', ''), a bot id ('' keeps it). 0: no record. */
export const SET_STATE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[1])
if ARGV[2] == '1' then redis.call('HSET', KEYS[1], 'state_reason', ARGV[3]) else redis.call('HDEL', KEYS[1], 'state_reason') end
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'bot_id', ARGV[4]) end
return 1
`;

/** KEYS[1]: the record. ARGV: the key id and the sealed application_token. 0: no record. */
export const SET_APPLICATION_TOKEN = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'app_key', ARGV[1], 'app', ARGV[2])
return 1
`;

/**
 * KEYS[1]: the record. ARGV: the field ('tokens' or 'app'), the sealed value read, the new key id and sealed
 * value. Seals again only over what was read (a write meanwhile wins): 1 written, 0 not.
 */
export const RESEAL = `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1] .. '_key', ARGV[3], ARGV[1], ARGV[4])
return 1
`;

/** The index scripts' shared lines: the by-member entries of ARGV[1] (at most 256: a handful in practice). */
const ENTRIES_OF = `
local sep = string.char(0)
local entries = redis.call('ZRANGEBYLEX', KEYS[3], '[' .. ARGV[1] .. sep, '(' .. ARGV[1] .. string.char(1), 'LIMIT', 0, 256)
local skip = #ARGV[1] + 2
`;

/**
 * KEYS: the indexes. ARGV: member_id, domain, maxPortals, mode. Indexes a portal before its record is
 * written: `new` adds the member_id unless the store is full (0), `force` adds it anyway (the record is
 * there), `address` adds only the address, and only of a listed portal (0 otherwise: a portal deleted
 * gets no entry; one whose listing a race took away is indexed by SETTLE once written). Addresses are added beside the ones indexed: SETTLE removes the old.
 */
export const ADMIT = `
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  if ARGV[4] == 'address' then return 0 end
  if ARGV[4] == 'new' and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
  redis.call('ZADD', KEYS[1], 0, ARGV[1])
end
local sep = string.char(0)
redis.call('ZADD', KEYS[2], 0, ARGV[2] .. sep .. ARGV[1])
redis.call('ZADD', KEYS[3], 0, ARGV[1] .. sep .. ARGV[2])
return 1
`;

/**
 * KEYS: the indexes. ARGV: member_id, domain, version. After a record was written at `version` with `domain`:
 * the member_id is listed again (a delete may have raced the write), and unless a newer version settled
 * first, every other address of the portal is removed. 1: settled; 0: a newer version had.
 */
export const SETTLE = `
redis.call('ZADD', KEYS[1], 0, ARGV[1])
local settled = tonumber(redis.call('HGET', KEYS[4], ARGV[1]))
if settled and settled >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[4], ARGV[1], ARGV[3])
${ENTRIES_OF}
for _, entry in ipairs(entries) do
  local domain = string.sub(entry, skip)
  if domain ~= ARGV[2] then
    redis.call('ZREM', KEYS[3], entry)
    redis.call('ZREM', KEYS[2], domain .. sep .. ARGV[1])
  end
end
redis.call('ZADD', KEYS[2], 0, ARGV[2] .. sep .. ARGV[1])
redis.call('ZADD', KEYS[3], 0, ARGV[1] .. sep .. ARGV[2])
return 1
`;

/** KEYS: the indexes. ARGV: member_id. After its record was deleted: every entry of the portal goes. */
export const REMOVE = `
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
${ENTRIES_OF}
for _, entry in ipairs(entries) do
  redis.call('ZREM', KEYS[3], entry)
  redis.call('ZREM', KEYS[2], string.sub(entry, skip) .. sep .. ARGV[1])
end
return 1
`;

// KEYS[1]: a lease. ARGV: its holder's token. Deleted only while it is still that holder's.
export const END_LEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;
