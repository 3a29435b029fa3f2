// One loopback listener for many portals (`virtualPortals`): thousands of portals without a server each. They
// share its address (`domain`, `client_endpoint`), as the gateway calls `<origin>/rest/<method>` whatever
// path a client_endpoint holds; a call goes to the portal its access token was issued for, which then checks
// the token as its own listener would. So a token is never another portal's here: a test of which token goes
// to which portal needs portals that listen on their own ports. A call whose token no portal holds is
// answered NO_AUTH_FOUND (no portal counts it).
import { createServer, type Server } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { Hono } from 'hono';
import { phpEmpty } from '../../bitrix24-semantics';
import { noAuth } from '../answers';
import { closeServer, type Listening, listen } from './listen';
import { methodName, type Portal, readCall, tokenRefused, withFallbacks } from './portal';

export interface SharedHost {
  readonly address: Listening;
  close(): Promise<void>;
}

/** Listens on a free port of `host`; `portalOf` names the portal an access token was issued for. */
export async function startSharedHost(
  host: string,
  portalOf: (accessToken: string) => Portal | undefined,
  now: () => number,
): Promise<SharedHost> {
  const app = new Hono();
  app.all('/rest/:method', async (c) => {
    const name = methodName(c);
    const call = await readCall(c, name, now());
    if (call instanceof Response) return call;
    const { auth } = call.params;
    if (typeof auth !== 'string' || phpEmpty(auth)) return noAuth();
    const portal = portalOf(auth);
    if (!portal) return tokenRefused('NO_AUTH_FOUND');
    portal.count(name);
    return portal.answer(call, c.env);
  });
  const server: Server = createServer(getRequestListener(withFallbacks(app).fetch));
  const address = await listen(server, host);
  return { address, close: () => closeServer(server) };
}
