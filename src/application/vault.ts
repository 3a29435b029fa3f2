// The portals' secrets at rest (issue 33): AES-256-GCM under GATEWAY_TOKEN_KEY. Each seal takes a random
// 12-byte IV, and the portal's member_id is bound as associated data, so a sealed record copied under
// another portal does not open. Several keys may be held: the first seals, every one opens, so a key is
// rotated by putting the new one first and keeping the old one until every record is sealed again
// (`SqlitePortalStore.rewrap`). Errors name a key's id at most: never a key, never a secret.
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject, randomBytes } from 'node:crypto';

/** A key the vault holds: its id (stored beside each record it sealed) and its 32 bytes. */
export interface VaultKey {
  id: string;
  key: Buffer;
}

/** A secret sealed by `TokenVault.seal`: the id of the key that sealed it, and AES-256-GCM's parts. */
export interface SealedSecret {
  keyId: string;
  /** 12 random bytes. */
  iv: Buffer;
  /** GCM's 16-byte authentication tag. */
  tag: Buffer;
  ciphertext: Buffer;
}

/** A key or a sealed secret the vault cannot use: a secret that does not open, or a key it does not hold. */
export class VaultError extends Error {
  /** The key id concerned, when one is (never key material). */
  readonly keyId: string | undefined;
  constructor(message: string, keyId?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'VaultError';
    this.keyId = keyId;
  }
}

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** A key id is stored with every record and shown in errors and logs: short, printable, no spaces. */
const KEY_ID = /^[A-Za-z0-9._:-]{1,64}$/;
/** The associated data's prefix: a sealed secret of this vault means nothing anywhere else. */
const CONTEXT = 'bitrix24-gateway/portal-secret/v1\0';

export class TokenVault {
  /** Key objects, not buffers: the material stays out of the JS heap and out of any inspection. */
  readonly #keys = new Map<string, KeyObject>();
  readonly #current: string;

  constructor(keys: readonly VaultKey[]) {
    if (keys.length === 0) throw new VaultError('the token vault needs at least one key');
    for (const { id, key } of keys) {
      if (typeof id !== 'string' || !KEY_ID.test(id))
        throw new VaultError(
          `a token key's id must be 1 to 64 characters of letters, digits and . _ : - (got ${shownId(id)})`,
        );
      if (this.#keys.has(id)) throw new VaultError(`the token key id ${shownId(id)} is given twice`, id);
      if (!Buffer.isBuffer(key) || key.length !== KEY_BYTES)
        throw new VaultError(
          `the token key ${shownId(id)} is ${Buffer.isBuffer(key) ? `${key.length} bytes` : 'not bytes'}; AES-256-GCM needs ${KEY_BYTES}`,
          id,
        );
      this.#keys.set(id, createSecretKey(key));
    }
    this.#current = keys[0]!.id;
  }

  /** The id of the key that seals (the first given). */
  get currentKeyId(): string {
    return this.#current;
  }

  /** The ids of the keys held, the sealing one first. */
  get keyIds(): string[] {
    return [...this.#keys.keys()];
  }

  /** Whether a record sealed under `keyId` can be opened here. */
  holds(keyId: string): boolean {
    return this.#keys.has(keyId);
  }

  /** Seals `plaintext` for the portal `memberId` under the first key. */
  seal(memberId: string, plaintext: string): SealedSecret {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#keys.get(this.#current)!, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(associatedData(memberId));
    const clear = Buffer.from(plaintext, 'utf8');
    const ciphertext = Buffer.concat([cipher.update(clear), cipher.final()]);
    clear.fill(0);
    return { keyId: this.#current, iv, tag: cipher.getAuthTag(), ciphertext };
  }

  /**
   * Opens what `seal` sealed for `memberId`. Throws VaultError when the key is not held (naming its id), when
   * the parts are malformed, or when the tag does not check (tampered, or sealed for another portal).
   */
  open(memberId: string, sealed: SealedSecret): string {
    const key = this.#keys.get(sealed.keyId);
    if (!key)
      throw new VaultError(
        `the secret is sealed under the token key ${shownId(sealed.keyId)}, which this gateway does not hold (held: ${this.keyIds.map(shownId).join(', ')})`,
        sealed.keyId,
      );
    if (sealed.iv.length !== IV_BYTES || sealed.tag.length !== TAG_BYTES)
      throw new VaultError(`the secret sealed under the token key ${shownId(sealed.keyId)} is malformed`, sealed.keyId);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, sealed.iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(associatedData(memberId));
      decipher.setAuthTag(sealed.tag);
      return Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]).toString('utf8');
    } catch {
      // OpenSSL's own message says nothing more; no cause is kept, so nothing of the input travels with it.
      throw new VaultError(
        `the secret sealed under the token key ${shownId(sealed.keyId)} does not open: altered, or sealed for another portal`,
        sealed.keyId,
      );
    }
  }
}

/** The compact form stored in one column (beside the key id's): IV, tag, then the ciphertext. */
export function packSealed(sealed: SealedSecret): Buffer {
  return Buffer.concat([sealed.iv, sealed.tag, sealed.ciphertext]);
}

/** Reads `packSealed`'s form back; too short to hold an IV and a tag is a VaultError. */
export function unpackSealed(keyId: string, packed: Uint8Array): SealedSecret {
  const bytes = Buffer.from(packed.buffer, packed.byteOffset, packed.byteLength);
  if (bytes.length < IV_BYTES + TAG_BYTES)
    throw new VaultError(`the secret sealed under the token key ${shownId(keyId)} is truncated`, keyId);
  return {
    keyId,
    iv: bytes.subarray(0, IV_BYTES),
    tag: bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES),
    ciphertext: bytes.subarray(IV_BYTES + TAG_BYTES),
  };
}

function associatedData(memberId: string): Buffer {
  return Buffer.from(CONTEXT + memberId, 'utf8');
}

/** A key id as errors show it: quoted, bounded, whatever a tampered record holds. */
function shownId(id: unknown): string {
  const text = typeof id === 'string' ? id : typeof id;
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);
}
