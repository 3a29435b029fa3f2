// Each portal's pool and limiter, against real HTTP servers on loopback playing portals: the callers kept
// are bounded (the idle longest dropped), and a portal forgotten while a call is in flight lets that call
// finish, then closes its connections.
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { testConfig } from '../test-support/stack';
import { PortalCallers } from './portal-callers';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

/** A portal that answers every method `{"result":true}` after `delayMs`; its open sockets are counted. */
async function portal(delayMs = 0) {
  const sockets = new Set<Socket>();
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () =>
      setTimeout(() => response.writeHead(200, { 'content-type': 'application/json' }).end('{"result":true}'), delayMs),
    );
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { endpoint: `http://127.0.0.1:${port}/rest/`, sockets };
}

const config = testConfig({ upstreamTimeoutMs: 5_000 });

describe("each portal's caller", () => {
  it('keeps at most maxPortals, dropping the one idle longest', async () => {
    const callers = new PortalCallers({ config, maxPortals: 3 });
    const { endpoint } = await portal();
    for (const n of [1, 2, 3, 4, 5]) {
      const answer = await callers.call(`member${n}`, endpoint, 'server.time', { auth: 't' }, { team: 'a' });
      expect(answer.status).toBe(200);
    }
    expect(callers.size).toBe(3);
    await callers.close();
  });

  it("gives a portal with a plan of its own that plan's bucket, and the others the configured one", async () => {
    const shaped = testConfig({
      upstreamTimeoutMs: 5_000,
      rateLimit: { drainPerSecond: 2, burst: 50, maxQueue: 1_000, maxWaitMs: 120_000, shaping: true },
    });
    const callers = new PortalCallers({
      config: shaped,
      bucketOf: (memberId) => (memberId === 'enterprise' ? { drainPerSecond: 5, burst: 250 } : undefined),
    });
    const { endpoint } = await portal();
    const burst = (memberId: string) =>
      Array.from({ length: 100 }, () =>
        callers.call(memberId, endpoint, 'server.time', { auth: 't' }, { team: 'a' }).catch(() => undefined),
      );
    // 100 at once: the configured bucket (burst 50) lets about 50 go and queues the rest; Enterprise's, all.
    const calls = [...burst('enterprise')];
    await expect.poll(() => callers.depth).toBe(0);
    calls.push(...burst('standard'));
    await expect.poll(() => callers.depth).toBeGreaterThan(40);
    callers.abort();
    await Promise.all(calls);
    await callers.close();
  });

  it('gives a portal with a queue bound of its own that bound, and the others QUEUE_MAX_LENGTH', async () => {
    const shaped = testConfig({
      upstreamTimeoutMs: 5_000,
      rateLimit: { drainPerSecond: 2, burst: 10, maxQueue: 20, maxWaitMs: 120_000, shaping: true },
    });
    const callers = new PortalCallers({
      config: shaped,
      queueOf: (memberId) => (memberId === 'large' ? 60 : undefined),
    });
    const { endpoint } = await portal();
    const burst = (memberId: string) =>
      Array.from({ length: 100 }, () =>
        callers
          .call(memberId, endpoint, 'server.time', { auth: 't' }, { team: 'a' })
          .then(() => 'sent' as const)
          .catch((error: Error) => error.name),
      );
    // 100 at once: the burst goes, then the queue takes its bound; the rest are refused at once.
    const large = burst('large');
    const small = burst('small');
    await expect.poll(() => callers.depth).toBe(80);
    callers.abort();
    const refused = async (calls: Promise<string>[]) =>
      (await Promise.all(calls)).filter((outcome) => outcome === 'RateLimitRejection').length;
    // Refused at once for a full queue, or on abort for the ones queued: every call not in the burst.
    expect(await refused(large)).toBe(90);
    expect(await refused(small)).toBe(90);
    await callers.close();
  });

  it('lets a call in flight finish when its portal is forgotten, then closes its connections', async () => {
    const callers = new PortalCallers({ config });
    const slow = await portal(300);
    const answering = callers.call('member1', slow.endpoint, 'server.time', { auth: 't' }, { team: 'a' });
    await expect.poll(() => slow.sockets.size).toBe(1);
    callers.forget('member1');
    expect((await answering).status).toBe(200);
    expect(callers.size).toBe(0);
    await expect.poll(() => slow.sockets.size).toBe(0);
    await callers.close();
  });
});
