// The token vault on its own: what it seals opens only for its portal, under a key it holds, untouched; its
// errors name key ids and never a key or a secret; a rotation opens the old key's records and seals under the new.
import { createDecipheriv, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { packSealed, type SealedSecret, TokenVault, unpackSealed, VaultError } from './vault';

const keyA = { id: 'a-2026', key: randomBytes(32) };
const keyB = { id: 'b-2027', key: randomBytes(32) };
const SECRET = 'access-token-7f3c9e1b2d';
const MEMBER = '0123456789abcdef0123456789abcdef';

/** The error `step` throws (failing the test if it throws none). */
function thrown(step: () => unknown): Error {
  try {
    step();
  } catch (error) {
    return error as Error;
  }
  throw new Error('nothing was thrown');
}

/** Neither the secret nor any key, in any form, is in the error's message, stack or inspection. */
function expectNothingSecretIn(error: Error): void {
  const shown = `${error.message}\n${error.stack}\n${inspect(error, { depth: 5 })}`;
  expect(shown).not.toContain(SECRET);
  for (const { key } of [keyA, keyB])
    for (const form of [key.toString('hex'), key.toString('base64'), key.toString('base64url')])
      expect(shown).not.toContain(form);
}

describe('TokenVault', () => {
  it('opens what it sealed, for the same portal; each seal has its own IV', () => {
    const vault = new TokenVault([keyA]);
    const first = vault.seal(MEMBER, SECRET);
    const second = vault.seal(MEMBER, SECRET);
    expect(first.keyId).toBe('a-2026');
    expect([first.iv.length, first.tag.length]).toEqual([12, 16]);
    expect(first.iv.equals(second.iv)).toBe(false);
    expect(first.ciphertext.equals(second.ciphertext)).toBe(false);
    expect(first.ciphertext.includes(Buffer.from(SECRET))).toBe(false);
    expect(vault.open(MEMBER, first)).toBe(SECRET);
    expect(vault.open(MEMBER, unpackSealed(first.keyId, packSealed(first)))).toBe(SECRET);
    expect(vault.open(MEMBER, vault.seal(MEMBER, ''))).toBe('');
    expect(vault.open(MEMBER, vault.seal(MEMBER, 'Ünïcode ✓'))).toBe('Ünïcode ✓');
  });

  it('is plain AES-256-GCM with the member_id in the associated data (read back by node:crypto directly)', () => {
    const sealed = new TokenVault([keyA]).seal(MEMBER, SECRET);
    const decipher = createDecipheriv('aes-256-gcm', keyA.key, sealed.iv);
    decipher.setAAD(Buffer.from(`bitrix24-gateway/portal-secret/v1\0${MEMBER}`));
    decipher.setAuthTag(sealed.tag);
    expect(Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]).toString()).toBe(SECRET);
  });

  it('does not open a secret for another portal', () => {
    const vault = new TokenVault([keyA]);
    const sealed = vault.seal(MEMBER, SECRET);
    const error = thrown(() => vault.open('fedcba9876543210fedcba9876543210', sealed));
    expect(error).toBeInstanceOf(VaultError);
    expect(error.message).toMatch(/does not open/);
    expectNothingSecretIn(error);
  });

  it('refuses an altered ciphertext, tag or IV, and a tag cut short', () => {
    const vault = new TokenVault([keyA]);
    const sealed = vault.seal(MEMBER, SECRET);
    const flipped = (bytes: Buffer, at: number) => {
      const copy = Buffer.from(bytes);
      copy[at]! ^= 0x01;
      return copy;
    };
    const altered: SealedSecret[] = [
      { ...sealed, ciphertext: flipped(sealed.ciphertext, 0) },
      { ...sealed, ciphertext: flipped(sealed.ciphertext, sealed.ciphertext.length - 1) },
      { ...sealed, ciphertext: sealed.ciphertext.subarray(1) },
      { ...sealed, tag: flipped(sealed.tag, 15) },
      { ...sealed, iv: flipped(sealed.iv, 3) },
      { ...sealed, tag: sealed.tag.subarray(0, 12) },
      { ...sealed, iv: Buffer.concat([sealed.iv, Buffer.alloc(4)]) },
    ];
    for (const secret of altered) {
      const error = thrown(() => vault.open(MEMBER, secret));
      expect(error).toBeInstanceOf(VaultError);
      expectNothingSecretIn(error);
    }
    expect(thrown(() => unpackSealed('a-2026', Buffer.alloc(27)))).toBeInstanceOf(VaultError);
    expect(vault.open(MEMBER, sealed)).toBe(SECRET);
  });

  it('seals under the first key and opens under any it holds; a key it does not hold is named', () => {
    const old = new TokenVault([keyA]).seal(MEMBER, SECRET);
    const rotated = new TokenVault([keyB, keyA]);
    expect(rotated.open(MEMBER, old)).toBe(SECRET);
    const fresh = rotated.seal(MEMBER, SECRET);
    expect(fresh.keyId).toBe('b-2027');
    expect(rotated.currentKeyId).toBe('b-2027');
    expect(rotated.keyIds).toEqual(['b-2027', 'a-2026']);

    const onlyB = new TokenVault([keyB]);
    expect(onlyB.open(MEMBER, fresh)).toBe(SECRET);
    expect(onlyB.holds('a-2026')).toBe(false);
    const error = thrown(() => onlyB.open(MEMBER, old)) as VaultError;
    expect(error).toBeInstanceOf(VaultError);
    expect(error.keyId).toBe('a-2026');
    expect(error.message).toContain('"a-2026"');
    expectNothingSecretIn(error);
    // The same id over another key's material is a key that does not open it.
    const impostor = new TokenVault([{ id: 'a-2026', key: randomBytes(32) }]);
    expect(thrown(() => impostor.open(MEMBER, old))).toBeInstanceOf(VaultError);
  });

  it('refuses keys it cannot use, naming the id and never the key', () => {
    const short = randomBytes(16);
    const cases: [unknown[], RegExp][] = [
      [[], /at least one key/],
      [[{ id: 'k', key: short }], /"k" is 16 bytes; AES-256-GCM needs 32/],
      [[{ id: 'k', key: keyA.key.toString('hex') }], /"k" is not bytes/],
      [[keyA, { id: 'a-2026', key: keyB.key }], /"a-2026" is given twice/],
      [[{ id: '', key: keyA.key }], /id must be/],
      [[{ id: 'with space', key: keyA.key }], /id must be/],
      [[{ id: 'x'.repeat(65), key: keyA.key }], /id must be/],
    ];
    for (const [keys, message] of cases) {
      const error = thrown(() => new TokenVault(keys as never));
      expect(error).toBeInstanceOf(VaultError);
      expect(error.message).toMatch(message);
      expect(error.message).not.toContain(short.toString('hex'));
      expectNothingSecretIn(error);
    }
  });

  it('shows no key material when inspected', () => {
    const vault = new TokenVault([keyA, keyB]);
    const shown = `${inspect(vault, { depth: 10, showHidden: true })}${JSON.stringify(vault)}`;
    for (const { key } of [keyA, keyB]) {
      expect(shown).not.toContain(key.toString('hex'));
      expect(shown).not.toContain(key.toString('base64'));
    }
  });

  it('keeps no reference to the buffers it was given: zeroing them later changes nothing', () => {
    const key = Buffer.from(keyA.key);
    const vault = new TokenVault([{ id: 'copy', key }]);
    key.fill(0);
    const sealed = vault.seal(MEMBER, SECRET);
    expect(new TokenVault([{ id: 'copy', key: keyA.key }]).open(MEMBER, sealed)).toBe(SECRET);
  });
});
