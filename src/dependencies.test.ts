// The Docker image runs the build (dist/, from `npm run build`) with production dependencies only (npm ci
// --omit=dev): every package the build imports must be one of them, and nothing of the development
// toolchain (tsx, esbuild) may be needed to run it.
import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const builds = ['dist/main.js', 'dist/emulator/main.js'];
const packageOf = (specifier: string) =>
  specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!;

describe('the build and its runtime dependencies', () => {
  it('exists: make build (npm run build) makes dist/', () => {
    for (const file of builds) expect(existsSync(join(root, file)), `${file} is missing: run make build`).toBe(true);
  });

  const imported = new Set(
    builds
      .filter((file) => existsSync(join(root, file)))
      .flatMap((file) =>
        [
          ...readFileSync(join(root, file), 'utf8').matchAll(
            /^\s*(?:import|export)\s(?:[^"']*?from\s+)?["']([^"'.][^"']*)["']/gm,
          ),
        ]
          .map((m) => m[1]!)
          .filter((specifier) => !specifier.startsWith('node:') && !builtinModules.includes(specifier))
          .map(packageOf),
      ),
  );

  it('are every package the build imports', () => {
    expect([...imported].sort()).toEqual(expect.arrayContaining(['hono', 'pino', 'undici', 'zod']));
    expect([...imported].filter((name) => !(name in manifest.dependencies))).toEqual([]);
  });

  it('leave the toolchain to development: tsx and esbuild are devDependencies, and the image runs node on dist/', () => {
    for (const tool of ['tsx', 'esbuild', 'typescript']) {
      expect(manifest.dependencies).not.toHaveProperty(tool);
      expect(manifest.devDependencies).toHaveProperty(tool);
    }
    const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^CMD \["node", "--enable-source-maps", "dist\/main\.js"\]$/m);
    expect(dockerfile).toContain('RUN npm run build');
    // What the build reads must be in its stage.
    for (const input of ['scripts', 'src', 'generated', 'tsconfig.json'])
      expect(dockerfile).toMatch(new RegExp(`^COPY ${input} `, 'm'));
    expect(dockerfile).not.toMatch(/tsx/);
  });
});
