// One cloud portal: its own loopback listener answering `/rest/<method>` as Bitrix24 does to an OAuth
// application. `auth` must be a live access token of this portal (expired: 401 expired_token; any other: 401
// NO_AUTH_FOUND, the spec's texts for both); imbot.register and imbot.bot.list are answered here (bots.ts);
// every other method goes to the existing emulator's dispatch, whose `oauthLookup` answers BOT_ID_ERROR while
// the application has no bot here. A cloud portal has no webhooks: a webhook path is NO_AUTH_FOUND.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { type Context, Hono } from 'hono';
import { phpEmpty } from '../../bitrix24-semantics';
import { errorAnswer, internalServerError, methodNotFound, noAuth, time } from '../answers';
import { createEmulator } from '../emulator';
import { readParams } from '../params';
import { bitrix24Text } from '../texts';
import type { Emulator, EmulatorOptions } from '../types';
import { declaredTooLarge, readBounded } from './body';
import { looksUpBot, PortalBots, registrationFailure } from './bots';
import { closeServer, listen } from './listen';
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
  /** The portal's member_id (default: 32 random hex digits). */
  memberId?: string;
}

export class Portal implements CloudPortal {
  readonly memberId: string;
  readonly emulator: Emulator;
  failBotRegistration: string | undefined;
  installed = false;
  applicationToken = randomToken(16);
  readonly #bots = new PortalBots();
  readonly #calls = new Map<string, number>();
  #server: Server | undefined;
  #hostPort = '';
  #url = '';

  constructor(private readonly setup: PortalSetup) {
    this.memberId = setup.memberId ?? randomBytes(16).toString('hex');
    this.emulator = createEmulator({
      now: setup.now,
      ...setup.emulator,
      // Never reached: the routes below send no webhook path to the emulator.
      webhook: { userId: '0', code: randomToken() },
      oauthLookup: ({ method }) => (looksUpBot(method) && !this.#bots.applicationHasBot ? 'BOT_ID_ERROR' : undefined),
    });
  }

  /** Listens on a free loopback port. */
  async start(): Promise<this> {
    this.#server = createServer(getRequestListener(this.#routes().fetch));
    const { hostPort, origin } = await listen(this.#server, this.setup.host);
    this.#hostPort = hostPort;
    this.#url = origin;
    return this;
  }

  get domain(): string {
    return this.#hostPort;
  }

  get url(): string {
    return this.#url;
  }

  get clientEndpoint(): string {
    return `${this.#url}/rest/`;
  }

  get bots(): PortalBot[] {
    return this.#bots.all;
  }

  calls(method?: string): number {
    if (method !== undefined) return this.#calls.get(method) ?? 0;
    let sum = 0;
    for (const count of this.#calls.values()) sum += count;
    return sum;
  }

  expireAccessTokens(): void {
    this.setup.tokens.expireAccess(this.memberId);
  }

  addOtherBot(code: string, name = code): number {
    const id = this.#bots.addOther(code, name);
    if (id === undefined) throw new RangeError('This portal holds as many other bots as it may');
    return id;
  }

  /** The application was removed: its tokens die, and its bots go with it. */
  uninstalled(): void {
    this.installed = false;
    this.setup.tokens.revokePortal(this.memberId);
    this.#bots.removeApplicationBots();
  }

  close(): Promise<void> {
    return this.#server ? closeServer(this.#server) : Promise.resolve();
  }

  #count(method: string): void {
    const key = this.#calls.has(method) || this.#calls.size < MAX_COUNTED_METHODS ? method : OTHER_METHODS;
    this.#calls.set(key, (this.#calls.get(key) ?? 0) + 1);
  }

  #routes(): Hono {
    const app = new Hono();
    app.all('/rest/:method', (c) => this.#call(c));
    app.all('/rest/*', () => noAuth());
    app.notFound(() => methodNotFound());
    app.onError(() => internalServerError());
    return app;
  }

  async #call(c: Context): Promise<Response> {
    const start = this.setup.now();
    // Bitrix24 lower-cases method names, and takes an optional .json suffix.
    const name = c.req
      .param('method')!
      .toLowerCase()
      .replace(/\.json$/, '');
    this.#count(name);
    const request = c.req.raw;
    if (declaredTooLarge(request.headers.get('content-length'))) return tooLarge();
    const body = await readBounded(request.body);
    if (body === undefined) return tooLarge();
    const hasBody = request.method !== 'GET' && request.method !== 'HEAD';
    // The body read once, then given again to the parameters' reader and to the emulator.
    const copy = () =>
      new Request(request.url, {
        method: request.method,
        headers: request.headers,
        body: hasBody ? new Uint8Array(body) : undefined,
      });
    const params = await readParams(copy());

    const { auth } = params;
    if (typeof auth !== 'string' || phpEmpty(auth)) return noAuth();
    const state = this.setup.tokens.accessState(auth, this.memberId);
    if (state !== 'live') return tokenRefused(state === 'expired' ? 'expired_token' : 'NO_AUTH_FOUND');

    if (name === 'imbot.register') return this.#register(params, start);
    if (name === 'imbot.bot.list') return result(this.#bots.list(), start, this.setup.now());
    return this.emulator.app.fetch(copy(), c.env);
  }

  #register(params: Record<string, unknown>, start: number): Response {
    if (this.failBotRegistration !== undefined) {
      const { status, error, description } = registrationFailure(this.failBotRegistration);
      return errorAnswer(status, error, description);
    }
    const registered = this.#bots.register(params);
    if ('error' in registered) return errorAnswer(registered.status, registered.error, registered.description);
    return result(registered.id, start, this.setup.now());
  }
}

/** A successful answer: the result and the call's `time`. */
function result(value: unknown, start: number, finish: number): Response {
  return new Response(JSON.stringify({ result: value, time: time(start, finish, 0) }), {
    status: 200,
    headers: { 'content-type': 'application/json; charset=utf-8' },
  });
}

/** A token refused, with the spec's status and text (every session method's matrix has both codes). */
function tokenRefused(code: 'expired_token' | 'NO_AUTH_FOUND'): Response {
  const { status, description } = bitrix24Text('imopenlines.bot.session.transfer', code);
  return errorAnswer(status, code, description);
}

const tooLarge = () => errorAnswer(413, 'INVALID_REQUEST', 'The request body is too large');
