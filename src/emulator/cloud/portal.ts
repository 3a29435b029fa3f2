// One cloud portal as Bitrix24 answers `/rest/<method>` to an OAuth application: `auth` must be a live access
// token of this portal (expired: 401 expired_token; any other: 401 NO_AUTH_FOUND, the spec's texts for both);
// imbot.register and imbot.bot.list are answered here (bots.ts); every other method goes to the existing
// emulator's dispatch, whose `oauthLookup` answers BOT_ID_ERROR while the application has no bot here. A
// cloud portal has no webhooks: a webhook path is NO_AUTH_FOUND. A portal listens on its own loopback port
// (`start`), or is one of the many a shared listener serves (shared-host.ts, `at`). What only a called
// portal needs (its emulator, its bots, its counts) is made on first use: a portal never called is small.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { type Context, Hono } from 'hono';
import { type PhpParams, phpEmpty } from '../../bitrix24-semantics';
import { errorAnswer, internalServerError, methodNotFound, noAuth, time } from '../answers';
import { createEmulator } from '../emulator';
import { readParams } from '../params';
import { bitrix24Text } from '../texts';
import type { Emulator, EmulatorOptions } from '../types';
import { declaredTooLarge, readBounded } from './body';
import { looksUpBot, PortalBots, registrationFailure } from './bots';
import { closeServer, type Listening, listen } from './listen';
import { randomToken, type TokenBook } from './tokens';
import type { CloudPortal, PortalBot } from './types';

/** Distinct method names counted per portal; the rest are counted together under OTHER_METHODS. */
const MAX_COUNTED_METHODS = 64;
export const OTHER_METHODS = '(other)';

export interface PortalSetup {
  tokens: TokenBook;
  host: string;
  now: () => number;
  /** The session methods' emulator's options (its rate limit, say); its webhook and lookup are the cloud's. */
  emulator?: Omit<EmulatorOptions, 'oauthLookup' | 'webhook'>;
}

/** A call read from its request: its method (lower case, no `.json`), its body, and its parameters. */
export interface ReadCall {
  name: string;
  request: Request;
  body: Buffer;
  params: PhpParams;
  start: number;
}

export class Portal implements CloudPortal {
  readonly memberId: string;
  failBotRegistration: string | undefined;
  installed = false;
  applicationToken = randomToken(16);
  #emulator: Emulator | undefined;
  #bots: PortalBots | undefined;
  #calls: Map<string, number> | undefined;
  #server: Server | undefined;
  #address: Listening | undefined;

  /** `memberId`: default 32 random hex digits. */
  constructor(
    private readonly setup: PortalSetup,
    memberId?: string,
  ) {
    this.memberId = memberId ?? randomBytes(16).toString('hex');
  }

  /** Listens on a free loopback port of its own. */
  async start(): Promise<this> {
    this.#server = createServer(getRequestListener(this.#routes().fetch));
    this.#address = await listen(this.#server, this.setup.host);
    return this;
  }

  /** Served by a listener shared with other portals, at its address. */
  at(address: Listening): this {
    this.#address = address;
    return this;
  }

  get emulator(): Emulator {
    this.#emulator ??= createEmulator({
      now: this.setup.now,
      ...this.setup.emulator,
      // Never reached: the routes send no webhook path to the emulator.
      webhook: { userId: '0', code: randomToken() },
      oauthLookup: ({ method }) =>
        looksUpBot(method) && !this.#botsHere().applicationHasBot ? 'BOT_ID_ERROR' : undefined,
    });
    return this.#emulator;
  }

  get domain(): string {
    return this.#address?.hostPort ?? '';
  }

  get url(): string {
    return this.#address?.origin ?? '';
  }

  get clientEndpoint(): string {
    return `${this.url}/rest/`;
  }

  get bots(): PortalBot[] {
    return this.#bots?.all ?? [];
  }

  calls(method?: string): number {
    if (method !== undefined) return this.#calls?.get(method) ?? 0;
    let sum = 0;
    for (const count of this.#calls?.values() ?? []) sum += count;
    return sum;
  }

  expireAccessTokens(): void {
    this.setup.tokens.expireAccess(this.memberId);
  }

  addOtherBot(code: string, name = code): number {
    const id = this.#botsHere().addOther(code, name);
    if (id === undefined) throw new RangeError('This portal holds as many other bots as it may');
    return id;
  }

  /** The application's bot registered as `imbot.register` (type O) would: its id (the one held, if registered). */
  registerApplicationBot(code: string, name: string, handlerUrl: string): number {
    const registered = this.#botsHere().register({
      CODE: code,
      TYPE: 'O',
      EVENT_HANDLER: handlerUrl,
      PROPERTIES: { NAME: name },
    });
    if (!('id' in registered)) throw new Error(`the bot could not be registered: ${registered.error}`);
    return registered.id;
  }

  /** The application was removed: its tokens die, and its bots go with it. */
  uninstalled(): void {
    this.installed = false;
    this.setup.tokens.revokePortal(this.memberId);
    this.#bots?.removeApplicationBots();
  }

  close(): Promise<void> {
    return this.#server ? closeServer(this.#server) : Promise.resolve();
  }

  /** Counts a request to `/rest/<name>`, refused or not. */
  count(name: string): void {
    this.#calls ??= new Map();
    const key = this.#calls.has(name) || this.#calls.size < MAX_COUNTED_METHODS ? name : OTHER_METHODS;
    this.#calls.set(key, (this.#calls.get(key) ?? 0) + 1);
  }

  /** Answers a call read from its request, its token checked first. */
  async answer(call: ReadCall, env: unknown): Promise<Response> {
    const { auth } = call.params;
    if (typeof auth !== 'string' || phpEmpty(auth)) return noAuth();
    const state = this.setup.tokens.accessState(auth, this.memberId);
    if (state !== 'live') return tokenRefused(state === 'expired' ? 'expired_token' : 'NO_AUTH_FOUND');
    if (call.name === 'imbot.register') return this.#register(call.params, call.start);
    if (call.name === 'imbot.bot.list') return result(this.#botsHere().list(), call.start, this.setup.now());
    return this.emulator.app.fetch(copyOf(call), env);
  }

  #botsHere(): PortalBots {
    this.#bots ??= new PortalBots();
    return this.#bots;
  }

  #routes(): Hono {
    const app = new Hono();
    app.all('/rest/:method', async (c) => {
      const name = methodName(c);
      this.count(name);
      const call = await readCall(c, name, this.setup.now());
      return call instanceof Response ? call : this.answer(call, c.env);
    });
    return withFallbacks(app);
  }

  #register(params: PhpParams, start: number): Response {
    if (this.failBotRegistration !== undefined) {
      const { status, error, description } = registrationFailure(this.failBotRegistration);
      return errorAnswer(status, error, description);
    }
    const registered = this.#botsHere().register(params);
    if ('error' in registered) return errorAnswer(registered.status, registered.error, registered.description);
    return result(registered.id, start, this.setup.now());
  }
}

/** The method a `/rest/:method` path names: Bitrix24 lower-cases it, and takes an optional .json suffix. */
export function methodName(c: Context): string {
  return c.req
    .param('method')!
    .toLowerCase()
    .replace(/\.json$/, '');
}

/** Reads a call's body (bounded: 413 past it) and its parameters. */
export async function readCall(c: Context, name: string, start: number): Promise<ReadCall | Response> {
  const request = c.req.raw;
  if (declaredTooLarge(request.headers.get('content-length'))) return tooLarge();
  const body = await readBounded(request.body);
  if (body === undefined) return tooLarge();
  const call = { name, request, body, params: {}, start };
  // The body read once, then given again to the parameters' reader and to the emulator.
  return { ...call, params: await readParams(copyOf(call)) };
}

/** What every listener answers besides `/rest/<method>`: a webhook path is NO_AUTH_FOUND, the rest not found. */
export function withFallbacks(app: Hono): Hono {
  app.all('/rest/*', () => noAuth());
  app.notFound(() => methodNotFound());
  app.onError(() => internalServerError());
  return app;
}

/** A token refused, with the spec's status and text (every session method's matrix has both codes). */
export function tokenRefused(code: 'expired_token' | 'NO_AUTH_FOUND'): Response {
  const { status, description } = bitrix24Text('imopenlines.bot.session.transfer', code);
  return errorAnswer(status, code, description);
}

function copyOf({ request, body }: Pick<ReadCall, 'request' | 'body'>): Request {
  const hasBody = request.method !== 'GET' && request.method !== 'HEAD';
  return new Request(request.url, {
    method: request.method,
    headers: request.headers,
    body: hasBody ? new Uint8Array(body) : undefined,
  });
}

/** A successful answer: the result and the call's `time`. */
function result(value: unknown, start: number, finish: number): Response {
  return new Response(JSON.stringify({ result: value, time: time(start, finish, 0) }), {
    status: 200,
    headers: { 'content-type': 'application/json; charset=utf-8' },
  });
}

const tooLarge = () => errorAnswer(413, 'INVALID_REQUEST', 'The request body is too large');
