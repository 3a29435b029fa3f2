// Application mode for tests and scripts: the emulated Bitrix24 cloud (startCloud: an authorization server
// and its portals, in this process) of an application whose secret and token key are random, the gateway's
// environment as that application, and the portals installed on it as Bitrix24 installs them (ONAPPINSTALL
// posted to the gateway's handler). `startApplicationGateway` puts them together with the built gateway.
import { randomBytes } from 'node:crypto';
import { type Cloud, startCloud } from '../emulator';
import { type GatewayProcess, startGatewayProcess } from './processes';

export const APPLICATION_CLIENT_ID = 'test.application';

export interface ApplicationCloud {
  cloud: Cloud;
  /**
   * The gateway's environment as the cloud's application: `team` holds `apiKey` and may call every portal.
   * Its secrets (the client secret, GATEWAY_TOKEN_KEY) are this cloud's own, random.
   */
  environment(team: string, apiKey: string): Record<string, string>;
}

/** Starts the cloud with `portals` portals (their session methods unlimited: fuzzers call them fast). */
export async function startApplicationCloud(portals = 2): Promise<ApplicationCloud> {
  const clientSecret = randomBytes(24).toString('base64url');
  const tokenKey = `t1:${randomBytes(32).toString('base64')}`;
  const cloud = await startCloud({
    clientId: APPLICATION_CLIENT_ID,
    clientSecret,
    portals,
    portalEmulator: { rateLimit: { enabled: false, drainPerSecond: 2, burst: 50 } },
  });
  return {
    cloud,
    environment: (team, apiKey) => ({
      BITRIX24_APP_CLIENT_ID: APPLICATION_CLIENT_ID,
      BITRIX24_APP_CLIENT_SECRET: clientSecret,
      BITRIX24_OAUTH_URL: cloud.oauthUrl,
      GATEWAY_TOKEN_KEY: tokenKey,
      GATEWAY_API_KEYS: `${team}:${apiKey}`,
      GATEWAY_TEAM_PORTALS: `${team}:*`,
      // Where the bot's own messages would go: the gateway passes it to imbot.register and never calls it.
      BITRIX24_BOT_EVENTS_URL: 'http://127.0.0.1:9/bot-events',
      // Its "Gateway listening" line says where it listens.
      LOG_LEVEL: 'info',
    }),
  };
}

/** Installs the application on every portal of the cloud; each install must leave its portal ready. */
export async function installEveryPortal(cloud: Cloud, gatewayUrl: string, timeoutMs = 30_000): Promise<void> {
  for (const portal of cloud.portals) {
    const delivery = await cloud.install(portal, `${gatewayUrl}/bitrix24/events`, { timeoutMs });
    const state = delivery.status === 200 ? (JSON.parse(delivery.body) as { state?: unknown }).state : undefined;
    if (state !== 'ready')
      throw new Error(`The install on portal ${portal.memberId} was answered ${delivery.status}: ${delivery.body}`);
  }
}

export interface ApplicationGateway {
  cloud: Cloud;
  gateway: GatewayProcess;
  /** The key of the team allowed every portal (`team`). */
  apiKey: string;
  stop(): Promise<void>;
}

/** The built gateway in application mode with the cloud's portals installed on it. */
export async function startApplicationGateway(
  options: { portals?: number; team?: string } = {},
): Promise<ApplicationGateway> {
  const { cloud, environment } = await startApplicationCloud(options.portals);
  const apiKey = randomBytes(18).toString('base64url');
  let gateway: GatewayProcess | undefined;
  try {
    gateway = await startGatewayProcess(environment(options.team ?? 'team', apiKey));
    await installEveryPortal(cloud, gateway.url);
  } catch (error) {
    await gateway?.stop();
    await cloud.close();
    throw error;
  }
  const started = gateway;
  return {
    cloud,
    gateway: started,
    apiKey,
    async stop() {
      await started.stop();
      await cloud.close();
    },
  };
}
