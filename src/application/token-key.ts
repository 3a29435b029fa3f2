// GATEWAY_TOKEN_KEY (issue 33): the keys that encrypt the portals' tokens at rest, as the operator writes
// them: `<id>:<key>` entries separated by commas (or new lines, for a file), each key 32 bytes as base64
// (44 characters) or hex (64). The first entry encrypts, every one decrypts, so a key is rotated by putting
// a new one first and keeping the old one until every record is encrypted again. A problem names an entry
// by its place and a key by its id, never by anything that could be key material.

/** A key as the vault takes it: its id (stored beside each record it encrypted) and its 32 bytes. */
export interface TokenKey {
  id: string;
  key: Buffer;
}

const KEY_BYTES = 32;
/** Keys held at once: a rotation needs two; more is a mistake, and a bound on what is parsed. */
export const MAX_TOKEN_KEYS = 16;
const ID = /^[A-Za-z0-9_-]{1,32}$/;
const BASE64 = /^[A-Za-z0-9+/]{43}=$/;
const HEX = /^[0-9A-Fa-f]{64}$/;

const format = '<id>:<key> (id: 1 to 32 of A-Z a-z 0-9 _ -; key: 32 bytes as base64, 44 characters, or hex, 64)';

/** The keys of GATEWAY_TOKEN_KEY's value, in order, or what is wrong with it (never quoting a key). */
export function parseTokenKeys(text: string): { keys: TokenKey[] } | { problem: string } {
  const entries = text
    .split(/[,\n]/)
    .map((entry) => entry.trim())
    .filter(Boolean);
  if (entries.length === 0) return { problem: `has no key: must be one or more ${format}, separated by commas` };
  if (entries.length > MAX_TOKEN_KEYS)
    return { problem: `has ${entries.length} keys: at most ${MAX_TOKEN_KEYS} (the first encrypts, all decrypt)` };
  const keys: TokenKey[] = [];
  const ids = new Set<string>();
  const seen = new Set<string>();
  for (const [index, entry] of entries.entries()) {
    const place = `entry ${index + 1}`;
    const colon = entry.indexOf(':');
    if (colon < 0) return { problem: `${place} must be ${format}` };
    const id = entry.slice(0, colon).trim();
    const written = entry.slice(colon + 1).trim();
    // What stands before the colon may be a pasted key: an id that is not one is never quoted.
    if (!ID.test(id)) return { problem: `${place}: the id must be 1 to 32 of A-Z a-z 0-9 _ - (then :<key>)` };
    if (ids.has(id)) return { problem: `the id "${id}" is given twice: each key needs its own id` };
    ids.add(id);
    const key = decode(written);
    if (!key)
      return {
        problem: `the key "${id}" must be 32 bytes, written as base64 (44 characters, ending in =) or hex (64 characters)`,
      };
    if (key.every((byte) => byte === key[0]))
      return { problem: `the key "${id}" is one byte repeated, a placeholder: generate one (openssl rand -base64 32)` };
    const material = key.toString('hex');
    if (seen.has(material))
      return { problem: `the key "${id}" is the same as an earlier one: give each id its own key` };
    seen.add(material);
    keys.push({ id, key });
  }
  return { keys };
}

/** 32 bytes from base64 or hex written exactly (no other characters, no other length), or undefined. */
function decode(written: string): Buffer | undefined {
  let key: Buffer | undefined;
  if (HEX.test(written)) key = Buffer.from(written, 'hex');
  // The 43rd character carries two bits past the 32 bytes: written by an encoder, they are zero.
  else if (BASE64.test(written)) {
    key = Buffer.from(written, 'base64');
    if (key.toString('base64') !== written) return undefined;
  }
  return key?.length === KEY_BYTES ? key : undefined;
}
