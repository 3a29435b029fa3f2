// The attack suite's world for application mode (src/attacks/application.test.ts): the built gateway
// (`node dist/main.js`) in application mode against the emulated Bitrix24 cloud, its portals installed the
// way Bitrix24 installs them; raw HTTP from a chosen loopback source address (the event handler limits
// installs per address); what the served spec documents for each operation; /healthz asked over and over
// while an attack runs; every answer kept, so that the test can look for a token in any of them; and the
// event bodies that cost the handler's form reader the most for their size.
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { type Cloud, type CloudPortal, startCloud } from '../emulator';
import { type AppEvent, type AppEventName, appEvent } from '../emulator/cloud';
import { filled } from '../test-support/form-shapes';
import { type GatewayProcess, startGatewayProcess, untilReady } from '../test-support/processes';
import { type RedisServer, startRedis } from '../test-support/redis';

export const CLIENT_ID = 'app.attack-suite';
export const CLIENT_SECRET = 'attack-suite-client-secret-0123456789';
export const TOKEN_KEY = `k1:${randomBytes(32).toString('base64')}`;
export const KEYS = { a: 'alpha-attack-key-0123456789', b: 'bravo-attack-key-0123456789' } as const;
export const FORM = 'application/x-www-form-urlencoded';
export const EVENTS = '/bitrix24/events';
/** Where Bitrix24's events come from in these tests (the cloud posts from the default loopback address). */
export const BITRIX24_ADDRESS = '127.0.0.1';

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The JSON body, or the text when it is not JSON. */
  // biome-ignore lint/suspicious/noExplicitAny: tests read an answer's fields directly, whatever its status
  body: any;
  text: string;
}

export interface World {
  cloud: Cloud;
  gateway: GatewayProcess;
  /** The portals installed when the world started (team-b may call the first only). */
  installed: readonly CloudPortal[];
  /** One portal left uninstalled, for installs during the attacks. */
  spare: CloudPortal;
  /** The installs that were applied when the world started, by member_id (`eventBody` gives their bytes). */
  appliedInstalls: Map<string, AppEvent>;
  /** Every answer the gateway gave in this world, as text (for the secret scan). */
  answers: string[];
  /** Every event sent (its tokens are secrets the gateway must never echo). */
  events: AppEvent[];
  /** Sends a request to the gateway over a connection of its own, from `from` (127.0.0.1 unless told). */
  send(options: SendOptions): Promise<Answer>;
  /** POSTs a form (or bytes) to the event handler. */
  event(body: string | Buffer, options?: Omit<SendOptions, 'path' | 'body'>): Promise<Answer>;
  /** GET /portals as team-a (every portal): member_id, domain and state, in member_id order. */
  portals(): Promise<{ member_id: string; domain: string; state: string }[]>;
  /** Calls a portal as a team; the answer. */
  call(portal: string, body?: string, key?: string): Promise<Answer>;
  /** Every request every portal received, summed. */
  portalCalls(): number;
  close(): Promise<void>;
}

export interface SendOptions {
  method?: string;
  path: string;
  body?: string | Buffer;
  contentType?: string;
  headers?: Record<string, string>;
  /** The source address (a loopback one: every 127.x.y.z is this host's). */
  from?: string;
  timeoutMs?: number;
}

/** Where the gateway keeps its portals: its data folder, or a Redis of its own (append-only file on). */
export type PortalStoreKind = 'data folder' | 'Redis';

export async function startWorld(installs = 3, store: PortalStoreKind = 'data folder'): Promise<World> {
  const cloud = await startCloud({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, portals: installs + 1 });
  let gateway: GatewayProcess;
  let redis: RedisServer | undefined;
  try {
    if (store === 'Redis') redis = await startRedis([], undefined, undefined, { aof: true });
    gateway = await startGatewayProcess({
      ...(redis && { REDIS_URL: redis.url, GATEWAY_REPLICAS: '1' }),
      BITRIX24_APP_CLIENT_ID: CLIENT_ID,
      BITRIX24_APP_CLIENT_SECRET: CLIENT_SECRET,
      BITRIX24_OAUTH_URL: cloud.oauthUrl,
      GATEWAY_TOKEN_KEY: TOKEN_KEY,
      GATEWAY_API_KEYS: `team-a:${KEYS.a},team-b:${KEYS.b}`,
      GATEWAY_TEAM_PORTALS: `team-a:*,team-b:${cloud.portals[0]!.memberId}`,
      BITRIX24_BOT_EVENTS_URL: 'http://127.0.0.1:9/bot-events',
      LOG_LEVEL: 'info',
    });
    // With Redis, portals can be installed once the gateway has reached it.
    if (redis) await untilReady([gateway]);
  } catch (error) {
    await cloud.close();
    await redis?.dispose();
    throw error;
  }
  const answers: string[] = [];
  const events: AppEvent[] = [];
  const send = async (options: SendOptions): Promise<Answer> => {
    const answer = await sendFrom(gateway.url, options);
    answers.push(answer.text);
    return answer;
  };
  const world: World = {
    cloud,
    gateway,
    installed: cloud.portals.slice(0, installs),
    spare: cloud.portals[installs]!,
    appliedInstalls: new Map(),
    answers,
    events,
    send,
    event: (body, options = {}) => send({ contentType: FORM, ...options, path: EVENTS, body }),
    async portals() {
      const answer = await send({ method: 'GET', path: '/portals', headers: { authorization: `Bearer ${KEYS.a}` } });
      if (answer.status !== 200) throw new Error(`GET /portals answered ${answer.status}: ${answer.text}`);
      return answer.body.portals;
    },
    call: (portal, body = '{"CHAT_ID":112,"USER_ID":12}', key = KEYS.a) =>
      send({
        path: `/portals/${portal}/rest/imopenlines.bot.session.transfer`,
        body,
        contentType: 'application/json',
        headers: { authorization: `Bearer ${key}` },
      }),
    portalCalls: () => cloud.portals.reduce((sum, portal) => sum + portal.calls(), 0),
    async close() {
      await gateway.stop();
      await cloud.close();
      await redis?.dispose();
    },
  };
  for (const portal of world.installed) {
    const delivery = await cloud.install(portal, `${gateway.url}${EVENTS}`);
    events.push(delivery.event);
    answers.push(delivery.body);
    if (delivery.status !== 200) throw new Error(`the install of a portal answered ${delivery.status}`);
    world.appliedInstalls.set(portal.memberId, delivery.event);
  }
  return world;
}

/**
 * An event of `portal` as Bitrix24 builds it, with `applicationToken`; an install or update carries a pair the
 * authorization server never issued. Kept in `world.events` (its tokens are looked for in every answer).
 */
export function forgedEvent(
  world: World,
  name: AppEventName,
  portal: Pick<CloudPortal, 'memberId' | 'domain' | 'clientEndpoint'>,
  applicationToken: string,
): AppEvent {
  const now = Date.now();
  const source = {
    memberId: portal.memberId,
    domain: portal.domain,
    clientEndpoint: portal.clientEndpoint,
    serverEndpoint: world.cloud.serverEndpoint,
    applicationToken,
    scope: 'imbot,imopenlines',
    now,
  };
  const pair = {
    accessToken: randomBytes(36).toString('hex'),
    refreshToken: randomBytes(36).toString('hex'),
    memberId: portal.memberId,
    accessExpiresAt: now + 3_600_000,
    refreshExpiresAt: now + 180 * 86_400_000,
    issuedAt: now,
  };
  const event = appEvent(name, source, name === 'ONAPPUNINSTALL' ? undefined : pair);
  world.events.push(event);
  return event;
}

/** One request over a connection of its own (never pooled), from a chosen source address. */
export function sendFrom(base: string, options: SendOptions): Promise<Answer> {
  // The path goes as written (`..` and `%2E%2E` too): WHATWG URL rules would resolve them before sending.
  const url = new URL(base);
  const body = options.body === undefined ? undefined : Buffer.from(options.body);
  const headers: Record<string, string> = { ...options.headers };
  if (options.contentType !== undefined) headers['content-type'] = options.contentType;
  if (body !== undefined) headers['content-length'] = String(body.length);
  return new Promise((resolve, reject) => {
    const outgoing = request(
      {
        host: url.hostname,
        port: url.port,
        path: options.path,
        method: options.method ?? 'POST',
        headers,
        agent: false,
        localAddress: options.from ?? BITRIX24_ADDRESS,
        timeout: options.timeoutMs ?? 20_000,
      },
      (incoming) => {
        const chunks: Buffer[] = [];
        incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
        incoming.on('error', reject);
        incoming.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // Not JSON: the test sees the text.
          }
          resolve({ status: incoming.statusCode ?? 0, headers: incoming.headers, body: parsed, text });
        });
      },
    );
    outgoing.on('timeout', () => outgoing.destroy(new Error(`no answer to ${options.path} in time`)));
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

/** Status → the error codes the served spec documents for an operation (an empty set for a success). */
export type Documented = ReadonlyMap<number, ReadonlySet<string>>;

/** A node of the served spec's JSON, read by its OpenAPI keys. */
// biome-ignore lint/suspicious/noExplicitAny: the served document is walked by the names OpenAPI gives its parts
type SpecNode = any;

/** What the served spec (`/openapi.json`) documents for `operationId`: each status and its codes. */
export function documentedAnswers(spec: SpecNode, operationId: string): Documented {
  const resolve = (node: SpecNode): SpecNode => {
    let at = node;
    for (let hops = 0; typeof at?.$ref === 'string' && hops < 8; hops++)
      at = (at.$ref as string)
        .slice(2)
        .split('/')
        .reduce((parent: SpecNode, key) => parent?.[key], spec);
    return at;
  };
  for (const item of Object.values<SpecNode>(spec.paths)) {
    for (const operation of Object.values<SpecNode>(item)) {
      if (operation?.operationId !== operationId) continue;
      const documented = new Map<number, Set<string>>();
      for (const [status, response] of Object.entries<SpecNode>(operation.responses)) {
        const schema = resolve(resolve(response)?.content?.['application/json']?.schema);
        documented.set(Number(status), new Set<string>(schema?.properties?.error?.enum ?? []));
      }
      return documented;
    }
  }
  throw new Error(`the served spec has no operation ${operationId}`);
}

/** Whether `answer` is one `documented` lists: its status, and its code for an error. */
export function isDocumented(documented: Documented, answer: Answer): boolean {
  const codes = documented.get(answer.status);
  if (!codes) return false;
  return answer.status < 400 || codes.has(answer.body?.error);
}

/**
 * Runs `attack` while /healthz is asked over and over (10 ms apart); resolves with the attack's result and
 * how long each /healthz took (ms). A /healthz that is not 200 fails.
 */
export async function whileProbingHealth<T>(base: string, attack: () => Promise<T>): Promise<[T, number[]]> {
  let attacking = true;
  const timings: number[] = [];
  const probe = (async () => {
    while (attacking) {
      const started = performance.now();
      const response = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(20_000) });
      await response.arrayBuffer();
      if (response.status !== 200) throw new Error(`/healthz answered ${response.status}`);
      timings.push(performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();
  try {
    return [await attack(), timings];
  } finally {
    attacking = false;
    await probe;
  }
}

/** One name as long as fits: `head&start`, then `body` repeated, then `=1`. */
function single(limit: number, head: string, start: string, body: string): string {
  const prefix = `${head}&${start}`;
  return `${prefix}${body.repeat(Math.floor((limit - prefix.length - 2) / body.length))}=1`;
}

/** The most fields the event handler reads (src/application/events/read.ts, MAX_FIELDS). */
const MAX_EVENT_FIELDS = 256;

/** `head`, then `unit(0)`, `unit(1)`, … up to MAX_EVENT_FIELDS fields in all or `limit` bytes, whichever first. */
function fieldsUpTo(limit: number, head: string, unit: (index: number) => string): string {
  const parts = [head];
  let length = head.length;
  for (let index = 0; index < MAX_EVENT_FIELDS - head.split('&').length; index++) {
    const next = unit(index);
    if (length + 1 + next.length > limit) break;
    parts.push(next);
    length += 1 + next.length;
  }
  return parts.join('&');
}

/**
 * The event bodies that cost the handler's form reader the most for their size: deep nesting, many keys, a
 * field repeated in every spelling, appends, a value and fields at once, lists where one value belongs,
 * integer keys, prototype keys, NULs, bad percent-encodings, bytes that are not UTF-8, and as many fields as
 * the handler reads, nested deep or each the longest `data` value it takes. By name, each at most `limit`
 * bytes (ASCII, except the one that is not UTF-8), after `head` (an event that names a portal, e.g. an
 * uninstall with a wrong application_token).
 */
export function eventShapes(limit: number, head: string, memberId: string): Record<string, string | Buffer> {
  return {
    'one name auth[a][a][a]… as deep as fits': single(limit, head, 'auth[a]', '[a]'),
    'auth[x][a]…[a] (past PHP’s 64 levels) repeated': filled(
      limit,
      head,
      (index) => `auth[x${index}]${'[a]'.repeat(64)}=1`,
    ),
    'many keys auth[k1]=v&auth[k2]=v…': filled(limit, head, (index) => `auth[k${index}]=v`),
    'auth[member_id] repeated': filled(limit, head, () => `auth[member_id]=${memberId}`),
    'auth%5Bmember_id%5D repeated (the brackets percent-encoded)': filled(
      limit,
      head,
      () => `auth%5Bmember_id%5D=${memberId}`,
    ),
    'auth[]= repeated': filled(limit, head, () => 'auth[]='),
    'auth=x&auth[x]=y repeated': filled(limit, head, () => 'auth=x&auth[x]=y'),
    'auth[member_id][]= (a list where one value belongs) repeated': filled(limit, head, () => 'auth[member_id][]=a'),
    'auth[PHP_INT_MAX]=1&auth[]=1 repeated': filled(limit, head, () => 'auth[9223372036854775807]=1&auth[]=1'),
    '__proto__ and constructor keys repeated': filled(
      limit,
      head,
      () => '__proto__[x]=1&auth[__proto__][x]=1&constructor[prototype][x]=1',
    ),
    'NULs in names and values repeated': filled(limit, head, () => 'auth[%00]=%00&%00=1'),
    'a bad percent-encoding repeated': filled(limit, head, () => 'data[x]=%E0%A4%A'),
    'one bracket never closed, auth[xxx…': single(limit, head, 'auth[', 'x'),
    'one value as long as fits': single(limit, head, 'auth[x]=', 'x'),
    '256 fields, auth[k][a]…[a] 60 levels deep each': fieldsUpTo(
      limit,
      head,
      (i) => `auth[k${i}]${'[a]'.repeat(58)}=1`,
    ),
    '256 fields, data[k] of 255 characters each': fieldsUpTo(limit, head, (i) => `data[k${i}]=${'v'.repeat(255)}`),
    'bytes that are not UTF-8 (an overlong "/") repeated': Buffer.from(
      filled(limit, head, () => 'data[x]=\u0001\u0002').replaceAll('\u0001\u0002', '\xc0\xaf'),
      'latin1',
    ),
  };
}
