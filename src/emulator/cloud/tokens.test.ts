// The token book's bounds: a portal keeps its newest pairs (older ones revoked), and spent refresh tokens
// are remembered up to a bound, the oldest forgotten.
import { describe, expect, it } from 'vitest';
import { TokenBook } from './tokens';

const book = (limits: { maxPairsPerPortal?: number; maxRemembered?: number }, now = () => 1_000) =>
  new TokenBook({ accessTtlMs: 3_600_000, refreshTtlMs: 86_400_000, ...limits }, now);

describe('TokenBook', () => {
  it("revokes a portal's oldest pair past maxPairsPerPortal", () => {
    const tokens = book({ maxPairsPerPortal: 2 });
    const [a, b, c] = [tokens.mint('p'), tokens.mint('p'), tokens.mint('p')];
    expect(tokens.livePairs('p')).toBe(2);
    expect(tokens.accessState(a.accessToken, 'p')).toBe('unknown');
    expect(tokens.redeem(a.refreshToken)).toEqual({ outcome: 'invalid_grant', reason: 'spent' });
    expect(tokens.accessState(b.accessToken, 'p')).toBe('live');
    expect(tokens.accessState(c.accessToken, 'other')).toBe('unknown');
  });

  it('remembers at most maxRemembered spent refresh tokens, forgetting the oldest', () => {
    const tokens = book({ maxRemembered: 3 });
    const spent = Array.from({ length: 5 }, () => tokens.mint('p').refreshToken);
    for (const token of spent) expect(tokens.redeem(token).outcome).toBe('refreshed');
    expect(tokens.remembered).toBe(3);
    expect(tokens.redeem(spent[0]!)).toEqual({ outcome: 'invalid_grant', reason: 'unknown' });
    expect(tokens.redeem(spent[4]!)).toEqual({ outcome: 'invalid_grant', reason: 'spent' });
  });

  it('expires access tokens by the clock and on demand', () => {
    let clock = 0;
    const tokens = book({}, () => clock);
    const pair = tokens.mint('p');
    clock = 3_599_999;
    expect(tokens.accessState(pair.accessToken, 'p')).toBe('live');
    tokens.expireAccess('p');
    expect(tokens.accessState(pair.accessToken, 'p')).toBe('expired');
  });
});
