// Application mode for the benchmark: the emulated cloud in its own process (bench/cloud.ts) and its control
// port, and the built gateway as the cloud's application (the environment src/test-support/application.ts
// gives, with this benchmark's key), its portals installed through the gateway's own event handler.
import { randomBytes } from 'node:crypto';
import { baseEnv, type Cpu, firstJsonLine, launch, type Proc, waitFor } from './processes';
import { type GatewayBuild, listening, type Server, spawnGatewayWith } from './targets';

const CLIENT_ID = 'bench.application';

export interface CloudProcess {
  proc: Proc;
  oauthUrl: string;
  controlUrl: string;
  /** How many portals it runs, and whether they share one listener (virtual portals) or have one each. */
  portals: number;
  shared: boolean;
  /** The gateway's environment as this cloud's application (its secrets made here, at random). */
  environment: Record<string, string>;
}

export interface CloudStats {
  tokenRequests: number;
  refreshes: number;
  invalidGrant: number;
  invalidClient: number;
  /** Transfers the portals received (refused ones too). */
  calls: number;
}

/** How often the refresh tokens the authorization server issued were presented to it. */
export interface Presentations {
  /** Refresh tokens presented at least once. */
  tokens: number;
  /** Their presentations, all told. */
  presentations: number;
  once: number;
  /** Presented more than once: a refresh token spent twice. */
  more: number;
  max: number;
}

/** The cloud with `portals` portals, on `shared` listener if it can (else a listener each, at most 64). */
export async function startCloudProcess(cpu: Cpu, portals: number, shared: boolean): Promise<CloudProcess> {
  const clientSecret = randomBytes(24).toString('base64url');
  const env = baseEnv({
    BENCH_CLOUD_CLIENT_ID: CLIENT_ID,
    BENCH_CLOUD_CLIENT_SECRET: clientSecret,
    BENCH_CLOUD_PORTALS: String(portals),
    BENCH_CLOUD_SHARED: shared ? 'on' : 'off',
  });
  const proc = launch('cloud', cpu, process.execPath, ['--import', 'tsx', 'bench/cloud.ts'], env);
  const ready = await waitFor(proc, 'its first line', () =>
    firstJsonLine<Omit<CloudProcess, 'proc' | 'environment'>>(proc, (v) => typeof v.controlUrl === 'string'),
  );
  return {
    proc,
    ...ready,
    environment: {
      BITRIX24_APP_CLIENT_ID: CLIENT_ID,
      BITRIX24_APP_CLIENT_SECRET: clientSecret,
      BITRIX24_OAUTH_URL: ready.oauthUrl,
      GATEWAY_TOKEN_KEY: `bench:${randomBytes(32).toString('base64')}`,
      GATEWAY_TEAM_PORTALS: 'bench:*',
      // Where the bot's own messages would go: the gateway passes it to imbot.register and never calls it.
      BITRIX24_BOT_EVENTS_URL: 'http://127.0.0.1:9/bot-events',
      // Every portal installs at once, from one address (the default allows 120 a minute per source).
      BITRIX24_APP_INSTALLS_PER_MINUTE: '100000',
      BITRIX24_APP_INSTALLS_PER_SOURCE_PER_MINUTE: '100000',
    },
  };
}

/** The built gateway as the cloud's application (`env`: more of its configuration: REDIS_URL, …). */
export function startApplicationGateway(
  cloud: CloudProcess,
  options: { build?: GatewayBuild; name: string; env?: Record<string, string> },
): Promise<Server> {
  return listening(
    spawnGatewayWith(cloud.environment, { build: options.build ?? 'built', name: options.name, env: options.env }),
  );
}

const control = async <T>(cloud: CloudProcess, path: string, body?: unknown): Promise<T> => {
  const response = await fetch(`${cloud.controlUrl}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  if (!response.ok) throw new Error(`cloud ${path}: ${response.status} ${await response.text()}`);
  return response.json() as Promise<T>;
};

export const cloudPortals = (cloud: CloudProcess) => control<string[]>(cloud, '/portals');
export const cloudStats = (cloud: CloudProcess) => control<CloudStats>(cloud, '/stats');
/** Over every refresh token the cloud issued, and (`expired`) over those held when the tokens last expired. */
export const presentations = (cloud: CloudProcess) =>
  control<Presentations & { expired: Presentations }>(cloud, '/presentations');
/** Every portal's access tokens expire at once; resolves with when (the cloud's clock, ms). */
export const expireAll = (cloud: CloudProcess) => control<{ expired: number; at: number }>(cloud, '/expire', {});

/** Installs every portal through the gateway's event handler, as Bitrix24 would; each must end `ready`. */
export async function installAll(cloud: CloudProcess, gateway: Server): Promise<void> {
  const { installed, failures } = await control<{ installed: number; failures: string[] }>(cloud, '/install', {
    handlerUrl: `${gateway.url}/bitrix24/events`,
  });
  if (installed !== cloud.portals)
    throw new Error(`${installed} of ${cloud.portals} portals installed; first failures:\n${failures.join('\n')}`);
}

/** Waits until the gateway's /readyz answers 200 (application mode with Redis: once it reaches it). */
export async function waitReady(gateway: Server): Promise<void> {
  await waitFor(gateway.proc, '/readyz 200', async () => {
    try {
      const response = await fetch(`${gateway.url}/readyz`, { signal: AbortSignal.timeout(1_000) });
      await response.body?.cancel();
      return response.status === 200 ? true : undefined;
    } catch {
      return undefined;
    }
  });
}

/** The portal-scoped path of a method: the gateway adds that portal's token. */
export const portalPath = (memberId: string, method: string) => `/portals/${memberId}/rest/${method}`;
