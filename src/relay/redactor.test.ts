import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fold, Redactor } from './redactor';

describe('Redactor', () => {
  it('redacts a secret as written and as it appears in a URL, the longest first', () => {
    const redactor = new Redactor(['code 1/2', 'code']);
    expect(redactor.redact('a code 1/2 in /rest/1/code%201%2F2/ and code')).toBe(
      'a [redacted] in /rest/1/[redacted]/ and [redacted]',
    );
  });

  it("adds a request's secrets to the gateway's, and ignores ones too short to be secret", () => {
    const gateway = new Redactor(['gateway-code']);
    expect(gateway.with([undefined, 'abc'])).toBe(gateway);
    expect(gateway.with(['caller-token']).redact('gateway-code caller-token abc')).toBe('[redacted] [redacted] abc');
  });

  it('says when a JSON text may hold a secret: as written, or behind an escape', () => {
    const redactor = new Redactor(['a/b-secret']);
    expect(redactor.mayBeIn('{"error":"X","error_description":"plain"}')).toBe(false);
    expect(redactor.mayBeIn('{"error_description":"a/b-secret"}')).toBe(true);
    expect(redactor.mayBeIn('{"error_description":"a\\/b-secret"}')).toBe(true);
    expect(new Redactor().mayBeIn('{"a":"\\/"}')).toBe(false);
  });
});

describe('Redactor, in any case', () => {
  it('redacts a secret Bitrix24 echoes upper- or lower-cased, and its URL form with lower-case escapes', () => {
    const redactor = new Redactor(['Wh0ok-Code/x', 'clientIdAbc']);
    expect(
      redactor.redact('WH0OK-CODE/X wh0ok-code/x wH0Ok-cOdE/X /rest/1/wh0ok-code%2fx/ CLIENTIDABC clientidabc'),
    ).toBe('[redacted] [redacted] [redacted] /rest/1/[redacted]/ [redacted] [redacted]');
    expect(redactor.mayBeIn('{"error_description":"CLIENTIDABC"}')).toBe(true);
    expect(redactor.mayBeIn('{"error_description":"client id"}')).toBe(false);
  });

  it("hides overlapping secrets whole, and a request's own beside the gateway's", () => {
    const redactor = new Redactor(['abcdef']).with(['DEFGHI']);
    expect(redactor.redact('xxABCDEFGHIyy abcd')).toBe('xx[redacted]yy abcd');
  });

  it('folds letters outside ASCII too, where the case keeps their length', () => {
    expect(new Redactor(['ключ-Σοφία']).redact('КЛЮЧ-ΣΟΦΊΑ и ключ-σοφία')).toBe('[redacted] и [redacted]');
    expect(fold('İx')).toHaveLength(2);
  });

  it('reads a long text in one pass, whatever the secrets: at most two transitions a unit', () => {
    // Secrets that share long prefixes, and texts that run along them and fall back: a per-secret search
    // would compare ~100 units at each position for each of 200 secrets.
    const secrets = Array.from({ length: 200 }, (_, i) => `${'a'.repeat(100 + i)}b`);
    for (const text of ['A'.repeat(1_000_000), `${'a'.repeat(250)}c`.repeat(4_000), 'aab'.repeat(300_000)]) {
      const redactor = new Redactor(secrets);
      expect(redactor.redact(text)).toBe(text);
      expect(redactor.steps).toBeLessThanOrEqual(2 * text.length);
    }
  });

  // Letters of other cases (ASCII, Latin-1, Greek, Cyrillic), digits and URL characters; no brackets, so that
  // the redaction's own text cannot join with the text around it into a secret.
  const unit = fc.constantFrom(...'aBcDeFxYz0129-_./ %éÉßΣσςЖжİı'.split(''));
  const secret = fc.string({ unit, minLength: 4, maxLength: 12 });
  const anyCase = (text: string, flips: boolean[]) =>
    [...text]
      .map((char, i) => {
        const other = flips[i % flips.length] ? char.toUpperCase() : char.toLowerCase();
        return other.length === char.length ? other : char;
      })
      .join('');

  it('never leaves any case variant of a secret, as written or URL-encoded', () => {
    fc.assert(
      fc.property(
        fc.array(secret, { minLength: 1, maxLength: 4 }),
        fc.array(
          fc.tuple(fc.string({ unit, maxLength: 6 }), fc.nat(), fc.array(fc.boolean(), { minLength: 1 }), fc.boolean()),
          {
            maxLength: 8,
          },
        ),
        (secrets, pieces) => {
          const text = pieces
            .map(([around, which, flips, encoded]) => {
              const chosen = secrets[which % secrets.length]!;
              return around + anyCase(encoded ? encodeURIComponent(chosen) : chosen, flips);
            })
            .join('');
          const kept = new Redactor(secrets).redact(text).split('[redacted]');
          for (const piece of kept) {
            for (const chosen of secrets) {
              expect(fold(piece)).not.toContain(fold(chosen));
              expect(fold(piece)).not.toContain(fold(encodeURIComponent(chosen)));
            }
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
