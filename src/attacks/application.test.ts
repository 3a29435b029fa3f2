// The attack suite, application mode (issue 33): hostile input to the one public path, POST
// /bitrix24/events, and to the portal paths, against ONE built gateway (`node dist/main.js`) in application
// mode with the emulated Bitrix24 cloud and three installed portals. Each attack gets an answer the served
// spec documents for its operation; nothing stored changes (GET /portals, the portals' states, the
// authorization server's request count, every portal's calls) unless Bitrix24 itself confirmed it; the
// portals keep working; /healthz answers within a second while the costliest bodies are posted; and no token,
// application_token, client secret or key is in any answer or log line. Run twice: the portals in the data
// folder, and in Redis.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_EVENT_CHARS } from '../application/events/read';
import { loadConfig } from '../config';
import type { CloudPortal } from '../emulator';
import { type AppEvent, type Delivery, type EventOverrides, eventBody } from '../emulator/cloud';
import { startHandler } from '../emulator/cloud/testing';
import { loggedLine } from '../test-support/processes';
import { sendRaw } from '../test-support/raw-http';
import { allLogLines, secretsUsed } from '../test-support/stack';
import {
  type Answer,
  CLIENT_SECRET,
  type Documented,
  documentedAnswers,
  EVENTS,
  eventShapes,
  FORM,
  forgedEvent,
  isDocumented,
  KEYS,
  startWorld,
  TOKEN_KEY,
  type World,
  whileProbingHealth,
} from './application-world';

const BODY_LIMIT = loadConfig({}).bodyLimitBytes;
const HEALTHZ_WITHIN_MS = 1_000;
const TRANSFER = 'imopenlines.bot.session.transfer';
const JSON_TYPE = 'application/json';
const VALID_TRANSFER = '{"CHAT_ID":112,"USER_ID":12}';

// The same attacks with the portals in the gateway's data folder, and in Redis (the replicas' store).
describe.each(['data folder', 'Redis'] as const)('application mode, its portals in its %s', (store) => {
  let world: World;
  let capture: Awaited<ReturnType<typeof startHandler>>;
  // biome-ignore lint/suspicious/noExplicitAny: the served document, read by its OpenAPI keys
  let spec: any;
  let receiveEvent: Documented;
  let transferOnPortal: Documented;
  let sendOnPortal: Documented;

  beforeAll(async () => {
    [world, capture] = await Promise.all([startWorld(3, store), startHandler()]);
    spec = (await world.send({ method: 'GET', path: '/openapi.json' })).body;
    receiveEvent = documentedAnswers(spec, 'receiveBitrix24Event');
    transferOnPortal = documentedAnswers(spec, 'transferSessionOnPortal');
    sendOnPortal = documentedAnswers(spec, 'sendSessionMessageOnPortal');
  }, 60_000);
  afterAll(async () => {
    await Promise.all([world?.close(), capture?.close()]);
  });

  const handler = () => `${world.gateway.url}${EVENTS}`;
  const victim = () => world.installed[0]!;
  const other = () => world.installed[1]!;

  /** What the attacks must not change: the portals as listed, the authorization server's requests, the portals' calls. */
  async function state() {
    return {
      portals: await world.portals(),
      tokenRequests: world.cloud.stats.tokenRequests,
      portalCalls: world.portalCalls(),
    };
  }

  function expectDocumented(documented: Documented, answer: Answer): void {
    expect(isDocumented(documented, answer), `${answer.status} ${answer.text.slice(0, 300)}`).toBe(true);
  }

  /** The gateway still runs, and every installed portal still answers a transfer, by member_id and by address. */
  async function expectServing(): Promise<void> {
    expect([world.gateway.child.exitCode, world.gateway.child.signalCode]).toEqual([null, null]);
    for (const portal of world.installed) {
      for (const name of [portal.memberId, portal.domain]) {
        const answer = await world.call(name);
        expect(answer.status, answer.text).toBe(200);
      }
    }
  }

  /** A pair the authorization server issued for `portal`, in an install event that went only to `capture`. */
  async function mintedInstall(portal: CloudPortal): Promise<AppEvent> {
    const delivery = await world.cloud.install(portal, capture.url);
    world.events.push(delivery.event);
    return delivery.event;
  }

  /** Bitrix24's install of `portal`, posted to the gateway (with `overrides` forged into it). */
  async function install(portal: CloudPortal, overrides?: EventOverrides): Promise<Delivery & { answer: Answer }> {
    const delivery = await world.cloud.install(portal, handler(), overrides ? { overrides } : {});
    world.events.push(delivery.event);
    world.answers.push(delivery.body);
    let body: unknown = delivery.body;
    try {
      body = JSON.parse(delivery.body);
    } catch {
      // Not JSON: the test sees the text.
    }
    return { ...delivery, answer: { status: delivery.status, headers: {}, body, text: delivery.body } };
  }

  interface EventRequest {
    body: string | Buffer;
    contentType?: string | undefined;
    headers?: Record<string, string>;
    method?: string;
    /** The path, when not the handler's own. */
    path?: string;
  }

  describe('the event endpoint: hostile bodies are answered as documented, and nothing stored changes', () => {
    // The victim's genuine uninstall (its own application_token) and a genuine install with a pair the
    // authorization server issued and nobody spent: a reader that let any row through would act on them.
    let uninstall: AppEvent;
    let installing: AppEvent;
    beforeAll(async () => {
      uninstall = forgedEvent(world, 'ONAPPUNINSTALL', victim(), victim().applicationToken);
      installing = await mintedInstall(victim());
    });
    const u = (overrides: EventOverrides = {}) => eventBody(uninstall, overrides);
    const i = (overrides: EventOverrides = {}) => eventBody(installing, overrides);
    const form = (body: string | Buffer): EventRequest => ({ body, contentType: FORM });
    const typed = (contentType: string | undefined, body: string | Buffer = u(), headers = {}): EventRequest => ({
      body,
      contentType,
      headers,
    });
    const withoutAuth = () =>
      u({
        'auth[domain]': null,
        'auth[server_endpoint]': null,
        'auth[client_endpoint]': null,
        'auth[member_id]': null,
        'auth[application_token]': null,
      });

    // [name, the request, status, code]
    const rows: [string, () => EventRequest, number, string][] = [
      [
        "auth[member_id] twice, another portal's last",
        () => form(`${u()}&auth[member_id]=${other().memberId}`),
        400,
        'INVALID_EVENT',
      ],
      [
        'auth[member_id] twice, the second spelt auth%5Bmember_id%5D',
        () => form(`${u()}&auth%5Bmember_id%5D=${other().memberId}`),
        400,
        'INVALID_EVENT',
      ],
      ['auth[member_id] as a value and as fields', () => form(`${u()}&auth[member_id][0]=x`), 400, 'INVALID_EVENT'],
      ['auth=x before the fields (a value and fields)', () => form(`auth=x&${u()}`), 400, 'INVALID_EVENT'],
      [
        'auth[]= carrying the member_id and the token, appended',
        () => form(`event=ONAPPUNINSTALL&auth[]=${victim().memberId}&auth[]=${victim().applicationToken}`),
        400,
        'INVALID_EVENT',
      ],
      [
        'auth[member_id][]= (a list where one value belongs)',
        () => form(`${u({ 'auth[member_id]': null })}&auth[member_id][]=${victim().memberId}`),
        400,
        'INVALID_EVENT',
      ],
      ['event[]=', () => form(`${u({ event: null })}&event[]=ONAPPUNINSTALL`), 400, 'INVALID_EVENT'],
      ['event twice, an install then an uninstall', () => form(`${i()}&event=ONAPPUNINSTALL`), 400, 'INVALID_EVENT'],
      ['auth[refresh_token] twice', () => form(`${i()}&auth[refresh_token]=${'r'.repeat(64)}`), 400, 'INVALID_EVENT'],
      [
        'auth[application_token] twice, a wrong one first',
        () => form(`auth[application_token]=${'f'.repeat(32)}&${u()}`),
        400,
        'INVALID_EVENT',
      ],
      [
        'the fields under __proto__ instead of auth',
        () =>
          form(
            `event=ONAPPUNINSTALL&__proto__[member_id]=${victim().memberId}&__proto__[application_token]=${victim().applicationToken}`,
          ),
        400,
        'INVALID_EVENT',
      ],
      [
        'auth[__proto__][member_id]',
        () => form(`${u()}&auth[__proto__][member_id]=${other().memberId}`),
        400,
        'INVALID_EVENT',
      ],
      [
        'auth[constructor][prototype][member_id]',
        () => form(`${u()}&auth[constructor][prototype][member_id]=${other().memberId}`),
        400,
        'INVALID_EVENT',
      ],
      ['an integer key given fields, auth[0][x]', () => form(`${u()}&auth[0][x]=1`), 400, 'INVALID_EVENT'],
      [
        "auth nested past PHP's 64 levels (which drops auth whole)",
        () => form(`${u()}&auth${'[a]'.repeat(65)}=1`),
        400,
        'INVALID_EVENT',
      ],
      [
        'a NUL before auth[member_id]',
        () => form(u({ 'auth[member_id]': `\0${victim().memberId}` })),
        400,
        'INVALID_EVENT',
      ],
      [
        'a NUL in a name (PHP ends the name there)',
        () => form(u().replace('auth%5Bmember_id%5D', 'auth%00%5Bmember_id%5D')),
        400,
        'INVALID_EVENT',
      ],
      ['a malformed percent-escape', () => form(`${u()}&data[X]=%E0%A4%A`), 400, 'INVALID_BODY'],
      ['a percent-encoded lone surrogate', () => form(`${u()}&data[X]=%ED%A0%80`), 400, 'INVALID_BODY'],
      [
        '%ZZ, not an escape, before auth[member_id]',
        () => form(u().replace('member_id%5D=', 'member_id%5D=%ZZ')),
        400,
        'INVALID_EVENT',
      ],
      ['a raw 0xFF byte', () => form(Buffer.concat([Buffer.from(u()), Buffer.from([0xff])])), 400, 'INVALID_BODY'],
      ['the form in UTF-16', () => form(Buffer.from(u(), 'utf16le')), 400, 'INVALID_EVENT'],
      ['ts not a Unix time', () => form(u({ ts: '1e9' })), 400, 'INVALID_EVENT'],
      [
        'data a value where fields belong',
        () => form(u({ 'data[LANGUAGE_ID]': null, 'data[CLEAN]': null, data: 'x' })),
        400,
        'INVALID_EVENT',
      ],
      ['data[VERSION] a list', () => form(`${u()}&data[VERSION][]=1`), 400, 'INVALID_EVENT'],
      ['the event in lower case', () => form(u({ event: 'onappuninstall' })), 400, 'INVALID_EVENT'],
      ['an event the handler does not take', () => form(u({ event: 'ONIMBOTMESSAGEADD' })), 400, 'INVALID_EVENT'],
      ['no event', () => form(u({ event: null })), 400, 'INVALID_EVENT'],
      ['no auth', () => form(withoutAuth()), 400, 'INVALID_EVENT'],
      ['no auth[member_id]', () => form(u({ 'auth[member_id]': null })), 400, 'INVALID_EVENT'],
      ['no auth[application_token]', () => form(u({ 'auth[application_token]': null })), 400, 'INVALID_EVENT'],
      ['an install without auth[refresh_token]', () => form(i({ 'auth[refresh_token]': null })), 400, 'INVALID_EVENT'],
      [
        'an install with an empty auth[refresh_token]',
        () => form(i({ 'auth[refresh_token]': '' })),
        400,
        'INVALID_EVENT',
      ],
      [
        'an install with a refresh token of 513 characters',
        () => form(i({ 'auth[refresh_token]': 'r'.repeat(513) })),
        400,
        'INVALID_EVENT',
      ],
      ['auth[member_id] of 65 characters', () => form(u({ 'auth[member_id]': 'a'.repeat(65) })), 400, 'INVALID_EVENT'],
      ['auth[member_id] a path', () => form(u({ 'auth[member_id]': '../x' })), 400, 'INVALID_EVENT'],
      [
        'auth[application_token] with a space',
        () => form(u({ 'auth[application_token]': `${victim().applicationToken} x` })),
        400,
        'INVALID_EVENT',
      ],
      [
        'auth[application_token] of 256 characters',
        () => form(u({ 'auth[application_token]': 'a'.repeat(256) })),
        400,
        'INVALID_EVENT',
      ],
      ['an empty body', () => form(''), 400, 'INVALID_EVENT'],
      ['the event as JSON', () => typed(JSON_TYPE, JSON.stringify(uninstall)), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      [
        'multipart/form-data',
        () =>
          typed(
            'multipart/form-data; boundary=x',
            '--x\r\nContent-Disposition: form-data; name="event"\r\n\r\nONAPPUNINSTALL\r\n--x--\r\n',
          ),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ],
      ['text/plain', () => typed('text/plain'), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['no Content-Type', () => typed(undefined), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      [
        'a form in Latin-1 (charset=iso-8859-1)',
        () => typed(`${FORM}; charset=iso-8859-1`),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ],
      ['a form in UTF-16 (charset=utf-16)', () => typed(`${FORM}; charset=utf-16`), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['a Content-Type parameter without a value', () => typed(`${FORM}; charset`), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      [
        'Content-Encoding: gzip, the body gzipped',
        () => typed(FORM, gzipSync(u()), { 'content-encoding': 'gzip' }),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ],
      ['Content-Encoding: br', () => typed(FORM, u(), { 'content-encoding': 'br' }), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      [
        'Content-Encoding: identity, gzip',
        () => typed(FORM, u(), { 'content-encoding': 'identity, gzip' }),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ],
      ['a body past the limit', () => form(`${u()}&x=${'x'.repeat(BODY_LIMIT)}`), 413, 'BODY_TOO_LARGE'],
      ['GET', () => ({ body: '', method: 'GET' }), 405, 'METHOD_NOT_ALLOWED'],
      ['PUT', () => ({ ...form(u()), method: 'PUT' }), 405, 'METHOD_NOT_ALLOWED'],
      [
        'the event in the query string, the body empty',
        () => ({ ...form(''), path: `${EVENTS}?${u()}` }),
        400,
        'INVALID_EVENT',
      ],
      // Read as the form it is, then judged: the application_token is not the victim's.
      [
        'charset="UTF-8", quoted and upper-case, and a wrong token',
        () => typed(`${FORM}; charset="UTF-8"`, u({ 'auth[application_token]': 'f'.repeat(32) })),
        403,
        'EVENT_REFUSED',
      ],
      [
        'Content-Encoding: identity, and a wrong token',
        () => typed(FORM, u({ 'auth[application_token]': 'f'.repeat(32) }), { 'content-encoding': 'identity' }),
        403,
        'EVENT_REFUSED',
      ],
    ];

    it.each(rows)('%s', async (_name, build, status, code) => {
      const request = build();
      const before = await state();
      const answer = await world.send({
        path: request.path ?? EVENTS,
        body: request.body,
        contentType: request.contentType,
        ...(request.headers && { headers: request.headers }),
        ...(request.method && { method: request.method }),
      });
      expect([answer.status, answer.body?.error], answer.text.slice(0, 300)).toEqual([status, code]);
      expectDocumented(receiveEvent, answer);
      expect(answer.body.error_description.length).toBeLessThan(400);
      expect(await state()).toEqual(before);
    });

    it('a body past the limit sent chunked, without a Content-Length: 413 BODY_TOO_LARGE, nothing stored', async () => {
      const before = await state();
      const chunk = `${'x'.repeat(16_383)}&`;
      const chunks = Array.from({ length: Math.ceil(BODY_LIMIT / chunk.length) + 2 }, () => chunk);
      const raw = `POST ${EVENTS} HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\nContent-Type: ${FORM}\r\nTransfer-Encoding: chunked\r\n\r\n${chunks.map((c) => `${c.length.toString(16)}\r\n${c}\r\n`).join('')}0\r\n\r\n`;
      const result = await sendRaw(world.gateway.url, [raw], { timeoutMs: 10_000 });
      const [first] = result.answers;
      expect([first?.status, first?.body?.error], result.raw.slice(0, 300)).toEqual([413, 'BODY_TOO_LARGE']);
      expect(receiveEvent.get(413)?.has('BODY_TOO_LARGE')).toBe(true);
      expect(await state()).toEqual(before);
    });

    it("none of them spent the genuine install's refresh token, and every portal still works", async () => {
      expect(world.cloud.presented(installing.auth.refresh_token!)).toBe(0);
      expect((await world.portals()).map((portal) => portal.state)).toEqual(['ready', 'ready', 'ready']);
      await expectServing();
    });
  });

  describe(`the costliest event bodies, at the body limit (${BODY_LIMIT} bytes) and at the handler's own (${MAX_EVENT_CHARS})`, () => {
    /** Shapes the handler reads whole: the event is judged (a wrong application_token: 403), not its form. */
    const judged = new Set(['one bracket never closed, auth[xxx…', '256 fields, data[k] of 255 characters each']);
    const notText = new Set(['a bad percent-encoding repeated', 'bytes that are not UTF-8 (an overlong "/") repeated']);
    const expected = (name: string, body: string | Buffer): [number, string] => {
      if (notText.has(name)) return [400, 'INVALID_BODY'];
      if (body.length > MAX_EVENT_CHARS) return [400, 'INVALID_EVENT'];
      return judged.has(name) ? [403, 'EVENT_REFUSED'] : [400, 'INVALID_EVENT'];
    };
    const shapes = (): [string, string | Buffer][] => {
      // The victim's uninstall, with an application_token that is not its own.
      const head = eventBody(forgedEvent(world, 'ONAPPUNINSTALL', victim(), 'f'.repeat(32)));
      return [BODY_LIMIT, MAX_EVENT_CHARS].flatMap((limit) =>
        Object.entries(eventShapes(limit, head, other().memberId)).map(([name, body]): [string, string | Buffer] => [
          `${name} (${limit})`,
          body,
        ]),
      );
    };
    const bare = (name: string) => name.replace(/ \(\d+\)$/, '');

    it('each is answered with its documented code, within its size, and changes nothing', async () => {
      const before = await state();
      for (const [name, body] of shapes()) {
        expect(body.length, name).toBeLessThanOrEqual(name.endsWith(`(${BODY_LIMIT})`) ? BODY_LIMIT : MAX_EVENT_CHARS);
        const answer = await world.event(body);
        expect({ name, answer: [answer.status, answer.body?.error] }).toEqual({
          name,
          answer: expected(bare(name), body),
        });
        expectDocumented(receiveEvent, answer);
      }
      expect(await state()).toEqual(before);
    }, 60_000);

    it(`/healthz answers within ${HEALTHZ_WITHIN_MS} ms while every shape is posted, 3 at a time, twice`, async () => {
      const queue = [...shapes(), ...shapes()];
      const answers: { name: string; got: [number, string]; expected: [number, string] }[] = [];
      const [, health] = await whileProbingHealth(world.gateway.url, () =>
        Promise.all(
          Array.from({ length: 3 }, async () => {
            for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
              const [name, body] = next;
              const answer = await world.event(body);
              answers.push({ name, got: [answer.status, answer.body?.error], expected: expected(bare(name), body) });
            }
          }),
        ),
      );
      for (const { name, got, expected: wanted } of answers) expect({ name, got }).toEqual({ name, got: wanted });
      expect(health.length).toBeGreaterThan(3);
      expect(Math.max(...health), `/healthz took ${health.map(Math.round).join(', ')} ms`).toBeLessThan(
        HEALTHZ_WITHIN_MS,
      );
      await expectServing();
    }, 90_000);
  });

  describe('old installs replayed', () => {
    it('the exact body of each applied install, sent again: 403 EVENT_REFUSED (its refresh token is spent), nothing changes, each portal keeps working', async () => {
      const before = await state();
      const invalidGrant = world.cloud.stats.invalidGrant;
      const replays = world.installed.map((portal) => world.appliedInstalls.get(portal.memberId)!);
      const answers = await Promise.all(replays.map((event) => world.event(eventBody(event))));
      for (const answer of answers) {
        expect([answer.status, answer.body.error], answer.text).toEqual([403, 'EVENT_REFUSED']);
        expectDocumented(receiveEvent, answer);
      }
      // Each was presented once more to the authorization server, which refused it; nothing else was asked.
      for (const event of replays) expect(world.cloud.presented(event.auth.refresh_token!)).toBe(2);
      expect(world.cloud.stats.invalidGrant).toBe(invalidGrant + replays.length);
      expect(await state()).toEqual({ ...before, tokenRequests: before.tokenRequests + replays.length });
      await expectServing();
    });
  });

  describe('forged and mismatched events: 403 EVENT_REFUSED, nothing stored changes', () => {
    const offBy = (token: string, at: number) =>
      `${token.slice(0, at)}${token[at] === '0' ? '1' : '0'}${token.slice(at + 1)}`;
    const tokens: [string, (token: string) => string][] = [
      ['a random token', () => 'f'.repeat(32)],
      ['its last character changed', (token) => offBy(token, token.length - 1)],
      ['its first character changed', (token) => offBy(token, 0)],
      ['one character short', (token) => token.slice(0, -1)],
      ['one character more', (token) => `${token}0`],
      ['in upper case', (token) => token.toUpperCase()],
      ["another portal's own token", () => other().applicationToken],
    ];

    it.each(tokens)('an uninstall, and an update without tokens, with %s', async (_name, wrong) => {
      const before = await state();
      const token = wrong(victim().applicationToken);
      expect(token).not.toBe(victim().applicationToken);
      const update = forgedEvent(world, 'ONAPPUPDATE', victim(), token);
      for (const body of [
        eventBody(forgedEvent(world, 'ONAPPUNINSTALL', victim(), token)),
        eventBody(update, { 'auth[access_token]': null, 'auth[refresh_token]': null }),
      ]) {
        const answer = await world.event(body);
        expect([answer.status, answer.body.error], answer.text).toEqual([403, 'EVENT_REFUSED']);
        expectDocumented(receiveEvent, answer);
      }
      expect(await state()).toEqual(before);
    });

    it('an update with a wrong token and a forged pair: refused by the authorization server, nothing stored', async () => {
      const before = await state();
      const answer = await world.event(eventBody(forgedEvent(world, 'ONAPPUPDATE', victim(), 'f'.repeat(32))));
      expect([answer.status, answer.body.error], answer.text).toEqual([403, 'EVENT_REFUSED']);
      expectDocumented(receiveEvent, answer);
      expect(await state()).toEqual({ ...before, tokenRequests: before.tokenRequests + 1 });
    });

    it('an uninstall of a portal the gateway does not hold: 404 PORTAL_NOT_INSTALLED, nothing stored', async () => {
      const before = await state();
      const answer = await world.event(eventBody(forgedEvent(world, 'ONAPPUNINSTALL', world.spare, 'f'.repeat(32))));
      expect([answer.status, answer.body.error], answer.text).toEqual([404, 'PORTAL_NOT_INSTALLED']);
      expectDocumented(receiveEvent, answer);
      expect(await state()).toEqual(before);
    });

    // Installs with a pair the authorization server issued for `other()`, and a field that disagrees with its answer.
    const mismatches: [string, () => EventOverrides][] = [
      ["auth[member_id] another installed portal's", () => ({ 'auth[member_id]': victim().memberId })],
      ['auth[member_id] of a portal not installed', () => ({ 'auth[member_id]': world.spare.memberId })],
      ["auth[domain] another portal's", () => ({ 'auth[domain]': victim().domain })],
      ['auth[domain] another host', () => ({ 'auth[domain]': 'attacker.example' })],
      ['auth[domain] with a path', () => ({ 'auth[domain]': `${other().domain}/x` })],
      ["auth[client_endpoint] another portal's", () => ({ 'auth[client_endpoint]': victim().clientEndpoint })],
      ['auth[client_endpoint] another host', () => ({ 'auth[client_endpoint]': 'https://attacker.example/rest/' })],
    ];

    it.each(mismatches)('an install whose %s: 403, its pair dropped, nothing stored changes', async (_name, forge) => {
      const before = await state();
      const delivery = await install(other(), forge());
      expect([delivery.status, delivery.answer.body.error], delivery.body).toEqual([403, 'EVENT_REFUSED']);
      expectDocumented(receiveEvent, delivery.answer);
      expect(world.cloud.presented(delivery.event.auth.refresh_token!)).toBe(1);
      expect(await state()).toEqual({ ...before, tokenRequests: before.tokenRequests + 1 });
      await expectServing();
    });

    describe('an install naming an untrusted server_endpoint', () => {
      /** Listeners that count the connections made to them (a refresh sent there would be one). */
      const traps: Server[] = [];
      let connections = 0;
      const trap = async (host: string, port: number) => {
        const server = createServer((socket) => {
          connections += 1;
          socket.destroy();
        });
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(port, host, resolve);
        });
        traps.push(server);
        return `${host}:${(server.address() as { port: number }).port}`;
      };
      let endpoints: string[] = [];
      beforeAll(async () => {
        const authorizationServer = new URL(world.cloud.oauthUrl);
        const elsewhere = await trap('127.0.0.1', 0);
        // The authorization server's port on another address: a host that differs only there.
        const besideIt = await trap('127.0.0.2', Number(authorizationServer.port));
        endpoints = [`http://${elsewhere}/rest/`, `https://${elsewhere}/rest/`, `http://${besideIt}/rest/`];
      });
      afterAll(() => Promise.all(traps.map((server) => new Promise((resolve) => server.close(resolve)))));

      it('Bitrix24’s genuine install is confirmed at BITRIX24_OAUTH_URL and applied; nothing reaches the named server', async () => {
        for (const endpoint of endpoints) {
          const before = await state();
          const delivery = await install(other(), { 'auth[server_endpoint]': endpoint });
          expect([delivery.status, delivery.answer.body.state], delivery.body).toEqual([200, 'ready']);
          expectDocumented(receiveEvent, delivery.answer);
          expect(world.cloud.presented(delivery.event.auth.refresh_token!)).toBe(1);
          expect((await state()).tokenRequests).toBe(before.tokenRequests + 1);
          expect(await world.portals()).toEqual(before.portals);
        }
        expect(connections).toBe(0);
        await expectServing();
      });

      it('a forged install is refused at BITRIX24_OAUTH_URL (403); nothing reaches the named server, nothing stored', async () => {
        for (const endpoint of endpoints) {
          const before = await state();
          const forged = eventBody(forgedEvent(world, 'ONAPPINSTALL', other(), other().applicationToken), {
            'auth[server_endpoint]': endpoint,
          });
          const answer = await world.event(forged);
          expect([answer.status, answer.body.error], answer.text).toEqual([403, 'EVENT_REFUSED']);
          expectDocumented(receiveEvent, answer);
          expect(await state()).toEqual({ ...before, tokenRequests: before.tokenRequests + 1 });
        }
        expect(connections).toBe(0);
      });
    });
  });

  describe('portal paths with hostile names: documented answers, nothing sent to any portal', () => {
    /** The answer to a name, for team-a (every portal) and team-b (the victim only): [status, code] each. */
    type Expected = [number, string];
    const INVALID: Expected = [400, 'INVALID_PARAMETER'];
    const NOT_INSTALLED: Expected = [404, 'PORTAL_NOT_INSTALLED'];
    const NOT_ALLOWED: Expected = [403, 'PORTAL_NOT_ALLOWED'];
    // A path WHATWG URL rules resolve to another one (`/portals/../rest/…` is `/rest/…`): a path the gateway
    // does not serve in application mode, answered 404 ERROR_METHOD_NOT_FOUND as the spec says of those.
    const UNSERVED: Expected = [404, 'ERROR_METHOD_NOT_FOUND'];
    const port = () => victim().domain.split(':')[1];
    const names: [string, () => string, Expected, Expected][] = [
      ['254 characters (one past the pattern)', () => 'a'.repeat(254), INVALID, INVALID],
      ['253 characters', () => 'a'.repeat(253), NOT_INSTALLED, NOT_ALLOWED],
      ['8 KB', () => 'a'.repeat(8_192), INVALID, INVALID],
      ['..', () => '..', UNSERVED, UNSERVED],
      ['%2E%2E', () => '%2E%2E', UNSERVED, UNSERVED],
      ['.', () => '.', UNSERVED, UNSERVED],
      ['a%2Fb', () => 'a%2Fb', INVALID, INVALID],
      [
        "the victim's member_id, %2F..%2F, another's",
        () => `${victim().memberId}%2F..%2F${other().memberId}`,
        INVALID,
        INVALID,
      ],
      ["%2F then another portal's member_id", () => `%2F${other().memberId}`, INVALID, INVALID],
      ['__proto__', () => '__proto__', INVALID, INVALID],
      ['constructor', () => 'constructor', NOT_INSTALLED, NOT_ALLOWED],
      ['hasOwnProperty', () => 'hasOwnProperty', NOT_INSTALLED, NOT_ALLOWED],
      ['toString', () => 'toString', NOT_INSTALLED, NOT_ALLOWED],
      ["another team's portal, by member_id", () => other().memberId, [200, ''], NOT_ALLOWED],
      ["another team's portal, by address", () => other().domain, [200, ''], NOT_ALLOWED],
      ["the victim's member_id in upper case", () => victim().memberId.toUpperCase(), NOT_INSTALLED, NOT_ALLOWED],
      ["the victim's member_id and a dot", () => `${victim().memberId}.`, NOT_INSTALLED, NOT_ALLOWED],
      ["the victim's address as localhost", () => `localhost:${port()}`, NOT_INSTALLED, NOT_ALLOWED],
      ["the victim's address with a 0 before its port", () => `127.0.0.1:0${port()}`, NOT_INSTALLED, NOT_ALLOWED],
      ["the victim's member_id and a NUL", () => `${victim().memberId}%00`, INVALID, INVALID],
      ['a Cyrillic а for a Latin a', () => `%D0%B0${victim().memberId.slice(1)}`, INVALID, INVALID],
      ["a space before the victim's member_id", () => `%20${victim().memberId}`, INVALID, INVALID],
    ];

    it.each(names)('%s', async (_name, name, forA, forB) => {
      const path = `/portals/${name()}/rest/${TRANSFER}`;
      const unserved = new URL(path, world.gateway.url).pathname;
      for (const [key, [status, code]] of [
        [KEYS.a, forA],
        [KEYS.b, forB],
      ] as const) {
        const before = world.portalCalls();
        const answer = await world.send({
          path,
          body: VALID_TRANSFER,
          contentType: JSON_TYPE,
          headers: { authorization: `Bearer ${key}` },
        });
        if (status === 200) {
          // The control: team-a may call it, and the call goes.
          expect(answer.status, answer.text).toBe(200);
          continue;
        }
        expect([answer.status, answer.body?.error], answer.text.slice(0, 300)).toEqual([status, code]);
        if (code === 'ERROR_METHOD_NOT_FOUND') {
          expect(Object.keys(spec.paths)).not.toContain(unserved);
          expect(spec.components.schemas.PathNotFound.properties.error.enum).toContain(code);
        } else expectDocumented(transferOnPortal, answer);
        expect(world.portalCalls()).toBe(before);
      }
    });
  });

  describe('portal paths with bodies carrying auth or CLIENT_ID: 400 before anything is sent', () => {
    const FORM_TYPE = FORM;
    const SEND = 'imopenlines.bot.session.message.send';
    // [name, method, content type, body, code]
    const bodies: [string, string, string, string, string][] = [
      ['JSON auth', TRANSFER, JSON_TYPE, '{"CHAT_ID":112,"USER_ID":12,"auth":"x"}', 'INVALID_PARAMETER'],
      [
        'JSON auth spelt \\u0061uth',
        TRANSFER,
        JSON_TYPE,
        '{"CHAT_ID":112,"USER_ID":12,"\\u0061uth":"x"}',
        'INVALID_PARAMETER',
      ],
      ['JSON AUTH', TRANSFER, JSON_TYPE, '{"CHAT_ID":112,"USER_ID":12,"AUTH":"x"}', 'UNKNOWN_PARAMETER'],
      ['JSON CLIENT_ID', TRANSFER, JSON_TYPE, '{"CHAT_ID":112,"USER_ID":12,"CLIENT_ID":"x"}', 'INVALID_PARAMETER'],
      ['JSON client_id', TRANSFER, JSON_TYPE, '{"CHAT_ID":112,"USER_ID":12,"client_id":"x"}', 'UNKNOWN_PARAMETER'],
      [
        'JSON auth under __proto__',
        TRANSFER,
        JSON_TYPE,
        '{"CHAT_ID":112,"USER_ID":12,"__proto__":{"auth":"x"}}',
        'UNKNOWN_PARAMETER',
      ],
      ['form auth', TRANSFER, FORM_TYPE, 'CHAT_ID=112&USER_ID=12&auth=x', 'INVALID_PARAMETER'],
      [
        'form auth[access_token]',
        TRANSFER,
        FORM_TYPE,
        'CHAT_ID=112&USER_ID=12&auth[access_token]=x',
        'UNKNOWN_PARAMETER',
      ],
      ['form auth%5B%5D', TRANSFER, FORM_TYPE, 'CHAT_ID=112&USER_ID=12&auth%5B%5D=x', 'UNKNOWN_PARAMETER'],
      ['form CLIENT_ID[]', TRANSFER, FORM_TYPE, 'CHAT_ID=112&USER_ID=12&CLIENT_ID[]=x', 'UNKNOWN_PARAMETER'],
      [
        'message.send, JSON auth',
        SEND,
        JSON_TYPE,
        '{"CHAT_ID":1,"NAME":"DEFAULT","MESSAGE":"hi","auth":"x"}',
        'INVALID_PARAMETER',
      ],
      [
        'message.send, form CLIENT_ID',
        SEND,
        FORM_TYPE,
        'CHAT_ID=1&NAME=DEFAULT&MESSAGE=hi&CLIENT_ID=x',
        'UNKNOWN_PARAMETER',
      ],
    ];

    it.each(bodies)('%s: 400, nothing sent', async (_name, method, contentType, body, code) => {
      const before = world.portalCalls();
      const answer = await world.send({
        path: `/portals/${other().memberId}/rest/${method}`,
        body,
        contentType,
        headers: { authorization: `Bearer ${KEYS.a}` },
      });
      expect([answer.status, answer.body.error], answer.text).toEqual([400, code]);
      expectDocumented(method === SEND ? sendOnPortal : transferOnPortal, answer);
      expect(world.portalCalls()).toBe(before);
    });

    it('auth in the query string: 400 UNKNOWN_PARAMETER, nothing sent', async () => {
      const before = world.portalCalls();
      const answer = await world.send({
        path: `/portals/${other().memberId}/rest/${TRANSFER}?auth=x`,
        body: VALID_TRANSFER,
        contentType: JSON_TYPE,
        headers: { authorization: `Bearer ${KEYS.a}` },
      });
      expect([answer.status, answer.body.error], answer.text).toEqual([400, 'UNKNOWN_PARAMETER']);
      expectDocumented(transferOnPortal, answer);
      expect(world.portalCalls()).toBe(before);
    });
  });

  describe('floods of forged installs', () => {
    // Bitrix24 posts from its own servers (127.0.0.1 here), the attacker from other addresses: every 127.x.y.z
    // is this host's, so the gateway sees several sources, as a deployment without a proxy in front would.
    // The limits are src/application/index.ts's own (not configurable): 120 a minute per address, 600 overall,
    // each bucket refilled evenly (2 and 10 a second).
    const ATTACKER = '127.0.0.2';
    const PER_SOURCE = { burst: 120, perSecond: 2 };
    const OVERALL = { burst: 600, perSecond: 10 };

    /** A forged install from `from`, for a member_id never installed (so that none waits for another). */
    const forged = (from: string) => {
      const { domain, clientEndpoint } = world.spare;
      const portal = { memberId: randomBytes(16).toString('hex'), domain, clientEndpoint };
      return world.event(eventBody(forgedEvent(world, 'ONAPPINSTALL', portal, 'f'.repeat(32))), { from });
    };
    /** Forged installs, 16 at a time from `sources` in turn, until 30 are answered 429 as `limited` says. */
    async function flood(sources: string[], limited: (answer: Answer) => boolean, most: number): Promise<Answer[]> {
      const answers: Answer[] = [];
      let next = 0;
      while (answers.filter(limited).length < 30 && answers.length < most)
        answers.push(
          ...(await Promise.all(Array.from({ length: 16 }, () => forged(sources[next++ % sources.length]!)))),
        );
      return answers;
    }
    /** Every answer 403 EVENT_REFUSED (exchanged, refused) or 429 EVENT_RATE_LIMITED with Retry-After. */
    function judged(answers: Answer[]): { refused: number; retryAfter: number } {
      for (const answer of answers) {
        expectDocumented(receiveEvent, answer);
        expect([403, 429], answer.text).toContain(answer.status);
        expect(answer.body.error).toBe(answer.status === 403 ? 'EVENT_REFUSED' : 'EVENT_RATE_LIMITED');
        if (answer.status === 429) expect(Number(answer.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      }
      const last = answers.filter((answer) => answer.status === 429).at(-1);
      return {
        refused: answers.filter((answer) => answer.status === 403).length,
        retryAfter: Number(last?.headers['retry-after']),
      };
    }
    const bySource = (answer: Answer) =>
      answer.status === 429 && /from this address/.test(answer.body.error_description);
    const overall = (answer: Answer) => answer.status === 429 && /overall/.test(answer.body.error_description);

    it('from one address: past its limit 429 EVENT_RATE_LIMITED, costing the authorization server nothing; Bitrix24’s install goes meanwhile, and the address is let through again after Retry-After', async () => {
      const before = await state();
      const started = performance.now();
      let answers: Answer[] = [];
      let genuine: Awaited<ReturnType<typeof install>> | undefined;
      const [, health] = await whileProbingHealth(world.gateway.url, async () => {
        answers = await flood([ATTACKER], bySource, 400);
        // While the attacker's address is held off, Bitrix24 installs a new portal from its own.
        const [installed, ...more] = await Promise.all([
          install(world.spare),
          ...Array.from({ length: 16 }, () => forged(ATTACKER)),
        ]);
        genuine = installed;
        answers.push(...more);
      });
      const elapsed = (performance.now() - started) / 1000;

      const { refused, retryAfter } = judged(answers);
      expect(answers.filter(bySource).length).toBeGreaterThanOrEqual(30);
      // Each forged install let through was one request to the authorization server, the genuine one another;
      // each 429 none. At most the bucket and its refill were let through.
      expect(world.cloud.stats.tokenRequests).toBe(before.tokenRequests + refused + 1);
      expect(refused).toBeLessThanOrEqual(PER_SOURCE.burst + Math.ceil(elapsed * PER_SOURCE.perSecond) + 1);
      expect([genuine?.status, genuine?.answer.body.state], genuine?.body).toEqual([200, 'ready']);
      expect(Math.max(...health), `/healthz took ${health.map(Math.round).join(', ')} ms`).toBeLessThan(
        HEALTHZ_WITHIN_MS,
      );

      // After Retry-After, an install from the attacker's address (a genuine one: a pair Bitrix24 issued) goes.
      expect(retryAfter).toBeLessThanOrEqual(60);
      await new Promise((resolve) => setTimeout(resolve, retryAfter * 1000 + 200));
      const after = await world.event(eventBody(await mintedInstall(other())), { from: ATTACKER });
      expect([after.status, after.body.state], after.text).toEqual([200, 'ready']);
      expect((await world.portals()).map((portal) => portal.member_id).sort()).toEqual(
        [...before.portals.map((portal) => portal.member_id), world.spare.memberId].sort(),
      );
      await expectServing();
    }, 90_000);

    it('the gateway logged the attacker’s address as the source of the installs it held off', async () => {
      const line = await loggedLine(world.gateway, (text) => text.includes('"outcome":"rate-limited"'));
      expect(JSON.parse(line).source).toMatch(/127\.0\.0\.2$/);
    });

    it('from many addresses: the overall limit holds the authorization server to its bucket, and holds Bitrix24’s install off too (429, its pair unspent) until Retry-After', async () => {
      const before = await state();
      const started = performance.now();
      const sources = Array.from({ length: 8 }, (_unused, n) => `127.0.0.${n + 3}`);
      const [answers, health] = await whileProbingHealth(world.gateway.url, () => flood(sources, overall, 1_200));
      // Bitrix24's install, as it posts it from its own address.
      const installing = await mintedInstall(world.spare);
      const held = await world.event(eventBody(installing));
      const elapsed = (performance.now() - started) / 1000;

      const { refused } = judged(answers);
      expect(answers.filter(overall).length).toBeGreaterThanOrEqual(30);
      // Bitrix24's install waits its turn in the same bucket: held off (429), unless a slot refilled between the
      // flood's last request and it (on a loaded machine), in which case it took that slot and went.
      const wentThrough = held.status === 200;
      expect(world.cloud.stats.tokenRequests).toBe(before.tokenRequests + refused + (wentThrough ? 1 : 0));
      expect(refused).toBeLessThanOrEqual(OVERALL.burst + Math.ceil(elapsed * OVERALL.perSecond) + 1);
      expect(Math.max(...health), `/healthz took ${health.map(Math.round).join(', ')} ms`).toBeLessThan(
        HEALTHZ_WITHIN_MS,
      );
      if (wentThrough) {
        expect(held.body.state, held.text).toBe('ready');
        await expectServing();
        return;
      }
      // Bitrix24's install is held off with the rest: documented, nothing spent, nothing stored.
      expect([held.status, held.body.error], held.text).toEqual([429, 'EVENT_RATE_LIMITED']);
      expect(overall(held)).toBe(true);
      expectDocumented(receiveEvent, held);
      expect(world.cloud.presented(installing.auth.refresh_token!)).toBe(0);
      expect(await world.portals()).toEqual(before.portals);

      // Sent again after Retry-After, the same install goes.
      const retryAfter = Number(held.headers['retry-after']);
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      await new Promise((resolve) => setTimeout(resolve, retryAfter * 1000 + 200));
      const again = await world.event(eventBody(installing));
      expect([again.status, again.body.state], again.text).toEqual([200, 'ready']);
      await expectServing();
    }, 90_000);
  });

  describe('secrets', () => {
    it("no portal's token, application_token, the client secret, the token key or an API key is in any answer or log line", async () => {
      // Every line logged before this request is written before its own access line.
      const marker = await world.send({ method: 'GET', path: '/healthz' });
      const id = String(marker.headers['x-request-id']);
      await loggedLine(world.gateway, (line) => line.includes(id));
      // The access tokens the gateway itself sent to the portals (the pairs it got by exchanging refresh tokens).
      const sent = world.cloud.portals.flatMap((portal) =>
        portal.emulator.received.map((call) => call.params.auth).filter((auth) => typeof auth === 'string'),
      );
      expect(sent.length).toBeGreaterThan(0);
      const secrets = [
        CLIENT_SECRET,
        TOKEN_KEY.slice(3),
        KEYS.a,
        KEYS.b,
        ...world.cloud.portals.map((portal) => portal.applicationToken),
        ...world.events.flatMap((event) => [
          event.auth.access_token,
          event.auth.refresh_token,
          event.auth.application_token,
        ]),
        ...sent,
      ].filter((secret): secret is string => typeof secret === 'string' && secret.length >= 16);
      for (const secret of secrets) secretsUsed.add(secret);
      allLogLines.push(...world.gateway.lines);
      const texts = [...world.answers, ...world.gateway.lines];
      const leaks = [...new Set(secrets)].flatMap((secret) =>
        texts.filter((text) => text.includes(secret)).map((text) => `${secret.slice(0, 6)}… in ${text.slice(0, 200)}`),
      );
      expect(leaks).toEqual([]);
    });
  });
});
