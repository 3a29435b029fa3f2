// compose.yaml (three replicas, Valkey, the emulator, a balancer) cannot run here (no Docker engine), so it is
// held to the code instead: its services, pinned images, and a gateway environment that the gateway's own
// configuration accepts, with the opt-in plain HTTP to the emulator needs.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { configurationVariables, loadConfig } from './config';
import { startRedis } from './test-support/redis';

const read = (path: string) => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');
interface Service {
  image?: string;
  build?: string;
  command?: string[];
  environment?: Record<string, string>;
  deploy?: { replicas?: number };
  profiles?: string[];
  ports?: string[];
  volumes?: string[];
}
const compose = parse(read('compose.yaml')) as { services: Record<string, Service>; volumes?: Record<string, unknown> };
const { valkey, emulator, gateway, balancer, 'gateway-alone': alone } = compose.services;
// The standalone emulator's variables (src/emulator/main.ts).
const emulatorVariables = [
  'EMULATOR_PORT',
  'EMULATOR_HOST',
  'EMULATOR_RATE_LIMIT_PER_SECOND',
  'EMULATOR_RATE_LIMIT_BURST',
];

describe('compose.yaml', () => {
  it('has Valkey, the emulator, three gateway replicas and a balancer on one port', () => {
    expect(Object.keys(compose.services).sort()).toEqual([
      'balancer',
      'emulator',
      'gateway',
      'gateway-alone',
      'valkey',
    ]);
    expect(gateway?.deploy?.replicas).toBe(3);
    expect(balancer?.ports).toEqual(['8080:8080']);
    expect(read('compose/nginx.conf')).toMatch(/server gateway:8080;/);
    expect(emulator?.command).toEqual(['node', 'dist/emulator/main.js']);
    expect(read('src/emulator/main.ts')).toContain(emulatorVariables[0]);
  });

  it('pins every image it pulls, and builds the gateway and the emulator from this repository', () => {
    for (const service of [valkey, balancer]) expect(service?.image).toMatch(/^[a-z/]+:\d[\w.-]*$/);
    expect([gateway?.build, emulator?.build, alone?.build]).toEqual(['.', '.', '.']);
  });

  it('runs Valkey as the promises need it: append-only persistence on a volume, noeviction, a maxmemory', () => {
    const command = valkey!.command!;
    const option = (name: string) => command[command.indexOf(name) + 1];
    expect(command[0]).toBe('valkey-server');
    expect(option('--appendonly')).toBe('yes');
    expect(option('--maxmemory-policy')).toBe('noeviction');
    expect(option('--maxmemory')).toMatch(/^\d+(mb|gb)$/);
    // The append-only file lives in /data, on a named volume: a new container keeps the keys.
    const [volume] = valkey!.volumes ?? [];
    expect(volume).toMatch(/^[a-z-]+:\/data$/);
    expect(Object.keys(compose.volumes ?? {})).toContain(volume!.split(':')[0]);
  });

  it('gives Valkey arguments a real server takes and reports back (Debian redis-server, the same options)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'compose-valkey-'));
    const server = await startRedis([...valkey!.command!.slice(1), '--dir', dir]);
    const client = createClient({ url: server.url });
    try {
      await client.connect();
      const config = await client.configGet('*');
      expect([config.appendonly, config['maxmemory-policy'], config.maxmemory]).toEqual([
        'yes',
        'noeviction',
        String(256 * 1024 * 1024),
      ]);
    } finally {
      await client.close();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives the gateway an environment its configuration accepts: shared through Valkey, GATEWAY_REPLICAS the replicas', () => {
    const environment = gateway!.environment!;
    expect(Object.keys(environment).filter((name) => !configurationVariables.includes(name))).toEqual([]);
    const config = loadConfig(environment);
    expect(config.redis).toMatchObject({ replicas: gateway!.deploy!.replicas, scope: 'shared' });
    expect(config.redis?.url.hostname).toBe('valkey');
    expect(config.upstream).toMatchObject({ mode: 'webhook' });
  });

  it('keeps the keys of a lone gateway in its data folder, on a volume of its own, behind a profile', () => {
    expect(alone?.profiles).toEqual(['alone']);
    const config = loadConfig({ ...alone!.environment!, GATEWAY_DATA_DIR: '/data' });
    expect([config.redis, config.dataDir]).toEqual([undefined, '/data']);
    expect(read('Dockerfile')).toMatch(/^ENV GATEWAY_DATA_DIR=\/data$/m);
    expect(read('Dockerfile')).toMatch(/^RUN mkdir -m 0700 \/data && chown node:node \/data$/m);
    const [volume] = alone!.volumes ?? [];
    expect(volume).toMatch(/^[a-z-]+:\/data$/);
    expect(Object.keys(compose.volumes ?? {})).toContain(volume!.split(':')[0]);
  });

  it('sets the opt-in for plain HTTP to the emulator, without which the gateway refuses to start', () => {
    const { BITRIX24_ALLOW_HTTP, ...withoutOptIn } = gateway!.environment!;
    expect(BITRIX24_ALLOW_HTTP).toBe('true');
    expect(new URL(withoutOptIn.BITRIX24_WEBHOOK_URL!).protocol).toBe('http:');
    expect(() => loadConfig(withoutOptIn)).toThrow(/BITRIX24_ALLOW_HTTP/);
  });

  it('gives the emulator only variables it reads, and makes it listen beyond loopback', () => {
    expect(Object.keys(emulator!.environment!).filter((name) => !emulatorVariables.includes(name))).toEqual([]);
    expect(emulator!.environment!.EMULATOR_HOST).toBe('0.0.0.0');
  });
});
