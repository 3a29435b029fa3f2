// EMULATOR_APPLICATION=true (`make start-application`): the gateway as the application of two emulated
// portals on loopback, to try application mode with nothing registered anywhere. This file is the demo's one
// place: it starts the cloud (its authorization server, and two portals whose member_ids are the same at
// every start, so that the README's calls name them), makes the application's settings (a fixed client id,
// a client secret and a token key made afresh at each start, a data folder of its own unless
// GATEWAY_DATA_DIR is set) and, once the gateway listens, installs both portals as Bitrix24 would: by
// posting ONAPPINSTALL to the gateway's own handler.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../../config';
import type { ApplicationUpstream } from '../../config/application';
import type { Logger } from '../../logger';
import { startCloud } from '.';
import type { Cloud } from './types';

/** The demo application's client id (its secret is made at each start, and never shown). */
export const DEMO_CLIENT_ID = 'local.gateway.demo';
/** The demo portals' member_ids, fixed so that calls written down (the README's) name them. */
export const DEMO_MEMBER_IDS = ['demo-portal-1', 'demo-portal-2'] as const;

/** How long one portal's install may take (the gateway confirms it and registers the bot first). */
const INSTALL_TIMEOUT_MS = 15_000;

export interface DemoCloud {
  readonly cloud: Cloud;
  /** The configuration given, in application mode: the cloud's authorization server, the demo's client and key. */
  readonly config: Config;
  /** Where the gateway forwards to, for its start line. */
  describe(gatewayUrl: string): string;
  /**
   * Installs each portal (ONAPPINSTALL posted to the gateway's handler), one log line each: `info` naming its
   * member_id and address when the gateway answered it ready, `error` with the gateway's answer otherwise.
   * Resolves with how many are ready.
   */
  install(gatewayUrl: string, logger: Logger): Promise<number>;
  /** Stops the cloud and removes the data folder it made (none when GATEWAY_DATA_DIR was set). */
  close(): Promise<void>;
}

/** Starts the demo's cloud for a configuration with EMULATOR_APPLICATION=true (src/config/application.ts). */
export async function startDemoCloud(config: Config): Promise<DemoCloud> {
  if (config.upstream.mode !== 'emulator' || !config.upstream.application)
    throw new Error('startDemoCloud: the configuration is not EMULATOR_APPLICATION=true');
  const demo = config.upstream.application;
  const clientSecret = randomBytes(24).toString('hex');
  // The portals enforce the limits the gateway's limiter follows, as the embedded emulator does.
  const { drainPerSecond, burst } = config.rateLimit;
  const cloud = await startCloud({
    clientId: DEMO_CLIENT_ID,
    clientSecret,
    portals: DEMO_MEMBER_IDS.length,
    memberIds: DEMO_MEMBER_IDS,
    portalEmulator: { rateLimit: { enabled: true, drainPerSecond, burst } },
  });
  let ownDataDir: string | undefined;
  try {
    ownDataDir = demo.dataDirSet ? undefined : mkdtempSync(join(tmpdir(), 'gateway-demo-'));
  } catch (error) {
    await cloud.close();
    throw error;
  }
  const oauthUrl = new URL(cloud.oauthUrl);
  const upstream: ApplicationUpstream = {
    mode: 'application',
    clientId: DEMO_CLIENT_ID,
    clientSecret,
    oauthUrl,
    oauthHosts: [oauthUrl.host],
    // Made afresh at each start: a data folder kept across starts (GATEWAY_DATA_DIR) is installed again.
    tokenKeys: [{ id: 'demo', key: randomBytes(32) }],
    teamPortals: demo.teamPortals,
    bot: demo.bot,
    installLimits: demo.installLimits,
    operatorTeams: demo.operatorTeams,
    portalPlans: demo.portalPlans,
    ...(demo.portalQueues && { portalQueues: demo.portalQueues }),
  };

  return {
    cloud,
    config: { ...config, upstream, ...(ownDataDir && { dataDir: ownDataDir }) },
    describe: (gatewayUrl) =>
      `${cloud.portals.length} emulated portals (EMULATOR_APPLICATION=true: application mode, its authorization server at ${cloud.oauthUrl}, its events at ${gatewayUrl}/bitrix24/events; portals kept in ${ownDataDir ?? config.dataDir})`,
    async install(gatewayUrl, logger) {
      let ready = 0;
      for (const portal of cloud.portals) {
        const where = { member_id: portal.memberId, domain: portal.domain };
        try {
          const delivery = await cloud.install(portal, `${gatewayUrl}/bitrix24/events`, {
            timeoutMs: INSTALL_TIMEOUT_MS,
          });
          const answer = parsed(delivery.body);
          if (delivery.status === 200 && answer.state === 'ready') {
            ready += 1;
            logger.info(
              where,
              `Emulated portal ${portal.memberId} installed at ${portal.domain}: call it at ${gatewayUrl}/portals/${portal.memberId}/rest/<method>`,
            );
          } else
            logger.error(
              { ...where, status: delivery.status, error: answer.error, state: answer.state },
              `Emulated portal ${portal.memberId} not installed: the gateway answered ${delivery.status} ${answer.error ?? answer.state ?? ''}`.trim(),
            );
        } catch (error) {
          logger.error({ ...where, err: error }, `Emulated portal ${portal.memberId} not installed: no answer`);
        }
      }
      return ready;
    },
    async close() {
      await cloud.close();
      if (ownDataDir) rmSync(ownDataDir, { recursive: true, force: true });
    },
  };
}

/** The fields of the gateway's answer to an event that a log line names (codes and states, never a token). */
function parsed(body: string): { state?: string; error?: string } {
  try {
    const value = JSON.parse(body) as { state?: unknown; error?: unknown };
    return {
      ...(typeof value.state === 'string' && { state: value.state.slice(0, 64) }),
      ...(typeof value.error === 'string' && { error: value.error.slice(0, 64) }),
    };
  } catch {
    return {};
  }
}
