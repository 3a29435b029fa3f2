// Helpers for the cloud emulator's own tests: real HTTP to its listeners, and a loopback event handler.
import { createServer, type IncomingMessage } from 'node:http';
import type { PhpParams } from '../../bitrix24-semantics';
import { readBounded } from './body';
import { closeServer, listen } from './listen';
import type { Cloud, CloudPortal } from './types';

export interface Answer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: test answers are read field by field
  body: any;
}

async function answerOf(response: Response): Promise<Answer> {
  const text = await response.text();
  try {
    return { status: response.status, body: JSON.parse(text) };
  } catch {
    return { status: response.status, body: text };
  }
}

/** POSTs a form to the authorization server's token path. */
export async function refresh(cloud: Cloud, refreshToken: string, overrides: Record<string, string> = {}) {
  const form = new URLSearchParams({
    grant_type: 'refresh_token',
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    refresh_token: refreshToken,
    ...overrides,
  });
  return answerOf(
    await fetch(`${cloud.oauthUrl}/oauth/token/`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form,
      signal: AbortSignal.timeout(5_000),
    }),
  );
}

/** Calls a portal's method with a JSON body (`auth` inside when given). */
export async function callJson(portal: CloudPortal, method: string, params: PhpParams, auth?: string) {
  return answerOf(
    await fetch(`${portal.clientEndpoint}${method}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(auth === undefined ? params : { ...params, auth }),
      signal: AbortSignal.timeout(5_000),
    }),
  );
}

/** Calls a portal's method with a form body. */
export async function callForm(portal: CloudPortal, method: string, form: string) {
  return answerOf(
    await fetch(`${portal.clientEndpoint}${method}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form,
      signal: AbortSignal.timeout(5_000),
    }),
  );
}

export const CLIENT_ID = 'local.0123456789abcd.12345678';
export const CLIENT_SECRET = 'cloud-test-client-secret';

export interface ReceivedEvent {
  contentType: string | undefined;
  body: string;
}

/** An application's event handler on a loopback port: keeps what it receives, answers 200 "installed". */
export async function startHandler() {
  const received: ReceivedEvent[] = [];
  const server = createServer(async (req: IncomingMessage, res) => {
    const body = await readBounded(req, 1024 * 1024);
    received.push({ contentType: req.headers['content-type'], body: body?.toString('utf8') ?? '' });
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('installed');
  });
  const { origin } = await listen(server, '127.0.0.1');
  return { url: `${origin}/bitrix24/events`, received, close: () => closeServer(server) };
}
