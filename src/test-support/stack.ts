// A real emulator and a real gateway on loopback ports, for tests that cross the HTTP boundary.
import { Writable } from 'node:stream';
import type { Config } from '../config';
import { type RunningEmulator, type StartOptions, startEmulator } from '../emulator';
import { createLogger } from '../logger';
import { type Gateway, startGateway, type UpstreamTarget } from '../server';
import { temporaryDataDir } from './processes';

/**
 * Every secret the stacks of this test file used (webhook codes, API keys, `auth` tokens and CLIENT_IDs
 * sent), and every line their gateways logged: `secret-scan.ts` checks no line holds one.
 */
export const secretsUsed = new Set<string>();
export const allLogLines: string[] = [];

export interface Stack {
  gateway: Gateway;
  emulator: RunningEmulator;
  /** Every line the gateway logged, parsed. */
  logs: Record<string, unknown>[];
  /** Every raw line the gateway logged, for secret scans. */
  rawLogs: string[];
  post(path: string, body: unknown, init?: { headers?: Record<string, string>; form?: boolean }): Promise<Answer>;
  close(): Promise<void>;
}

export interface Answer {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: tests read an answer's fields directly, whatever its status
  body: any;
}

export interface StackOptions {
  config?: Partial<Config>;
  emulator?: StartOptions;
  mode?: 'webhook' | 'oauth';
  /** Point the gateway somewhere else than the emulator (e.g. a closed port). */
  upstreamBase?: URL;
}

export const TRANSFER = '/rest/imopenlines.bot.session.transfer';

export function testConfig(overrides: Partial<Config> = {}): Config {
  return {
    host: '127.0.0.1',
    port: 0,
    upstream: { mode: 'emulator', clientId: 'emulator.bot' },
    upstreamTimeoutMs: 2_000,
    upstreamConnections: 8,
    upstreamBodyLimitBytes: 1_048_576,
    bodyLimitBytes: 16_384,
    headersTimeoutMs: 10_000,
    requestTimeoutMs: 30_000,
    // Generous by default: tests of shaping set their own.
    rateLimit: { drainPerSecond: 10_000, burst: 10_000, maxQueue: 1_000, maxWaitMs: 10_000, shaping: true },
    retry: { deadlineMs: 2_000, baseDelayMs: 50 },
    operatingPauseMs: 60_000,
    shutdownTimeoutMs: 5_000,
    idempotency: { retentionMs: 86_400_000, maxKeys: 10_000, maxBytes: 16_777_216 },
    dataDir: temporaryDataDir(),
    apiKeys: new Map(),
    allowAnonymous: true,
    logLevel: 'info',
    ...overrides,
  };
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const emulator = await startEmulator({
    port: 0,
    rateLimit: { enabled: false, drainPerSecond: 2, burst: 50 },
    ...options.emulator,
  });
  const mode = options.mode ?? 'webhook';
  const target: UpstreamTarget =
    mode === 'webhook'
      ? { mode, base: options.upstreamBase ?? new URL(emulator.webhookUrl), defaultClientId: 'emulator.bot' }
      : { mode, base: options.upstreamBase ?? new URL(emulator.url) };
  const rawLogs: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      const lines = String(chunk).split('\n').filter(Boolean);
      rawLogs.push(...lines);
      allLogLines.push(...lines);
      done();
    },
  });
  const config = testConfig(options.config);
  secretsUsed.add(new URL(emulator.webhookUrl).pathname.split('/')[3]!);
  if (options.upstreamBase) secretsUsed.add(options.upstreamBase.pathname.split('/')[3] ?? '');
  for (const key of config.apiKeys.keys()) secretsUsed.add(key);
  const gateway = await startGateway(config, target, createLogger(config.logLevel, sink));
  return {
    gateway,
    emulator,
    rawLogs,
    get logs() {
      return rawLogs.map((line) => JSON.parse(line) as Record<string, unknown>);
    },
    post: (path, body, init = {}) => post(`${gateway.url}${path}`, body, init),
    close: async () => {
      await gateway.close();
      await emulator.close();
    },
  };
}

export async function post(
  url: string,
  body: unknown,
  init: { headers?: Record<string, string>; form?: boolean } = {},
): Promise<Answer> {
  rememberSecrets(body, init.headers);
  const headers: Record<string, string> = {
    'content-type': init.form ? 'application/x-www-form-urlencoded' : 'application/json',
    ...init.headers,
  };
  const response = await fetch(url, {
    method: 'POST',
    headers,
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return answerOf(response);
}

export async function answerOf(response: Response): Promise<Answer> {
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON: the test sees the text.
  }
  return { status: response.status, headers: response.headers, body };
}

function rememberSecrets(body: unknown, headers: Record<string, string> = {}): void {
  const params: Record<string, unknown> =
    typeof body === 'string'
      ? Object.fromEntries(new URLSearchParams(body))
      : typeof body === 'object' && body
        ? (body as Record<string, unknown>)
        : {};
  for (const name of ['auth', 'CLIENT_ID']) {
    const value = params[name];
    if (typeof value === 'string' && value.length >= 6) secretsUsed.add(value);
  }
  const bearer = /^bearer\s+(\S{6,})/i.exec(headers.authorization ?? '');
  if (bearer) secretsUsed.add(bearer[1]!);
}
