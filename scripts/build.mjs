// `npm run build` (`make build`): the gateway and the standalone emulator compiled to plain JavaScript in
// dist/ by esbuild (the sources bundled, node_modules left to `npm ci --omit=dev`), the files the running
// gateway serves that come from development packages (Redoc's standalone bundle for /docs), and the spec
// parsed to JSON (dist/openapi.json).
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { parse } from 'yaml';

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

// The spec, parsed once here rather than at every start (src/spec/index.ts reads it while the hash matches).
const yaml = readFileSync(join(root, 'openapi', 'openapi.yaml'), 'utf8');
const sha256 = createHash('sha256').update(yaml).digest('hex');
writeFileSync(join(dist, 'openapi.json'), JSON.stringify({ sha256, document: parse(yaml) }));
