// Application mode's settings (issue 33): the gateway is the bot's Bitrix24 application, on any number of
// portals. Its variables (each checked here, the secrets never quoted), what the mode needs of the rest of
// the configuration (callers' keys, no anonymous callers), and what a start should warn about the teams'
// portals. src/config/index.ts reads them with the rest; the plain-http check of its URLs is the one there.
import { z } from 'zod';
import { parseTokenKeys, type TokenKey } from '../application/token-key';

/** The gateway as the bot's application: each portal's tokens held by the gateway, encrypted. */
export interface ApplicationUpstream {
  mode: 'application';
  clientId: string;
  /** A secret: never logged, never in a problem. */
  clientSecret: string;
  /** The authorization server trusted to confirm installs and refresh tokens (origin only). */
  oauthUrl: URL;
  /** Hosts a token answer's `server_endpoint` may name: `oauthUrl`'s host first, lower case. */
  oauthHosts: readonly string[];
  /** GATEWAY_TOKEN_KEY: the first encrypts, every one decrypts. */
  tokenKeys: readonly TokenKey[];
  /** GATEWAY_TEAM_PORTALS: each team's portals (member_ids), or `*` for every one. A team absent calls none. */
  teamPortals: ReadonlyMap<string, '*' | ReadonlySet<string>>;
  bot: { code: string; name: string; eventsUrl: URL };
  /** Installs (and updates bringing tokens) taken a minute per source address and overall; default below. */
  installLimits?: { perSourcePerMinute: number; perMinute: number };
  /** GATEWAY_OPERATOR_TEAMS: the teams that see every portal (`GET /operator/portals`); default none. */
  operatorTeams?: ReadonlySet<string>;
  /** BITRIX24_PORTAL_PLANS: a portal's own plan (its bucket), by member_id; the others take the defaults. */
  portalPlans?: ReadonlyMap<string, 'standard' | 'enterprise'>;
  /** BITRIX24_PORTAL_QUEUES: a portal's own queue bound (its QUEUE_MAX_LENGTH), by member_id. */
  portalQueues?: ReadonlyMap<string, number>;
}

/**
 * Bitrix24 posts every portal's events from a few servers of its own, so a marketplace's install burst comes
 * from one address: the limits hold a flood of forged installs off the authorization server, not real ones.
 */
export const defaultInstallLimits = { perSourcePerMinute: 120, perMinute: 600 } as const;

export const defaultOAuthUrl = 'https://oauth.bitrix.info';
export const defaultOAuthHosts: readonly string[] = ['oauth.bitrix24.tech'];
export const defaultBot = { code: 'gateway_bot', name: 'Gateway bot' } as const;

/** The variables that hold a secret and may be read from `<NAME>_FILE` instead. */
export const applicationSecretVariables = [
  'BITRIX24_APP_CLIENT_ID',
  'BITRIX24_APP_CLIENT_SECRET',
  'GATEWAY_TOKEN_KEY',
] as const;

/** Each set without application mode is a problem, so that a mistyped mode is not silently ignored. */
const modeOnly = [
  'BITRIX24_OAUTH_URL',
  'BITRIX24_OAUTH_HOSTS',
  'GATEWAY_TOKEN_KEY',
  'GATEWAY_TEAM_PORTALS',
  'BITRIX24_BOT_CODE',
  'BITRIX24_BOT_NAME',
  'BITRIX24_BOT_EVENTS_URL',
  'BITRIX24_APP_INSTALLS_PER_MINUTE',
  'BITRIX24_APP_INSTALLS_PER_SOURCE_PER_MINUTE',
  'GATEWAY_OPERATOR_TEAMS',
  'BITRIX24_PORTAL_PLANS',
  'BITRIX24_PORTAL_QUEUES',
] as const;

/**
 * `<member_id>:<value>` entries, comma-separated, each portal named once: a map of each portal's own setting.
 * `read` answers the value, or undefined when the text is not one (`words` says what one is).
 */
function perPortal<T>(read: (text: string) => T | undefined, words: string) {
  return z
    .string()
    .transform((text) => text.split(',').map((entry) => entry.trim().split(':')))
    .refine(
      (entries) =>
        entries.length <= 100_000 &&
        entries.every((parts) => parts.length === 2 && MEMBER_ID.test(parts[0]!) && read(parts[1]!) !== undefined),
      `must be ${words}, separated by commas`,
    )
    .refine((entries) => new Set(entries.map(([member]) => member)).size === entries.length, 'names a portal twice')
    .transform((entries) => new Map(entries.map(([member, value]) => [member!, read(value!) as T])));
}

/** `<member_id>:<plan>` entries: an Enterprise portal drains 5 a second, burst 250. */
const portalPlans = perPortal(
  (text) => (text === 'standard' || text === 'enterprise' ? text : undefined),
  '<member_id>:<plan> entries (plan standard or enterprise)',
);

/** `<member_id>:<calls>` entries: the portal's own queue bound (QUEUE_MAX_LENGTH's range). */
const portalQueues = perPortal(
  (text) => (/^\d{1,6}$/.test(text) && Number(text) <= 100_000 ? Number(text) : undefined),
  '<member_id>:<calls> entries (0 to 100000 calls queued at most)',
);

/** Team names, comma-separated, as GATEWAY_API_KEYS names teams. */
const operatorTeams = z
  .string()
  .transform((text) => text.split(',').map((team) => team.trim()))
  .refine(
    (teams) => teams.length <= 64 && teams.every((team) => /^[A-Za-z0-9_.-]{1,64}$/.test(team)),
    'must be team names (1 to 64 of A-Z a-z 0-9 _ . -), separated by commas',
  )
  .transform((teams) => new Set(teams));

const perMinute = z
  .string()
  .regex(/^\d+$/, 'must be a positive whole number')
  .transform(Number)
  .pipe(z.number().min(1, 'must be at least 1').max(100_000, 'must be at most 100000'));

const MAX_OAUTH_HOSTS = 16;
const TEAM = /^[A-Za-z0-9_.-]+$/;
const MEMBER_ID = /^[A-Za-z0-9_.-]{1,64}$/;
const HOST_NAME = /^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*$/;

const noCredentials = 'must carry no user name or password (user:password@ before the host); remove them';

/** Adds `message` as the issue of a zod transform and gives up its value. */
function issue(ctx: z.RefinementCtx, message: string): never {
  ctx.addIssue({ code: 'custom', message });
  return z.NEVER as never;
}

const oauthUrl = z
  .url('must be a URL')
  .transform((value) => new URL(value))
  .refine((url) => /^https?:$/.test(url.protocol), 'must be https:// (http:// only on a loopback host)')
  .refine((url) => !url.username && !url.password, noCredentials)
  .refine(
    (url) => url.pathname === '/' && !url.search && !url.hash,
    'must be the authorization server origin only, like https://oauth.bitrix.info (no path, query or fragment)',
  );

const eventsUrl = z
  .url('must be a URL')
  .transform((value) => new URL(value))
  .refine((url) => /^https?:$/.test(url.protocol), 'must be https:// (http:// only on a loopback host)')
  .refine((url) => !url.username && !url.password, noCredentials)
  .refine((url) => !url.hash, 'must have no fragment');

/** `host[:port]`, lower case, as a URL's `host` writes it; undefined when it is not one. */
function hostOf(written: string): string | undefined {
  const match = /^([^:]+)(?::(\d{1,5}))?$/.exec(written.toLowerCase());
  if (!match || !HOST_NAME.test(match[1]!) || match[1]!.length > 253) return undefined;
  const port = match[2] === undefined ? undefined : Number(match[2]);
  if (port !== undefined && (port < 1 || port > 65_535)) return undefined;
  return port === undefined || port === 443 ? match[1] : `${match[1]}:${port}`;
}

const oauthHosts = z.string().transform((value, ctx) => {
  const written = value
    .split(',')
    .map((host) => host.trim())
    .filter(Boolean);
  if (written.length === 0) return issue(ctx, 'must name at least one host');
  if (written.length > MAX_OAUTH_HOSTS) return issue(ctx, `must name at most ${MAX_OAUTH_HOSTS} hosts`);
  const hosts: string[] = [];
  for (const [index, one] of written.entries()) {
    const host = hostOf(one);
    if (!host)
      return issue(
        ctx,
        `host ${index + 1} must be a host name (with :port if not 443), like oauth.bitrix24.tech, without scheme or path`,
      );
    hosts.push(host);
  }
  return hosts;
});

const tokenKeys = z.string().transform((value, ctx) => {
  const parsed = parseTokenKeys(value);
  return 'problem' in parsed ? issue(ctx, parsed.problem) : parsed.keys;
});

/** GATEWAY_TEAM_PORTALS' value: `team:*` or `team:<member_id> <member_id>…`, separated by commas or new lines. */
export function parseTeamPortals(
  text: string,
): { portals: Map<string, '*' | ReadonlySet<string>> } | { problem: string } {
  const portals = new Map<string, '*' | ReadonlySet<string>>();
  const shape = 'must be team:* or team:<member_id> <member_id>…, separated by commas';
  for (const [index, entry] of text
    .split(/[,\n]/)
    .map((e) => e.trim())
    .filter(Boolean)
    .entries()) {
    const colon = entry.indexOf(':');
    const team = colon < 0 ? '' : entry.slice(0, colon).trim();
    if (!TEAM.test(team)) return { problem: `entry ${index + 1} ${shape} (team: letters, digits, _ . -)` };
    if (team === 'anonymous')
      return { problem: 'the team "anonymous" is the callers without a key, which application mode refuses' };
    if (portals.has(team)) return { problem: `team "${team}" is named twice: list all its portals in one entry` };
    const members = entry
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .filter(Boolean);
    if (members.length === 0) return { problem: `team "${team}" has no portal: name its member_ids, or *` };
    if (members.includes('*')) {
      if (members.length > 1) return { problem: `team "${team}": * (every portal) stands alone` };
      portals.set(team, '*');
      continue;
    }
    if (!members.every((member) => MEMBER_ID.test(member)))
      return { problem: `team "${team}": each portal must be a member_id (1 to 64 of A-Z a-z 0-9 _ . -), or * alone` };
    portals.set(team, new Set(members));
  }
  return { portals };
}

const teamPortals = z.string().transform((value, ctx) => {
  const parsed = parseTeamPortals(value);
  return 'problem' in parsed ? issue(ctx, parsed.problem) : parsed.portals;
});

/** Application mode's variables, read with the others (src/config/index.ts's `environment`). */
export const applicationEnvironment = {
  BITRIX24_APP_CLIENT_ID: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,128}$/, "must be the application's client_id: 1 to 128 of A-Z a-z 0-9 . _ -")
    .optional(),
  BITRIX24_APP_CLIENT_SECRET: z
    .string()
    .regex(/^[\x21-\x7e]{1,256}$/, "must be the application's client_secret: 1 to 256 printable ASCII, no spaces")
    .optional(),
  BITRIX24_OAUTH_URL: oauthUrl.optional(),
  BITRIX24_OAUTH_HOSTS: oauthHosts.optional(),
  GATEWAY_TOKEN_KEY: tokenKeys.optional(),
  GATEWAY_TEAM_PORTALS: teamPortals.optional(),
  BITRIX24_BOT_CODE: z
    .string()
    .regex(/^[A-Za-z0-9_]{1,50}$/, 'must be 1 to 50 of A-Z a-z 0-9 _')
    .optional(),
  BITRIX24_BOT_NAME: z
    .string()
    .refine(
      (name) => [...name].length <= 100 && name.trim() !== '' && !/\p{Cc}/u.test(name),
      'must be 1 to 100 characters, not blank, without control characters',
    )
    .optional(),
  BITRIX24_BOT_EVENTS_URL: eventsUrl.optional(),
  BITRIX24_APP_INSTALLS_PER_MINUTE: perMinute.optional(),
  BITRIX24_APP_INSTALLS_PER_SOURCE_PER_MINUTE: perMinute.optional(),
  GATEWAY_OPERATOR_TEAMS: operatorTeams.optional(),
  BITRIX24_PORTAL_PLANS: portalPlans.optional(),
  BITRIX24_PORTAL_QUEUES: portalQueues.optional(),
  EMULATOR_APPLICATION: z
    .enum(['true', 'false'], 'must be true or false')
    .transform((v) => v === 'true')
    .default(false),
};

type ApplicationVars = z.output<z.ZodObject<typeof applicationEnvironment>>;

/** What application mode needs of the rest of the configuration. */
interface OtherVars {
  BITRIX24_WEBHOOK_URL?: URL;
  BITRIX24_PORTAL_URL?: URL;
  GATEWAY_API_KEYS: Map<string, string>;
  GATEWAY_ALLOW_ANONYMOUS: boolean;
  REDIS_URL?: unknown;
  REDIS_REQUIRE_AOF?: boolean | undefined;
}

/**
 * Application mode as configured, or undefined when it is not (neither client id nor secret set); every
 * problem is pushed to `problems`, naming its variable, never quoting a secret.
 */
export function applicationUpstream(
  vars: ApplicationVars & OtherVars,
  problems: string[],
): ApplicationUpstream | undefined {
  const { BITRIX24_APP_CLIENT_ID: clientId, BITRIX24_APP_CLIENT_SECRET: clientSecret } = vars;
  if (clientId === undefined && clientSecret === undefined) {
    for (const name of modeOnly)
      if (vars[name] !== undefined)
        problems.push(
          `${name}: only used in application mode (with BITRIX24_APP_CLIENT_ID and BITRIX24_APP_CLIENT_SECRET)`,
        );
    return undefined;
  }
  const before = problems.length;
  if (clientId === undefined || clientSecret === undefined)
    problems.push(
      'BITRIX24_APP_CLIENT_ID and BITRIX24_APP_CLIENT_SECRET: set both for application mode (or their _FILE), or neither',
    );
  const mode = clientId === undefined ? 'BITRIX24_APP_CLIENT_SECRET' : 'BITRIX24_APP_CLIENT_ID';
  for (const other of ['BITRIX24_WEBHOOK_URL', 'BITRIX24_PORTAL_URL'] as const)
    if (vars[other])
      problems.push(`${mode} and ${other}: set one of them, not both (application mode, or a single portal's)`);
  if (vars.GATEWAY_API_KEYS.size === 0)
    problems.push(
      'GATEWAY_API_KEYS: required in application mode, with at least one team (or GATEWAY_API_KEYS_FILE): callers act as the application',
    );
  if (vars.GATEWAY_ALLOW_ANONYMOUS)
    problems.push(
      'GATEWAY_ALLOW_ANONYMOUS: must not be true in application mode: an anonymous caller would act as the application on every portal',
    );
  // With Redis, the portals' tokens live there: a restart that loses them loses every portal until it is
  // re-installed, so the append-only file is not a risk to accept.
  if (vars.REDIS_URL !== undefined && vars.REDIS_REQUIRE_AOF === false)
    problems.push(
      "REDIS_REQUIRE_AOF: must not be false in application mode: the portals' tokens live in Redis, and a restart without an append-only file loses every portal until it is re-installed",
    );
  if (!vars.GATEWAY_TOKEN_KEY)
    problems.push(
      "GATEWAY_TOKEN_KEY: required in application mode (or GATEWAY_TOKEN_KEY_FILE): <id>:<key>, the key (32 bytes, base64 or hex) encrypting the portals' tokens",
    );
  if (!vars.BITRIX24_BOT_EVENTS_URL)
    problems.push(
      "BITRIX24_BOT_EVENTS_URL: required in application mode: where the team's bot backend receives the bot's messages",
    );
  if (problems.length > before || !clientId || !clientSecret || !vars.GATEWAY_TOKEN_KEY) return undefined;
  const oauthUrl = vars.BITRIX24_OAUTH_URL ?? new URL(defaultOAuthUrl);
  return {
    mode: 'application',
    clientId,
    clientSecret,
    oauthUrl,
    oauthHosts: [...new Set([oauthUrl.host, ...(vars.BITRIX24_OAUTH_HOSTS ?? defaultOAuthHosts)])],
    tokenKeys: vars.GATEWAY_TOKEN_KEY,
    teamPortals: vars.GATEWAY_TEAM_PORTALS ?? new Map(),
    bot: {
      code: vars.BITRIX24_BOT_CODE ?? defaultBot.code,
      name: vars.BITRIX24_BOT_NAME ?? defaultBot.name,
      eventsUrl: vars.BITRIX24_BOT_EVENTS_URL!,
    },
    installLimits: {
      perSourcePerMinute: vars.BITRIX24_APP_INSTALLS_PER_SOURCE_PER_MINUTE ?? defaultInstallLimits.perSourcePerMinute,
      perMinute: vars.BITRIX24_APP_INSTALLS_PER_MINUTE ?? defaultInstallLimits.perMinute,
    },
    operatorTeams: vars.GATEWAY_OPERATOR_TEAMS ?? new Set(),
    portalPlans: vars.BITRIX24_PORTAL_PLANS ?? new Map(),
    ...(vars.BITRIX24_PORTAL_QUEUES && { portalQueues: vars.BITRIX24_PORTAL_QUEUES }),
  };
}

/** A line a start should log about the teams and their portals (main.ts's warnMissing logs each as `warn`). */
export interface TeamPortalWarning {
  variable: 'GATEWAY_TEAM_PORTALS';
  teams: string[];
  message: string;
}

/**
 * What to warn about at start (and after the keys rotate): teams GATEWAY_TEAM_PORTALS names that have no key
 * (not an error: the keys file may gain them later), and teams with a key but no portal (every call of theirs
 * to a portal is refused). Team names only, sorted.
 */
export function teamPortalWarnings(
  teamPortals: ReadonlyMap<string, '*' | ReadonlySet<string>>,
  apiKeys: ReadonlyMap<string, string>,
): TeamPortalWarning[] {
  const keyed = new Set(apiKeys.values());
  const unknown = [...teamPortals.keys()].filter((team) => !keyed.has(team)).sort();
  const portalless = [...keyed].filter((team) => !teamPortals.has(team)).sort();
  const warnings: TeamPortalWarning[] = [];
  if (unknown.length > 0)
    warnings.push({
      variable: 'GATEWAY_TEAM_PORTALS',
      teams: unknown,
      message: `GATEWAY_TEAM_PORTALS names teams that have no key in GATEWAY_API_KEYS: ${unknown.join(', ')} (they call nothing until a key of theirs is added)`,
    });
  if (portalless.length > 0)
    warnings.push({
      variable: 'GATEWAY_TEAM_PORTALS',
      teams: portalless,
      message: `GATEWAY_TEAM_PORTALS gives these teams no portal: ${portalless.join(', ')} (their calls to /portals/… are refused; add team:<member_id> or team:*)`,
    });
  return warnings;
}

/**
 * EMULATOR_APPLICATION=true (`make start-application`): application mode against an emulated cloud of two
 * portals that the gateway starts itself on loopback (src/emulator/cloud/demo.ts makes its client, secret,
 * token key and authorization server; main.ts starts it). What the configuration says of it:
 */
export interface EmulatedApplication {
  /** GATEWAY_TEAM_PORTALS, or every team of the keys on every portal (`demo:*` with the demo key). */
  teamPortals: ReadonlyMap<string, '*' | ReadonlySet<string>>;
  bot: { code: string; name: string; eventsUrl: URL };
  installLimits: { perSourcePerMinute: number; perMinute: number };
  operatorTeams: ReadonlySet<string>;
  portalPlans: ReadonlyMap<string, 'standard' | 'enterprise'>;
  portalQueues?: ReadonlyMap<string, number>;
  /** GATEWAY_DATA_DIR was set: the portals are kept there; unset, in a folder of their own under the OS temp dir. */
  dataDirSet: boolean;
}

/** The demo's caller, GATEWAY_API_KEYS' default with EMULATOR_APPLICATION=true only: a documented key. */
export const demoApiKey = { team: 'demo', key: 'demo-key-0123456789' } as const;
/** Where the demo's bot would send its messages: the discard port, never read (the gateway only passes it on). */
export const demoBotEventsUrl = 'http://127.0.0.1:9/bot-events';

/** What the switch needs of the rest of the configuration. */
interface EmulatedVars extends OtherVars {
  HOST: string;
  TLS_CERT_FILE?: string;
  GATEWAY_DATA_DIR?: string;
}

/** Set with EMULATOR_APPLICATION, each is a problem: the demo makes its own, or they name a real portal. */
const notWithEmulated = [
  'BITRIX24_WEBHOOK_URL',
  'BITRIX24_PORTAL_URL',
  'BITRIX24_APP_CLIENT_ID',
  'BITRIX24_APP_CLIENT_SECRET',
  'BITRIX24_OAUTH_URL',
  'BITRIX24_OAUTH_HOSTS',
  'GATEWAY_TOKEN_KEY',
  'REDIS_URL',
  'TLS_CERT_FILE',
] as const;

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|::1)$/i;

/**
 * EMULATOR_APPLICATION's configuration, or undefined when it is not set; every problem is pushed to
 * `problems`, naming EMULATOR_APPLICATION and the variable it cannot go with (never a value).
 */
export function emulatedApplication(
  vars: ApplicationVars & EmulatedVars,
  problems: string[],
): { application: EmulatedApplication; apiKeys: Map<string, string> } | undefined {
  if (!vars.EMULATOR_APPLICATION) return undefined;
  for (const name of notWithEmulated)
    if (vars[name] !== undefined)
      problems.push(
        `EMULATOR_APPLICATION and ${name}: set one of them, not both (EMULATOR_APPLICATION=true is the application on two emulated portals, with a client, a token key and an authorization server of its own; unset ${name}, or EMULATOR_APPLICATION for a real portal)`,
      );
  if (vars.GATEWAY_ALLOW_ANONYMOUS)
    problems.push(
      'EMULATOR_APPLICATION and GATEWAY_ALLOW_ANONYMOUS: an anonymous caller would act as the application; callers use the demo key (or GATEWAY_API_KEYS)',
    );
  if (!LOOPBACK.test(vars.HOST))
    problems.push(
      `EMULATOR_APPLICATION: listens on loopback only (HOST 127.0.0.1, ::1 or localhost, not ${vars.HOST}): its portals are emulated and its demo key is public`,
    );
  const apiKeys =
    vars.GATEWAY_API_KEYS.size > 0 ? vars.GATEWAY_API_KEYS : new Map([[demoApiKey.key, demoApiKey.team as string]]);
  const everyTeam = new Map<string, '*'>([...new Set(apiKeys.values())].map((team) => [team, '*']));
  return {
    apiKeys,
    application: {
      teamPortals: vars.GATEWAY_TEAM_PORTALS ?? everyTeam,
      bot: {
        code: vars.BITRIX24_BOT_CODE ?? defaultBot.code,
        name: vars.BITRIX24_BOT_NAME ?? defaultBot.name,
        eventsUrl: vars.BITRIX24_BOT_EVENTS_URL ?? new URL(demoBotEventsUrl),
      },
      installLimits: {
        perSourcePerMinute: vars.BITRIX24_APP_INSTALLS_PER_SOURCE_PER_MINUTE ?? defaultInstallLimits.perSourcePerMinute,
        perMinute: vars.BITRIX24_APP_INSTALLS_PER_MINUTE ?? defaultInstallLimits.perMinute,
      },
      operatorTeams: vars.GATEWAY_OPERATOR_TEAMS ?? new Set(),
      portalPlans: vars.BITRIX24_PORTAL_PLANS ?? new Map(),
      ...(vars.BITRIX24_PORTAL_QUEUES && { portalQueues: vars.BITRIX24_PORTAL_QUEUES }),
      dataDirSet: vars.GATEWAY_DATA_DIR !== undefined,
    },
  };
}
