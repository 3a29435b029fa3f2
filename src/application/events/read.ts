// An application event's body read as Bitrix24's PHP would (phpFormParams), then checked against the spec's
// Bitrix24Event before anything else is done: the cheap checks. A field given twice (in any spelling PHP
// reads as the same field, `auth[member_id]` and `auth%5Bmember_id%5D=`, or as a value and as fields), a
// list where one value belongs, a missing or malformed field: each is a problem naming the field, with the
// value shown (bounded) only for fields that are not secrets. Linear in the body, which is bounded.
import { integerKey, type PhpParams, phpFormParams } from '../../bitrix24-semantics';
import { preview } from '../../preview';
import { isMemberId } from '../token-answer';

export const EVENT_NAMES = ['ONAPPINSTALL', 'ONAPPUPDATE', 'ONAPPUNINSTALL'] as const;
export type EventName = (typeof EVENT_NAMES)[number];

/** The fields of an event the handler reads, checked. */
export interface AppEventFields {
  event: EventName;
  memberId: string;
  /** A secret. */
  applicationToken: string;
  /** A secret; always there for an install. */
  refreshToken?: string;
  /** The portal's address as the event gives it (not believed: compared with the authorization server's). */
  domain?: string;
  clientEndpoint?: string;
  serverEndpoint?: string;
}

export type Reading = { fields: AppEventFields } | { problem: string; event?: EventName; memberId?: string };

/** The largest body read (characters); the route bounds it in bytes before. */
export const MAX_EVENT_CHARS = 64 * 1024;
/** Bitrix24's events have about 20 fields. */
export const MAX_FIELDS = 256;

/** The checked fields of `auth`: pattern or bound, and whether the value may be shown. */
const VISIBLE_ASCII = (max: number) => new RegExp(`^[\\x21-\\x7e]{1,${max}}$`);
const AUTH_RULES: Record<string, { test: (value: string) => boolean; what: string; secret: boolean }> = {
  member_id: { test: isMemberId, what: "a portal's member id (1 to 64 letters, digits, _ or -)", secret: false },
  application_token: { test: matches(VISIBLE_ASCII(255)), what: '1 to 255 visible ASCII characters', secret: true },
  access_token: { test: matches(VISIBLE_ASCII(512)), what: '1 to 512 visible ASCII characters', secret: true },
  refresh_token: { test: matches(VISIBLE_ASCII(512)), what: '1 to 512 visible ASCII characters', secret: true },
  domain: { test: (value) => value.length <= 255, what: 'at most 255 characters', secret: false },
  client_endpoint: { test: (value) => value.length <= 512, what: 'at most 512 characters', secret: false },
  server_endpoint: { test: (value) => value.length <= 512, what: 'at most 512 characters', secret: false },
};
const MAX_OTHER_AUTH = 512;
const MAX_DATA = 255;
const TS = /^[0-9]{1,12}$/;
/** The top-level fields whose repetition is looked for (the others are read past). */
const CHECKED_TOPS: ReadonlySet<string> = new Set(['event', 'ts', 'data', 'auth']);

export function readEvent(formText: string, maxChars = MAX_EVENT_CHARS): Reading {
  if (formText.length > maxChars) return { problem: `The body is longer than ${maxChars} characters` };
  const entries = [...new URLSearchParams(formText)];
  if (entries.length > MAX_FIELDS) return { problem: `The body has more than ${MAX_FIELDS} fields` };
  const repeated = repeatedField(entries);
  if (repeated !== undefined) return { problem: `${repeated} is repeated` };
  return checkShape(phpFormParams(entries));
}

function checkShape(params: PhpParams): Reading {
  const event = params.event;
  if (event === undefined) return { problem: 'event is missing' };
  if (typeof event !== 'string') return { problem: 'event must be one value, not fields' };
  if (!(EVENT_NAMES as readonly string[]).includes(event))
    return { problem: `event ${preview(event)} is not ${EVENT_NAMES.slice(0, 2).join(', ')} or ${EVENT_NAMES[2]}` };
  const name = event as EventName;

  const auth = params.auth;
  if (auth === undefined) return { problem: 'auth is missing', event: name };
  if (typeof auth !== 'object' || auth === null)
    return { problem: 'auth must be fields (auth[member_id]=…)', event: name };
  const fields = auth as PhpParams;
  const memberId = isMemberId(fields.member_id) ? fields.member_id : undefined;
  const problem = (text: string) => ({ problem: text, event: name, ...(memberId && { memberId }) });

  for (const field of ['member_id', 'application_token']) {
    if (fields[field] === undefined) return problem(`auth[${field}] is missing`);
  }
  if (name === 'ONAPPINSTALL' && fields.refresh_token === undefined)
    return problem("auth[refresh_token] is missing: an install brings the portal's tokens");
  for (const key of Object.keys(fields)) {
    const value = fields[key];
    const shown = `auth[${shortKey(key)}]`;
    if (typeof value !== 'string') return problem(`${shown} must be one value, not fields`);
    const rule = Object.hasOwn(AUTH_RULES, key) ? AUTH_RULES[key] : undefined;
    if (rule && !rule.test(value))
      return problem(`${shown}${rule.secret ? '' : ` ${preview(value)}`} is not ${rule.what}`);
    if (!rule && value.length > MAX_OTHER_AUTH) return problem(`${shown} is longer than ${MAX_OTHER_AUTH} characters`);
  }

  const ts = params.ts;
  if (ts !== undefined && (typeof ts !== 'string' || !TS.test(ts)))
    return problem(`ts ${preview(ts)} is not a Unix time (1 to 12 digits)`);
  const data = params.data;
  if (data !== undefined) {
    if (typeof data !== 'object' || data === null) return problem('data must be fields (data[VERSION]=…)');
    for (const [key, value] of Object.entries(data)) {
      if (typeof value !== 'string') return problem(`data[${shortKey(key)}] must be one value, not fields`);
      if (value.length > MAX_DATA) return problem(`data[${shortKey(key)}] is longer than ${MAX_DATA} characters`);
    }
  }

  const text = (key: string) => (fields[key] === '' ? undefined : (fields[key] as string | undefined));
  return {
    fields: {
      event: name,
      memberId: fields.member_id as string,
      applicationToken: fields.application_token as string,
      ...optional('refreshToken', text('refresh_token')),
      ...optional('domain', text('domain')),
      ...optional('clientEndpoint', text('client_endpoint')),
      ...optional('serverEndpoint', text('server_endpoint')),
    },
  };
}

/**
 * The first field of `event`, `ts`, `data[…]` or `auth[…]` that two entries give (as PHP reads their names),
 * or that one gives as a value and another as fields; as `auth[member_id]`. A key PHP may have made by an
 * append (`auth[]`, an integer key) is not counted: two appends are two fields.
 */
function repeatedField(entries: [string, string][]): string | undefined {
  /** JSON of a path (its first two keys) → whether a value ('leaf') or fields ('fields') were given there. */
  const seen = new Map<string, 'leaf' | 'fields'>();
  for (const [name] of entries) {
    const keys = pathOf(name);
    if (keys.length === 0 || !CHECKED_TOPS.has(keys[0]!)) continue;
    // Only the first two levels are fields of the event; anything deeper makes its second level fields.
    const depth = Math.min(keys.length, 2);
    for (let level = 1; level <= depth; level++) {
      const path = JSON.stringify(keys.slice(0, level));
      const had = seen.get(path);
      const isLeaf = level === keys.length;
      if (isLeaf && level === 2 && integerKey(keys[1]!) !== undefined) break;
      if (had === 'leaf' || (isLeaf && had !== undefined)) return shownPath(keys.slice(0, level));
      seen.set(path, isLeaf ? 'leaf' : 'fields');
    }
  }
  return undefined;
}

/** The keys PHP reads one form name as (`auth%5Bx%5D` and ` auth[x]` are `auth`, `x`); [] when PHP drops it. */
function pathOf(name: string): string[] {
  const keys: string[] = [];
  let node: unknown = phpFormParams([[name, '']]);
  while (typeof node === 'object' && node !== null) {
    const [key, more] = Object.keys(node);
    if (key === undefined || more !== undefined) break;
    keys.push(key);
    node = (node as PhpParams)[key];
  }
  return keys;
}

function shownPath(keys: string[]): string {
  return keys.map((key, at) => (at === 0 ? shortKey(key) : `[${shortKey(key)}]`)).join('');
}

/** A caller's key, cut to 40 characters. */
function shortKey(key: string): string {
  return key.length > 40 ? `${key.slice(0, 40)}…` : key;
}

function matches(pattern: RegExp): (value: string) => boolean {
  return (value) => pattern.test(value);
}

function optional<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: string };
}
