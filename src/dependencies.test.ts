// The Docker image installs production dependencies only (npm ci --omit=dev): every package the
// running gateway imports must be one of them.
import { readFileSync, readdirSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;
const { dependencies } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };

function runtimeFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return path === 'src/test-support' ? [] : runtimeFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

const packageOf = (specifier: string) => (specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!);

describe('the runtime dependencies', () => {
  const files = [...runtimeFiles('src'), ...runtimeFiles('generated')];
  const imported = new Set(
    files.flatMap((file) =>
      [...readFileSync(join(root, file), 'utf8').matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+'([^'.][^']*)'/gm)]
        .map((m) => m[1]!)
        .filter((specifier) => !specifier.startsWith('node:') && !builtinModules.includes(specifier))
        .map(packageOf),
    ),
  );

  it('cover every package the gateway imports at run time', () => {
    expect(files.length).toBeGreaterThan(20);
    expect([...imported].filter((name) => !(name in dependencies))).toEqual([]);
  });

  it('include tsx, which runs the sources in the image', () => {
    expect(dependencies).toHaveProperty('tsx');
  });
});
