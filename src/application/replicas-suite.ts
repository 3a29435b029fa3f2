// The three-replica suite of application mode (issue 34), run by replicas.process.test.ts (one
// redis-server) and replicas-cluster.process.test.ts (a three-node Redis Cluster, each portal's keys in one
// slot, the node holding a portal's slot stalled in its turn). Through real processes: three built gateways
// share that Redis (append-only file on), as the application of 20 emulated portals whose access tokens
// live 2 s. Under calls spread over portals and replicas: every call answered 200, each refresh token
// presented at most once in the whole fleet, no invalid_grant. Then, under the same load, a replica killed
// while the authorization server holds its refresh's answer, and Redis stopped (SIGSTOP) during a refresh:
// no call hangs past its deadline, none is executed twice, and a lost portal is reported, never silent. No
// token is in plain text in Redis, in any replica's log, answer or metrics.
import { randomBytes } from 'node:crypto';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cloud, type CloudPortal, startCloud } from '../emulator';
import { type GatewayProcess, loggedLine, startGatewayProcess, untilReady } from '../test-support/processes';
import { startRedis } from '../test-support/redis';
import { startRedisCluster } from '../test-support/redis-cluster';

const CLIENT_ID = 'app.replicas-test';
const CLIENT_SECRET = `secret-${randomBytes(12).toString('hex')}`;
const TOKEN_KEY = `k1:${randomBytes(32).toString('base64')}`;
const KEY = `team-key-${randomBytes(8).toString('hex')}`;
const OPS_KEY = `ops-key-${randomBytes(8).toString('hex')}`;
const TRANSFER = 'imopenlines.bot.session.transfer';
/** The renewal's own deadline is 2 × this (a lost answer is tried once more); the lease 2 × this + 6 s. */
const UPSTREAM_TIMEOUT_MS = 2_000;
const LEASE_MS = 2 * UPSTREAM_TIMEOUT_MS + 6_000;
/** The longest any call may take: a wait for another replica's lease, a renewal, the call itself. */
const CALL_DEADLINE_MS = LEASE_MS + 2 * UPSTREAM_TIMEOUT_MS + 3_000;

/** The Redis the replicas share: one server, or a cluster. */
interface SharedRedis {
  url: string;
  /** What the gateway needs to be told of it (REDIS_CLUSTER). */
  env: Record<string, string>;
  /** SIGSTOPs the server holding the portal's keys; resolves with what resumes it. */
  stall(memberId: string): Promise<() => void>;
  /** Every key and value Redis holds, as text. */
  dump(): Promise<string[]>;
  /** Kills Redis and starts it again empty (one server only). */
  restartEmpty?(): Promise<void>;
  dispose(): Promise<void>;
}

/** Every key and value of one server (a cluster node holds its own slots' keys). */
async function dumpServer(url: string): Promise<string[]> {
  const client = createClient({ url });
  await client.connect();
  try {
    const dump: string[] = [];
    for (const key of await client.keys('*')) {
      dump.push(key);
      const type = await client.type(key);
      if (type === 'hash') dump.push(...Object.entries(await client.hGetAll(key)).flat());
      else if (type === 'string') dump.push((await client.get(key)) ?? '');
      else if (type === 'zset') dump.push(...(await client.zRange(key, 0, -1)));
    }
    return dump;
  } finally {
    await client.close();
  }
}

async function oneServer(): Promise<SharedRedis> {
  const server = await startRedis([], undefined, undefined, { aof: true });
  return {
    url: server.url,
    env: {},
    stall: async () => {
      server.pause();
      return () => server.resume();
    },
    dump: () => dumpServer(server.url),
    restartEmpty: async () => {
      await server.stop();
      await server.start();
    },
    dispose: () => server.dispose(),
  };
}

async function threeNodeCluster(): Promise<SharedRedis> {
  const cluster = await startRedisCluster();
  return {
    url: cluster.url,
    env: { REDIS_CLUSTER: 'true' },
    stall: async (memberId) => {
      const node = await cluster.nodeOf(`{bitrix24-gateway:portal:${memberId}}`);
      cluster.pause(node);
      return () => cluster.resume(node);
    },
    dump: async () => (await Promise.all(cluster.ports.map((port) => dumpServer(`redis://127.0.0.1:${port}`)))).flat(),
    dispose: () => cluster.dispose(),
  };
}

let redis: SharedRedis;
let cloud: Cloud;
const replicas: GatewayProcess[] = [];
const seen: string[] = [];

const environment = (): Record<string, string> => ({
  BITRIX24_APP_CLIENT_ID: CLIENT_ID,
  BITRIX24_APP_CLIENT_SECRET: CLIENT_SECRET,
  BITRIX24_OAUTH_URL: cloud.oauthUrl,
  GATEWAY_TOKEN_KEY: TOKEN_KEY,
  GATEWAY_API_KEYS: `team:${KEY},ops:${OPS_KEY}`,
  GATEWAY_TEAM_PORTALS: 'team:*',
  GATEWAY_OPERATOR_TEAMS: 'ops',
  BITRIX24_BOT_EVENTS_URL: 'http://127.0.0.1:9/bot-events',
  REDIS_URL: redis.url,
  ...redis.env,
  GATEWAY_REPLICAS: '3',
  UPSTREAM_TIMEOUT_MS: String(UPSTREAM_TIMEOUT_MS),
  LOG_LEVEL: 'info',
});

/** One call, timed: its status and error code, and whether it came within the deadline. */
async function call(replica: GatewayProcess, portal: CloudPortal) {
  const started = Date.now();
  const answer = await fetch(`${replica.url}/portals/${portal.memberId}/rest/${TRANSFER}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ CHAT_ID: 112, USER_ID: 12 }),
    signal: AbortSignal.timeout(CALL_DEADLINE_MS + 5_000),
  });
  const text = await answer.text();
  seen.push(text);
  const code = answer.status === 200 ? undefined : (JSON.parse(text) as { error?: string }).error;
  return { status: answer.status, code, ms: Date.now() - started };
}

/**
 * Calls spread over portals and the live replicas for `ms`, 9 at a time: the statuses (with their codes)
 * counted, and the slowest call's time. The portals' own calls are counted by the emulator.
 */
async function load(ms: number, live: () => GatewayProcess[], portals: readonly CloudPortal[] = cloud.portals) {
  const outcomes = new Map<string, number>();
  let slowest = 0;
  const until = Date.now() + ms;
  await Promise.all(
    Array.from({ length: 9 }, async (_unused, worker) => {
      for (let n = worker; Date.now() < until; n += 9) {
        const targets = live();
        const replica = targets[n % targets.length]!;
        const portal = portals[Math.floor(n / 3) % portals.length]!;
        try {
          const { status, code, ms: took } = await call(replica, portal);
          const key = code ? `${status} ${code}` : String(status);
          outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
          slowest = Math.max(slowest, took);
        } catch (error) {
          // A replica killed under the call: its connection reset (the call went nowhere else).
          const key = `failed ${(error as Error).name}`;
          outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
        }
      }
    }),
  );
  return { outcomes: Object.fromEntries(outcomes), slowest };
}

/** How many refresh tokens the authorization server was shown more than once (the fleet's invariant: none). */
function presentedTwice(): number {
  return cloud.issuedTokens().filter((token) => cloud.presented(token) > 1).length;
}

/**
 * Every call the portals executed (past their token check: a call refused for a token another replica had
 * just renewed, then sent again, counts once): a call executed twice would show as more than the 200s.
 */
const sentCalls = () => cloud.portals.reduce((sum, portal) => sum + portal.emulator.stats.calls, 0);

/** The suite, on one kind of Redis: each kind is a test file of its own, so that the two run side by side. */
export function replicaSuite(name: 'one redis-server' | 'a three-node Redis Cluster'): void {
  const start = name === 'one redis-server' ? oneServer : threeNodeCluster;
  describe(`on ${name}`, () => {
    beforeAll(async () => {
      redis = await start();
      replicas.length = 0;
      seen.length = 0;
      cloud = await startCloud({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, portals: 20, accessTtlMs: 2_000 });
      for (let i = 0; i < 3; i++) replicas.push(await startGatewayProcess(environment()));
      await untilReady(replicas);
      // Bitrix24 posts each install to whichever replica its load balancer picks.
      for (const [i, portal] of cloud.portals.entries()) {
        const delivery = await cloud.install(portal, `${replicas[i % 3]!.url}/bitrix24/events`);
        expect(delivery.status, delivery.body).toBe(200);
        expect(JSON.parse(delivery.body)).toMatchObject({ state: 'ready' });
      }
    }, 90_000);

    afterAll(async () => {
      await Promise.all(replicas.map((replica) => replica.stop()));
      await cloud?.close();
      await redis?.dispose();
    });

    describe('three replicas, 20 portals whose tokens live 2 s', () => {
      it('answers every call 200 for 20 s, with at most one refresh per token in the fleet and no invalid_grant', async () => {
        const sentBefore = sentCalls();
        const refreshesBefore = cloud.stats.refreshes;
        const { outcomes, slowest } = await load(20_000, () => replicas);
        expect(Object.keys(outcomes), JSON.stringify(outcomes)).toEqual(['200']);
        expect(slowest).toBeLessThan(CALL_DEADLINE_MS);
        expect(cloud.stats.invalidGrant).toBe(0);
        expect(presentedTwice()).toBe(0);
        // The tokens expired many times over: every portal was renewed, by one replica at a time.
        expect(cloud.stats.refreshes - refreshesBefore).toBeGreaterThan(cloud.portals.length);
        // Each 200 is one call the portals received: none was sent twice.
        expect(sentCalls() - sentBefore).toBe(outcomes['200']);
      }, 60_000);

      it('shows every replica the same portals, and the operator their state across the fleet', async () => {
        for (const replica of replicas) {
          const answer = await fetch(`${replica.url}/operator/portals`, {
            headers: { authorization: `Bearer ${OPS_KEY}` },
          });
          expect(answer.status).toBe(200);
          const { portals } = (await answer.json()) as { portals: { member_id: string; state: string }[] };
          expect(portals.map((portal) => portal.member_id)).toEqual(cloud.portals.map((p) => p.memberId).sort());
          expect(portals.every((portal) => portal.state === 'ready')).toBe(true);
        }
      });

      it('loses only the portal whose refresh answer a killed replica held, and reports it', async () => {
        const victim = replicas[1]!;
        const portal = cloud.portals[5]!;
        portal.expireAccessTokens();
        const hold = cloud.holdTokenAnswers();
        const held = call(victim, portal).catch(() => undefined);
        await hold.waiting(1, 10_000);
        // The authorization server spent the token; its new pair dies with the replica.
        await victim.stop();
        hold.release();
        await held;
        const live = () => replicas.filter((replica) => replica !== victim);
        const others = cloud.portals.filter((other) => other !== portal);
        const sentBefore = sentCalls();
        const [elsewhere, victimPortal] = await Promise.all([
          load(LEASE_MS + 4_000, live, others),
          (async () => {
            const outcomes: string[] = [];
            let slowest = 0;
            for (const until = Date.now() + LEASE_MS + 4_000; Date.now() < until; ) {
              const { status, code, ms } = await call(live()[outcomes.length % 2]!, portal);
              outcomes.push(`${status} ${code ?? ''}`.trim());
              slowest = Math.max(slowest, ms);
            }
            return { outcomes, slowest };
          })(),
        ]);
        // The other portals never noticed.
        expect(Object.keys(elsewhere.outcomes), JSON.stringify(elsewhere.outcomes)).toEqual(['200']);
        expect(sentCalls() - sentBefore).toBe(elsewhere.outcomes['200']);
        // The portal's calls waited for the dead replica's lease (never past their deadline), then the next
        // renewal met the spent token: the portal is reported lost, never silently.
        expect(victimPortal.slowest).toBeLessThan(CALL_DEADLINE_MS);
        expect(new Set(victimPortal.outcomes)).toContain('503 PORTAL_NEEDS_REINSTALL');
        for (const outcome of victimPortal.outcomes)
          expect(['503 PORTAL_NEEDS_REINSTALL', '503 AUTHORIZATION_SERVER_UNAVAILABLE']).toContain(outcome);
        const reported = await Promise.all(
          live().map((replica) =>
            loggedLine(replica, (line) => line.includes(portal.memberId) && line.includes('needs a re-install'), 1_000)
              .then(() => true)
              .catch(() => false),
          ),
        );
        expect(reported.filter(Boolean)).toHaveLength(1);
        // Its spent token was shown twice (the held renewal, then the one that found it spent), and no other.
        expect(presentedTwice()).toBe(1);
        // A re-install repairs it; the replica comes back.
        const reinstall = await cloud.install(portal, `${replicas[0]!.url}/bitrix24/events`);
        expect(reinstall.status, reinstall.body).toBe(200);
        replicas[1] = await startGatewayProcess(environment());
        await untilReady(replicas);
        expect((await call(replicas[1]!, portal)).status).toBe(200);
      }, 90_000);

      it('keeps a pair renewed while Redis is stopped, writes it back when Redis resumes, and loses nothing', async () => {
        const portal = cloud.portals[7]!;
        const holder = replicas[0]!;
        portal.expireAccessTokens();
        const invalidBefore = cloud.stats.invalidGrant;
        const hold = cloud.holdTokenAnswers();
        const renewing = call(holder, portal);
        await hold.waiting(1, 10_000);
        const resume = await redis.stall(portal.memberId);
        hold.release();
        // Redis cannot take the new pair: the holder keeps it and answers its call with it.
        // Its call goes with the new token (or, when its wait in this replica's own share of the bucket outlived
        // that token, is refused before sending: nothing is renewed without Redis).
        const renewed = await renewing;
        expect([
          [200, undefined],
          [503, 'PORTAL_STORE_UNAVAILABLE'],
        ]).toContainEqual([renewed.status, renewed.code]);
        // Meanwhile the other replicas cannot read the portal: a documented 503 at once, nothing sent.
        const sentBefore = portal.calls(TRANSFER);
        const away = await call(replicas[2]!, portal);
        expect([away.status, away.code]).toEqual([503, 'PORTAL_STORE_UNAVAILABLE']);
        expect(away.ms).toBeLessThan(2_000);
        expect(portal.calls(TRANSFER)).toBe(sentBefore);
        await loggedLine(holder, (line) => line.includes('kept in memory and written back'));
        resume();
        await loggedLine(holder, (line) => line.includes('is written back'), 10_000);
        await untilReady(replicas);
        // Every replica now calls the portal with the pair written back; the token was never spent twice.
        const { outcomes } = await load(5_000, () => replicas);
        expect(Object.keys(outcomes), JSON.stringify(outcomes)).toEqual(['200']);
        expect(cloud.stats.invalidGrant).toBe(invalidBefore);
      }, 60_000);

      it('keeps no token in plain text in Redis, in any log, answer or metrics', async () => {
        const tokens = cloud.issuedTokens();
        expect(tokens.length).toBeGreaterThan(40);
        const secrets = [
          ...tokens,
          CLIENT_SECRET,
          TOKEN_KEY.slice(3),
          ...cloud.portals.map((portal) => portal.applicationToken),
        ];
        const text = (await redis.dump()).join('\n');
        expect(text).toContain(cloud.portals[0]!.memberId);
        for (const secret of secrets) expect(text.includes(secret)).toBe(false);
        const metrics = await Promise.all(
          replicas.map(async (replica) => (await fetch(`${replica.url}/metrics`)).text()),
        );
        const everything = [...replicas.flatMap((replica) => replica.lines), ...seen, ...metrics].join('\n');
        for (const secret of secrets) expect(everything.includes(secret)).toBe(false);
      });

      // A cluster emptied is three nodes wiped and joined again: one server shows what the replicas do.
      it.runIf(name === 'one redis-server')(
        'names the portals an emptied Redis lost, counts them, and answers their calls as not installed',
        async () => {
          await redis.restartEmpty!();
          for (const replica of replicas) {
            const line = await loggedLine(
              replica,
              (l) => l.includes("Redis lost its data: the application's portals"),
              15_000,
            );
            const { portalsLost, memberIds } = JSON.parse(line) as { portalsLost: number; memberIds: string[] };
            expect(portalsLost).toBeGreaterThan(0);
            expect(memberIds.every((id) => cloud.portals.some((portal) => portal.memberId === id))).toBe(true);
            const metrics = await (await fetch(`${replica.url}/metrics`)).text();
            expect(Number(/^gateway_portals_lost_total (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(portalsLost);
          }
          await untilReady(replicas);
          const portal = cloud.portals[3]!;
          const sent = portal.calls(TRANSFER);
          const answer = await call(replicas[0]!, portal);
          expect([answer.status, answer.code]).toEqual([404, 'PORTAL_NOT_INSTALLED']);
          expect(portal.calls(TRANSFER)).toBe(sent);
          // Installing it again brings it back.
          const reinstall = await cloud.install(portal, `${replicas[2]!.url}/bitrix24/events`);
          expect(reinstall.status, reinstall.body).toBe(200);
          expect((await call(replicas[1]!, portal)).status).toBe(200);
        },
        60_000,
      );
    });
  });
}
