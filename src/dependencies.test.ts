// The Docker image runs the build (dist/, from `npm run build`): esbuild bundles the gateway with its
// dependencies, and the image's last stage holds nothing else (no node_modules). So: whatever the bundles
// still import from outside must be a declared production dependency (there should be none), nothing of the
// development toolchain (tsx, esbuild) may be needed, and the bundle must run from a folder holding only what
// that stage copies: its routes, /docs and the spec, and the Redis client it loads only when REDIS_URL is set.
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { startProcess, temporaryDataDir } from './test-support/processes';
import { type RedisServer, startRedis } from './test-support/redis';

const root = new URL('..', import.meta.url).pathname;
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  type: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const entries = ['dist/main.js', 'dist/emulator/main.js'];
const packageOf = (specifier: string) =>
  specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!;
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');

/**
 * Packages a bundled dependency imports only inside a `try`, for a feature the gateway never uses (node-redis's
 * DIGEST helper): absent from the image, so that feature alone would fail.
 */
const optional = ['@node-rs/xxhash'];

/** Every .js file of dist/ the gateway runs (the entries and the chunks they load; not Redoc's browser file). */
function builtFiles(dir = join(root, 'dist')): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? entry.name === 'docs'
        ? []
        : builtFiles(join(dir, entry.name))
      : entry.name.endsWith('.js')
        ? [join(dir, entry.name)]
        : [],
  );
}

/** What a file loads by a bare name: static imports and re-exports, `import("…")` and `require("…")`. */
function externalsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const patterns = [
    /(?:^|[;}\s])(?:import|export)\s*(?:[^"';]*?from\s*)?["']([^"']+)["']/g,
    /\bimport\(\s*["']([^"']+)["']\s*\)/g,
    /\brequire\(\s*["']([^"']+)["']\s*\)/g,
  ];
  return patterns
    .flatMap((pattern) => [...text.matchAll(pattern)].map((m) => m[1]!))
    .filter((specifier) => !specifier.startsWith('.') && !specifier.startsWith('/'))
    .filter((specifier) => !specifier.startsWith('node:') && !builtinModules.includes(specifier))
    .map(packageOf);
}

/** The paths the image's last stage copies into /app (its COPY lines after the last FROM). */
function runtimeFiles(): string[] {
  const stage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
  return [...stage.matchAll(/^COPY (?:--\S+ )*(\S+) (\S+)$/gm)].map(([, from, to]) => {
    // `--from=build /app/dist ./dist`: what the build stage made; the rest comes from the checkout as it is.
    const source = from!.replace(/^\/app\//, '');
    const target = to === './' ? source : to!.replace(/^\.\//, '');
    expect(target, `${from} is copied to the same place`).toBe(source);
    return target;
  });
}

describe('the build and its runtime dependencies', () => {
  it('exists: make build (npm run build) makes dist/', () => {
    for (const file of entries) expect(existsSync(join(root, file)), `${file} is missing: run make build`).toBe(true);
  });

  it('bundles its dependencies: what the built files still load by name is declared (and is nothing)', () => {
    const files = builtFiles();
    expect(files.length).toBeGreaterThan(entries.length);
    const external = new Set(files.flatMap(externalsOf).filter((name) => !optional.includes(name)));
    expect([...external].filter((name) => !(name in manifest.dependencies))).toEqual([]);
    expect([...external]).toEqual([]);
    // The bundle holds them (a name from each: in dist/main.js or a chunk it shares), and ships their licences.
    const bundle = files.map((file) => readFileSync(file, 'utf8')).join('\n');
    expect(bundle).toContain('RegExpRouter');
    const licences = readFileSync(join(root, 'dist/THIRD-PARTY-LICENSES.txt'), 'utf8');
    for (const name of Object.keys(manifest.dependencies)) expect(licences).toMatch(new RegExp(`^${name}@`, 'm'));
  });

  it('leaves the Redis client out of the start: it is a chunk of its own, imported only with REDIS_URL', () => {
    const main = readFileSync(join(root, 'dist/main.js'), 'utf8');
    expect(main).not.toContain('@redis/client');
    const chunks = builtFiles(join(root, 'dist/chunks')).map((file) => readFileSync(file, 'utf8'));
    expect(chunks.some((text) => text.includes('RESP'))).toBe(true);
  });

  it('leave the toolchain to development: tsx and esbuild are devDependencies, and the image runs node on dist/', () => {
    for (const tool of ['tsx', 'esbuild', 'typescript']) {
      expect(manifest.dependencies).not.toHaveProperty(tool);
      expect(manifest.devDependencies).toHaveProperty(tool);
    }
    expect(dockerfile).toMatch(/^CMD \["node", "dist\/main\.js"\]$/m);
    expect(dockerfile).toContain('RUN npm run build');
    // What the build reads must be in its stage.
    for (const input of ['scripts', 'src', 'generated', 'tsconfig.json', 'openapi/openapi.yaml'])
      expect(dockerfile).toMatch(new RegExp(`^COPY ${input} `, 'm'));
    expect(dockerfile).not.toMatch(/tsx/);
    expect(dockerfile.slice(dockerfile.lastIndexOf('\nFROM ')), 'the last stage').not.toMatch(/^COPY .*node_modules/m);
    expect(runtimeFiles().sort()).toEqual(['dist', 'openapi/openapi.yaml', 'package.json']);
    expect(manifest.type).toBe('module');
  });

  it('carries one native module, better-sqlite3, compiled in the build stage from its source (never downloaded)', () => {
    const natives = (function walk(dir: string): string[] {
      return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
        entry.isDirectory()
          ? walk(join(dir, entry.name))
          : entry.name.endsWith('.node')
            ? [join(dir, entry.name).slice(root.length)]
            : [],
      );
    })(join(root, 'dist'));
    expect(natives).toEqual(['dist/native/better_sqlite3.node']);
    const build = dockerfile.slice(0, dockerfile.lastIndexOf('\nFROM '));
    expect(build).toMatch(/npm_config_build_from_source=true .*npm rebuild better-sqlite3/);
    expect(manifest.dependencies).toHaveProperty('better-sqlite3');
    expect((manifest as { allowScripts?: Record<string, boolean> }).allowScripts?.['better-sqlite3']).toBe(true);
  });
});

describe('the bundle, from a folder with only what the image holds', () => {
  const running: ChildProcess[] = [];
  const folders: string[] = [];
  let redis: RedisServer | undefined;
  afterAll(async () => {
    for (const child of running) if (child.exitCode === null) child.kill('SIGKILL');
    await Promise.all(running.map((child) => (child.exitCode === null ? once(child, 'exit') : undefined)));
    await redis?.stop();
    for (const folder of folders) rmSync(folder, { recursive: true, force: true });
  });

  function imageFolder(): string {
    const folder = mkdtempSync(join(tmpdir(), 'gateway-image-'));
    folders.push(folder);
    for (const path of runtimeFiles()) {
      mkdirSync(dirname(join(folder, path)), { recursive: true });
      cpSync(join(root, path), join(folder, path), { recursive: true });
    }
    return folder;
  }

  async function start(folder: string, env: Record<string, string>): Promise<string> {
    return (await started(folder, env)).url;
  }

  async function started(folder: string, env: Record<string, string>): Promise<{ url: string; pid: number }> {
    const child = startProcess(process.execPath, ['dist/main.js'], {
      cwd: folder,
      env: { PATH: process.env.PATH, PORT: '0', GATEWAY_DATA_DIR: temporaryDataDir(), ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    }).child;
    running.push(child);
    const lines = createInterface({ input: child.stdout! });
    for await (const line of lines) {
      const entry = JSON.parse(line) as { url?: string; msg?: string };
      if (entry.url && entry.msg?.startsWith('Gateway listening')) return { url: entry.url, pid: child.pid! };
    }
    throw new Error(`the bundle exited (${child.exitCode}) before it listened`);
  }

  it('serves transfers, /openapi.json, /openapi.yaml and /docs with its assets', async () => {
    const folder = imageFolder();
    expect(existsSync(join(folder, 'node_modules'))).toBe(false);
    const url = await start(folder, {});
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const transfer = await fetch(`${url}/rest/imopenlines.bot.session.transfer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ CHAT_ID: 112, USER_ID: 12 }),
    });
    expect([transfer.status, (await transfer.json()).result]).toEqual([200, true]);
    expect((await (await fetch(`${url}/openapi.json`)).json()).openapi).toBe('3.0.3');
    expect(await (await fetch(`${url}/openapi.yaml`)).text()).toMatch(/^openapi: 3\.0\.3$/m);
    const docs = await fetch(`${url}/docs`);
    expect([docs.status, await docs.text()]).toEqual([200, expect.stringContaining('redoc.standalone.js')]);
    const redoc = await fetch(`${url}/docs/redoc.standalone.js`);
    expect([redoc.status, (await redoc.arrayBuffer()).byteLength > 100_000]).toEqual([200, true]);
  });

  it('keeps idempotency keys in the data folder through the native module it carries', async () => {
    const { url, pid } = await started(imageFolder(), {});
    const keyed = () =>
      fetch(`${url}/rest/imopenlines.bot.session.transfer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': 'image-key' },
        body: JSON.stringify({ CHAT_ID: 112, USER_ID: 12 }),
      });
    expect((await keyed()).status).toBe(200);
    expect((await keyed()).headers.get('idempotent-replayed')).toBe('true');
    expect(readFileSync(`/proc/${pid}/maps`, 'utf8')).toContain('/dist/native/better_sqlite3.node');
  });

  it('loads the Redis client when REDIS_URL is set, and shares the limit through a real Redis', async () => {
    redis = await startRedis();
    const url = await start(imageFolder(), { REDIS_URL: redis.url, GATEWAY_REPLICAS: '1' });
    let limiter: string | undefined;
    for (let tries = 0; tries < 100 && limiter !== 'shared'; tries += 1) {
      limiter = ((await (await fetch(`${url}/readyz`)).json()) as { limiter: string }).limiter;
      if (limiter !== 'shared') await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(limiter).toBe('shared');
    // A gateway with Redis never loads SQLite's native module.
    const { pid } = await started(imageFolder(), { REDIS_URL: redis.url, GATEWAY_REPLICAS: '1' });
    expect(readFileSync(`/proc/${pid}/maps`, 'utf8')).not.toContain('better_sqlite3.node');
  });
});
