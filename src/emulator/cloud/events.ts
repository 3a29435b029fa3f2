// The application events a portal POSTs to the application's handler (ONAPPINSTALL, ONAPPUPDATE,
// ONAPPUNINSTALL), built as the reference and Bitrix24's event pages give them, and encoded as Bitrix24 sends
// every event: a form in PHP's bracket style (`auth[access_token]=…`), every value a string, as PHP's
// http_build_query writes it. `eventBody` is the one encoder; tests use its overrides to forge variants.

import { readBounded } from './body';
import type { Pair } from './tokens';

export type AppEventName = 'ONAPPINSTALL' | 'ONAPPUPDATE' | 'ONAPPUNINSTALL';

/** An event before encoding: `data` and `auth` are flat maps of strings, in the order sent. */
export interface AppEvent {
  event: string;
  data: Record<string, string>;
  ts: string;
  auth: Record<string, string>;
}

/** Per flat field name (`auth[domain]`, `event`): the value to send instead, or null to leave it out. */
export type EventOverrides = Readonly<Record<string, string | null>>;

/** What an event says of its portal and of the authorization server. */
export interface EventSource {
  memberId: string;
  domain: string;
  clientEndpoint: string;
  serverEndpoint: string;
  applicationToken: string;
  scope: string;
  now: number;
}

/**
 * The event as Bitrix24 builds it. ONAPPINSTALL and ONAPPUPDATE carry the new pair (`auth[domain]` is the
 * portal's here, unlike a token answer's); ONAPPUNINSTALL carries no token, only who the portal is and its
 * `application_token`. Values the pages leave open (VERSION, LANGUAGE_ID, user 1, status L) are this
 * emulator's.
 */
export function appEvent(name: AppEventName, source: EventSource, pair?: Pair, clean = false): AppEvent {
  const ts = String(Math.floor(source.now / 1000));
  if (name === 'ONAPPUNINSTALL') {
    return {
      event: name,
      data: { LANGUAGE_ID: 'en', CLEAN: clean ? '1' : '0' },
      ts,
      auth: {
        domain: source.domain,
        server_endpoint: source.serverEndpoint,
        client_endpoint: source.clientEndpoint,
        member_id: source.memberId,
        application_token: source.applicationToken,
      },
    };
  }
  if (!pair) throw new Error(`${name} carries a pair of tokens`);
  const data: Record<string, string> =
    name === 'ONAPPINSTALL'
      ? { VERSION: '1', ACTIVE: 'Y', INSTALLED: 'Y', LANGUAGE_ID: 'en' }
      : { VERSION: '2', PREVIOUS_VERSION: '1', LANGUAGE_ID: 'en' };
  return {
    event: name,
    data,
    ts,
    auth: {
      access_token: pair.accessToken,
      expires: String(Math.floor(pair.accessExpiresAt / 1000)),
      expires_in: String(Math.round((pair.accessExpiresAt - pair.issuedAt) / 1000)),
      scope: source.scope,
      domain: source.domain,
      server_endpoint: source.serverEndpoint,
      status: 'L',
      client_endpoint: source.clientEndpoint,
      member_id: source.memberId,
      user_id: '1',
      refresh_token: pair.refreshToken,
      application_token: source.applicationToken,
    },
  };
}

/** The event's flat fields in the order sent: `event`, `data[…]`, `ts`, `auth[…]`. */
export function eventFields(event: AppEvent): [string, string][] {
  return [
    ['event', event.event],
    ...Object.entries(event.data).map(([key, value]): [string, string] => [`data[${key}]`, value]),
    ['ts', event.ts],
    ...Object.entries(event.auth).map(([key, value]): [string, string] => [`auth[${key}]`, value]),
  ];
}

/**
 * The form body of an event, with `overrides` applied field by field (a field not in the event is added at
 * the end). Brackets are percent-encoded and spaces are `+`, as http_build_query writes them.
 */
export function eventBody(event: AppEvent, overrides: EventOverrides = {}): string {
  const fields = new Map(eventFields(event));
  for (const [name, value] of Object.entries(overrides)) {
    if (value === null) fields.delete(name);
    else fields.set(name, value);
  }
  return new URLSearchParams([...fields]).toString();
}

/** An answer's body is read up to this many bytes. */
const MAX_ANSWER_BYTES = 64 * 1024;

/** POSTs a form body to the handler, as a portal does: the handler's status and body ('' past 64 KiB). */
export async function postEvent(
  handlerUrl: string,
  body: string,
  timeoutMs = 10_000,
): Promise<{ status: number; body: string }> {
  const response = await fetch(handlerUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body,
    redirect: 'manual',
    signal: AbortSignal.timeout(timeoutMs),
  });
  const bytes = await readBounded(response.body, MAX_ANSWER_BYTES);
  return { status: response.status, body: bytes?.toString('utf8') ?? '' };
}
