// The cloud's OAuth tokens: the pairs the authorization server issued, per portal, and the refresh tokens it
// spent. A refresh token is single use (the reference's "assume yes"): redeeming it spends it and kills the
// access token issued with it. Bounded: a portal keeps its newest `maxPairsPerPortal` pairs (an older one is
// revoked), and spent refresh tokens are remembered, the newest `maxRemembered`, to answer `invalid_grant`.
import { randomBytes } from 'node:crypto';

export interface Pair {
  accessToken: string;
  refreshToken: string;
  memberId: string;
  /** When the access token dies, ms. */
  accessExpiresAt: number;
  /** When the refresh token dies, ms. */
  refreshExpiresAt: number;
  issuedAt: number;
}

export type AccessState = 'live' | 'expired' | 'unknown';

export type Redemption =
  | { outcome: 'refreshed'; pair: Pair }
  | { outcome: 'invalid_grant'; reason: 'unknown' | 'spent' | 'expired' };

export interface TokenLimits {
  accessTtlMs: number;
  refreshTtlMs: number;
  maxPairsPerPortal?: number;
  maxRemembered?: number;
}

/** A random token: 72 hex digits, about the length of Bitrix24's. */
export const randomToken = (bytes = 36) => randomBytes(bytes).toString('hex');

interface Held extends Pair {
  /** Times the refresh token was presented. */
  presented: number;
}

export class TokenBook {
  readonly #byAccess = new Map<string, Held>();
  readonly #byRefresh = new Map<string, Held>();
  /** Each portal's live pairs, oldest first. */
  readonly #byPortal = new Map<string, Held[]>();
  /** Spent (or revoked) refresh token → times presented; insertion order is age. */
  readonly #spent = new Map<string, number>();
  readonly #maxPairs: number;
  readonly #maxRemembered: number;

  constructor(
    readonly limits: TokenLimits,
    readonly now: () => number,
  ) {
    this.#maxPairs = limits.maxPairsPerPortal ?? 32;
    this.#maxRemembered = limits.maxRemembered ?? 10_000;
  }

  /** A new pair for the portal. */
  mint(memberId: string): Pair {
    const now = this.now();
    const pair: Held = {
      accessToken: randomToken(),
      refreshToken: randomToken(),
      memberId,
      accessExpiresAt: now + this.limits.accessTtlMs,
      refreshExpiresAt: now + this.limits.refreshTtlMs,
      issuedAt: now,
      presented: 0,
    };
    const pairs = this.#byPortal.get(memberId) ?? [];
    this.#byPortal.set(memberId, pairs);
    pairs.push(pair);
    this.#byAccess.set(pair.accessToken, pair);
    this.#byRefresh.set(pair.refreshToken, pair);
    while (pairs.length > this.#maxPairs) this.#revoke(pairs[0]!);
    const { accessToken, refreshToken, accessExpiresAt, refreshExpiresAt, issuedAt } = pair;
    return { accessToken, refreshToken, memberId, accessExpiresAt, refreshExpiresAt, issuedAt };
  }

  /** The member_id of the portal an access token was issued for (live or expired), or undefined. */
  holderOf(accessToken: string): string | undefined {
    return this.#byAccess.get(accessToken)?.memberId;
  }

  /** Whether `token` is a live access token of the portal, one that expired, or neither. */
  accessState(token: string, memberId: string): AccessState {
    const pair = this.#byAccess.get(token);
    if (!pair || pair.memberId !== memberId) return 'unknown';
    return this.now() < pair.accessExpiresAt ? 'live' : 'expired';
  }

  /** Counts one presentation of a refresh token the server issued (others are not kept). */
  present(refreshToken: string): void {
    const pair = this.#byRefresh.get(refreshToken);
    if (pair) pair.presented += 1;
    else if (this.#spent.has(refreshToken)) this.#spent.set(refreshToken, this.#spent.get(refreshToken)! + 1);
  }

  /** Every token of the pairs held now, access and refresh (tests look for them where none may be). */
  issued(): string[] {
    return [...this.#byAccess.keys(), ...this.#byRefresh.keys(), ...this.#spent.keys()];
  }

  /** How many times the refresh token was presented (0 for one never issued or long forgotten). */
  presented(refreshToken: string): number {
    return this.#byRefresh.get(refreshToken)?.presented ?? this.#spent.get(refreshToken) ?? 0;
  }

  /** Spends the refresh token for a new pair of its portal; the spent pair's access token dies with it. */
  redeem(refreshToken: string): Redemption {
    const pair = this.#byRefresh.get(refreshToken);
    if (!pair) return { outcome: 'invalid_grant', reason: this.#spent.has(refreshToken) ? 'spent' : 'unknown' };
    this.#revoke(pair);
    if (this.now() >= pair.refreshExpiresAt) return { outcome: 'invalid_grant', reason: 'expired' };
    return { outcome: 'refreshed', pair: this.mint(pair.memberId) };
  }

  /** Every live access token of the portal expires now. */
  expireAccess(memberId: string): void {
    const now = this.now();
    for (const pair of this.#byPortal.get(memberId) ?? []) pair.accessExpiresAt = Math.min(pair.accessExpiresAt, now);
  }

  /** Revokes every pair of the portal (an uninstall). */
  revokePortal(memberId: string): void {
    for (const pair of [...(this.#byPortal.get(memberId) ?? [])]) this.#revoke(pair);
    this.#byPortal.delete(memberId);
  }

  /** How many pairs the portal holds alive. */
  livePairs(memberId: string): number {
    return this.#byPortal.get(memberId)?.length ?? 0;
  }

  /** How many spent refresh tokens are remembered. */
  get remembered(): number {
    return this.#spent.size;
  }

  #revoke(pair: Held): void {
    this.#byAccess.delete(pair.accessToken);
    this.#byRefresh.delete(pair.refreshToken);
    const pairs = this.#byPortal.get(pair.memberId);
    const at = pairs?.indexOf(pair) ?? -1;
    if (at >= 0) pairs!.splice(at, 1);
    this.#spent.set(pair.refreshToken, pair.presented);
    for (const oldest of this.#spent.keys()) {
      if (this.#spent.size <= this.#maxRemembered) break;
      this.#spent.delete(oldest);
    }
  }
}
