// `npm run build` (`make build`): the gateway and the standalone emulator compiled to plain JavaScript in
// dist/ by esbuild (the sources bundled, node_modules left to `npm ci --omit=dev`), and the files the
// running gateway serves that come from development packages: Redoc's standalone bundle for /docs.
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
rmSync(dist, { recursive: true, force: true });

await build({
  absWorkingDir: root,
  entryPoints: ['src/main.ts', 'src/emulator/main.ts'],
  outbase: 'src',
  outdir: dist,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20.19',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
});

// Redoc is a devDependency: its one self-contained file is all /docs needs, so it ships in dist/.
mkdirSync(join(dist, 'docs'), { recursive: true });
copyFileSync(
  createRequire(import.meta.url).resolve('redoc/bundles/redoc.standalone.js'),
  join(dist, 'docs', 'redoc.standalone.js'),
);
