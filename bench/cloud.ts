// The emulated Bitrix24 cloud (src/emulator/cloud: an authorization server and its portals) as the benchmark
// runs it: in its own process, so that it sits on the load CPU beside wrk as the emulator does, with every
// portal's limits off (as src/test-support/application.ts starts it) and a control port for the benchmark.
//
//   BENCH_CLOUD_CLIENT_ID, BENCH_CLOUD_CLIENT_SECRET   the application's (the benchmark makes the secret)
//   BENCH_CLOUD_PORTALS   how many portals (default 1)
//   BENCH_CLOUD_SHARED    "on": the portals share one listener (the cloud's `virtualPortals`, for hundreds of
//                         them); when this cloud has no such mode, or "off" (default): a listener each, at most
//                         MAX_PORTALS (64) of them. The first line says which, and how many portals there are.
//
// Control port:
//   GET  /portals        → the portals' member_ids
//   POST /install        → {"handlerUrl"}: ONAPPINSTALL to the gateway for every portal, 16 at once; answers
//                          {installed, failures} (installed: answered 200 with the portal `ready`)
//   POST /expire         → every portal's access tokens expire now, all in one turn of the event loop; the
//                          refresh tokens then held (none presented yet) are remembered as the expired ones
//   GET  /stats          → the authorization server's counts and the transfers the portals received
//   GET  /presentations  → how often each refresh token the server issued was presented: {tokens, once, more,
//                          max}, and the same of the tokens held at the last expiry: {expired: {…}}
// Its first stdout line is JSON: {oauthUrl, controlUrl, portals, shared}.
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Cloud, type CloudPortal, MAX_PORTALS, type StartCloudOptions, startCloud } from '../src/emulator/cloud';

const TRANSFER_METHOD = 'imopenlines.bot.session.transfer';
const INSTALLS_AT_ONCE = 16;

const clientId = process.env.BENCH_CLOUD_CLIENT_ID ?? '';
const clientSecret = process.env.BENCH_CLOUD_CLIENT_SECRET ?? '';
const wanted = Number(process.env.BENCH_CLOUD_PORTALS ?? 1);
if (!Number.isInteger(wanted) || wanted < 1) throw new Error(`BENCH_CLOUD_PORTALS: "${wanted}" is not a count`);

/** The shared listener where this cloud has one; a listener each otherwise (at most MAX_PORTALS). */
async function start(): Promise<{ cloud: Cloud; shared: boolean }> {
  const base: StartCloudOptions = {
    clientId,
    clientSecret,
    // Its limits off, as the plain emulator's in bench/emulator.ts: the operating time too (tens of thousands
    // of transfers in a run would reach the method's 480 s, and 429s answered from the pause are not transfers).
    portalEmulator: {
      rateLimit: { enabled: false, drainPerSecond: 2, burst: 50 },
      operatingLimit: { enabled: false, limitSeconds: 480, costPerCallSeconds: 0.01, windowSeconds: 600 },
    },
  };
  if (process.env.BENCH_CLOUD_SHARED === 'on') {
    // Typed apart from the literal: a cloud without the mode takes the options all the same, and refuses
    // `portals: 0` (a RangeError), which says it has no shared listener.
    const options: StartCloudOptions & { virtualPortals?: number } = { ...base, portals: 0, virtualPortals: wanted };
    try {
      return { cloud: await startCloud(options), shared: true };
    } catch (error) {
      if (!(error instanceof RangeError)) throw error;
    }
  }
  return { cloud: await startCloud({ ...base, portals: Math.min(wanted, MAX_PORTALS) }), shared: false };
}

const { cloud, shared } = await start();

async function install(handlerUrl: string): Promise<{ installed: number; failures: string[] }> {
  const failures: string[] = [];
  let installed = 0;
  let next = 0;
  const one = async (portal: CloudPortal) => {
    try {
      const delivery = await cloud.install(portal, handlerUrl, { timeoutMs: 30_000 });
      const state = delivery.status === 200 ? (JSON.parse(delivery.body) as { state?: unknown }).state : undefined;
      if (state === 'ready') installed += 1;
      else failures.push(`${portal.memberId}: ${delivery.status} ${delivery.body.slice(0, 200)}`);
    } catch (error) {
      failures.push(`${portal.memberId}: ${(error as Error).message}`);
    }
  };
  const worker = async () => {
    while (next < cloud.portals.length) await one(cloud.portals[next++]!);
  };
  await Promise.all(Array.from({ length: INSTALLS_AT_ONCE }, worker));
  return { installed, failures: failures.slice(0, 10) };
}

/**
 * Every token held at the last expiry that had never been presented: the live pairs' refresh tokens (and
 * access tokens, which are never presented as refresh tokens, so never counted).
 */
let heldAtExpiry: string[] = [];

/** How often each of `tokens` (default: every token the server issued) was presented, of those presented. */
function presentations(tokens = cloud.issuedTokens()) {
  const counts = tokens.map((token) => cloud.presented(token)).filter((n) => n > 0);
  return {
    tokens: counts.length,
    presentations: counts.reduce((a, b) => a + b, 0),
    once: counts.filter((n) => n === 1).length,
    more: counts.filter((n) => n > 1).length,
    max: Math.max(0, ...counts),
  };
}

const readJson = async (req: IncomingMessage): Promise<Record<string, unknown>> => {
  let text = '';
  for await (const chunk of req) text += chunk;
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
};

const control = createServer((req, res) => {
  const send = (value: unknown) =>
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(value));
  const route = `${req.method} ${req.url}`;
  if (route === 'GET /portals') send(cloud.portals.map((portal) => portal.memberId));
  else if (route === 'POST /install')
    void readJson(req)
      .then((body) => install(String(body.handlerUrl)))
      .then(send, (error: Error) => res.writeHead(500).end(error.message));
  else if (route === 'POST /expire') {
    heldAtExpiry = cloud.issuedTokens().filter((token) => cloud.presented(token) === 0);
    for (const portal of cloud.portals) portal.expireAccessTokens();
    send({ expired: cloud.portals.length, at: Date.now() });
  } else if (route === 'GET /stats')
    send({ ...cloud.stats, calls: cloud.portals.reduce((sum, portal) => sum + portal.calls(TRANSFER_METHOD), 0) });
  else if (route === 'GET /presentations') send({ ...presentations(), expired: presentations(heldAtExpiry) });
  else res.writeHead(404).end();
});
await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve));
const controlUrl = `http://127.0.0.1:${(control.address() as AddressInfo).port}`;

console.log(JSON.stringify({ oauthUrl: cloud.oauthUrl, controlUrl, portals: cloud.portals.length, shared }));

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    control.close();
    cloud.close().finally(() => process.exit(0));
  });
}
