// The bounds of what the portal store writes: every field of a record checked for its type and length
// before anything is sealed or stored. A refusal is a TypeError that names the field, never its value (a
// field may be a secret).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { PortalRecord, PortalState, PortalTokens } from './types';

/** Bounds on what a record holds (characters): Bitrix24's are far shorter; past them a write is refused. */
export const MAX_MEMBER_ID = 128;
export const MAX_DOMAIN = 300;
export const MAX_TEXT = 2_048;
export const MAX_SECRET = 4_096;

const STATES: ReadonlySet<string> = new Set<PortalState>(['installing', 'ready', 'bot-failed', 'needs-reinstall']);

export function checkState(state: unknown): void {
  if (typeof state !== 'string' || !STATES.has(state))
    throw new TypeError('portal record: state is not one of the portal states');
}

export function checkRecord(record: PortalRecord): void {
  checkText('memberId', record.memberId, MAX_MEMBER_ID, 1);
  checkText('domain', record.domain, MAX_DOMAIN, 1);
  checkText('clientEndpoint', record.clientEndpoint, MAX_TEXT);
  checkState(record.state);
  if (record.stateReason !== undefined) checkText('stateReason', record.stateReason, MAX_TEXT);
  if (record.botId !== undefined) checkInteger('botId', record.botId);
  checkText('applicationToken', record.applicationToken, MAX_SECRET);
  checkTokens(record.tokens);
  checkInteger('installedAt', record.installedAt);
  if (record.refreshedAt !== undefined) checkInteger('refreshedAt', record.refreshedAt);
}

export function checkTokens(tokens: PortalTokens): void {
  if (typeof tokens !== 'object' || tokens === null) throw new TypeError('portal record: tokens are missing');
  checkText('accessToken', tokens.accessToken, MAX_SECRET);
  checkText('refreshToken', tokens.refreshToken, MAX_SECRET);
  checkInteger('expiresAt', tokens.expiresAt);
  checkInteger('issuedAt', tokens.issuedAt);
}

/** Refuses a field that is not a string within bounds, naming the field and never its value. */
export function checkText(field: string, value: unknown, max: number, min = 0): void {
  if (typeof value !== 'string' || value.length < min || value.length > max)
    throw new TypeError(`portal record: ${field} must be a string of ${min} to ${max} characters`);
}

export function checkInteger(field: string, value: unknown): void {
  if (!Number.isSafeInteger(value)) throw new TypeError(`portal record: ${field} must be an integer`);
}

/** The host (and port, when not the scheme's) of a client endpoint, lower case; undefined when it is no URL. */
export function domainOf(endpoint: string): string | undefined {
  try {
    const host = new URL(endpoint).host.toLowerCase();
    return host && host.length <= MAX_DOMAIN ? host : undefined;
  } catch {
    return undefined;
  }
}

/** A member_id as errors show it: quoted, bounded. */
export function shownMemberId(memberId: string): string {
  return JSON.stringify(memberId.length > MAX_MEMBER_ID ? `${memberId.slice(0, MAX_MEMBER_ID)}…` : memberId);
}

/** Two secrets compared in constant time, over SHA-256 digests so that the lengths are equal whatever was sent. */
export function sameSecret(stored: string, offered: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();
  return timingSafeEqual(digest(stored), digest(offered));
}
