import { describe, expect, it } from 'vitest';
import { Redactor } from './redactor';

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
