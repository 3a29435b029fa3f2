// For the event handler's tests: the real parts wired as the gateway wires them. The cloud emulator plays the
// authorization server and the portals; a real OAuthClient, a real SqlitePortalStore in a temporary data
// folder under a random key, registerBot through an UpstreamClient in OAuth mode, pino writing to memory;
// and a loopback HTTP server that hands each body to `handler.handle`, so that `cloud.install(portal, url)`
// drives it. The sender's address is the socket's, or a test's `x-test-source` header.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import { type DataDir, openDataDir } from '../../data-dir';
import { type Cloud, startCloud } from '../../emulator/cloud';
import { readBounded } from '../../emulator/cloud/body';
import { closeServer, listen } from '../../emulator/cloud/listen';
import { CLIENT_ID, CLIENT_SECRET } from '../../emulator/cloud/testing';
import { createLogger } from '../../logger';
import { temporaryDataDir } from '../../test-support/processes';
import { UpstreamClient } from '../../upstream';
import { type BotSettings, registerBot } from '../bot';
import { OAuthClient } from '../oauth-client';
import { SqlitePortalStore } from '../sqlite-portal-store';
import { TokenVault } from '../vault';
import type { EventOutcome } from './answers';
import { EventHandler, type EventHandlerOptions } from './handler';
import type { EventName } from './read';

export const BOT: BotSettings = { code: 'gateway_events_bot', name: 'Gateway', eventsUrl: 'https://gw.example/b24' };

// biome-ignore lint/suspicious/noExplicitAny: answers and log lines are read field by field
type Json = any;

export interface Stack {
  cloud: Cloud;
  store: SqlitePortalStore;
  handler: EventHandler;
  /** The handler's URL. */
  url: string;
  /** The bodies the handler received, in order. */
  received: string[];
  /** The handler's log lines, parsed. */
  lines: Json[];
  /** The raw log text (for secret scans). */
  logText(): string;
  outcomes: [EventName | 'unknown', EventOutcome][];
  /** The handler's answer to a body sent as it is (from `source` when given). */
  post(body: string, source?: string): Promise<{ status: number; headers: Headers; body: Json }>;
  close(): Promise<void>;
}

export async function startStack(
  options: Partial<Pick<EventHandlerOptions, 'limits' | 'now' | 'botTimeoutMs' | 'maxBodyChars'>> & {
    portals?: number;
  } = {},
): Promise<Stack> {
  const cloud = await startCloud({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, portals: options.portals ?? 3 });
  const dataDir: DataDir = openDataDir(temporaryDataDir());
  const store = new SqlitePortalStore({ dataDir, vault: new TokenVault([{ id: 'test-key', key: randomBytes(32) }]) });
  const oauth = new OAuthClient({
    oauthUrl: new URL(cloud.oauthUrl),
    trustedHosts: [new URL(cloud.oauthUrl).host],
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    timeoutMs: 5_000,
  });
  const clients = new Map<string, UpstreamClient>();
  const clientOf = (origin: string) => {
    let client = clients.get(origin);
    if (!client) {
      client = new UpstreamClient({
        base: new URL(origin),
        mode: 'oauth',
        timeoutMs: 5_000,
        connections: 2,
        maxBodyBytes: 65_536,
      });
      clients.set(origin, client);
    }
    return client;
  };
  const log: string[] = [];
  const logger = createLogger('info', { write: (line: string) => void log.push(line) });
  const outcomes: Stack['outcomes'] = [];
  const handler = new EventHandler({
    store,
    oauth,
    registerBot: (record) =>
      registerBot(
        (method, params) =>
          clientOf(new URL(record.clientEndpoint).origin).call(method, { ...params, auth: record.tokens.accessToken }),
        BOT,
      ),
    logger,
    onEvent: (event, outcome) => void outcomes.push([event, outcome]),
    ...options,
  });
  const received: string[] = [];
  const server = createServer(async (req: IncomingMessage, res) => {
    const body = await readBounded(req, 1024 * 1024);
    if (body === undefined) return void req.socket.destroy();
    const text = body.toString('utf8');
    received.push(text);
    const source = req.headers['x-test-source'];
    const answer = await handler.handle(text, typeof source === 'string' ? source : (req.socket.remoteAddress ?? ''));
    res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
    res.end(JSON.stringify(answer.body));
  });
  const { origin } = await listen(server, '127.0.0.1');
  const url = `${origin}/bitrix24/events`;
  return {
    cloud,
    store,
    handler,
    url,
    received,
    get lines() {
      return log.map((line) => JSON.parse(line));
    },
    logText: () => log.join(''),
    outcomes,
    async post(body, source) {
      const response = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          ...(source !== undefined && { 'x-test-source': source }),
        },
        body,
        signal: AbortSignal.timeout(10_000),
      });
      const text = await response.text();
      return { status: response.status, headers: response.headers, body: JSON.parse(text) };
    },
    async close() {
      await closeServer(server);
      await Promise.all([...clients.values()].map((client) => client.close()));
      await oauth.close();
      await cloud.close();
      dataDir.close();
    },
  };
}

/** Resolves once `condition` holds; rejects after `timeoutMs`. */
export async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A random token, as a forger would send. */
export const randomToken = () => randomBytes(36).toString('hex');
