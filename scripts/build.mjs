// `npm run build` (`make build`): the gateway and the standalone emulator compiled to plain JavaScript in
// dist/ by esbuild, each one file with its dependencies bundled (one file to read and compile at start
// instead of resolving and linking some 440 files of node_modules: the start takes a third of the time),
// the files the running gateway serves that come from development packages (Redoc's standalone bundle for
// /docs), the spec parsed to JSON (dist/openapi.json) and the bundled packages' licences.
// The Redis client is in the bundle too, behind a dynamic import (src/server/index.ts): code splitting puts
// it in a chunk of its own, read only when REDIS_URL is set.
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { parse } from 'yaml';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
rmSync(dist, { recursive: true, force: true });

const common = {
  absWorkingDir: root,
  outbase: 'src',
  outdir: dist,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20.19',
  // Bundled CommonJS packages (pino, prom-client, …) `require` Node's own modules: an ES module has no
  // `require`, so each file gets one.
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
  sourcemap: true,
  metafile: true,
  logLevel: 'warning',
  minifyWhitespace: true,
  minifySyntax: true,
};
// Two builds, so that the chunks the gateway's splitting makes are its own (the emulator shares code with it).
const gateway = await build({
  ...common,
  entryPoints: ['src/main.ts'],
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
});
const emulator = await build({ ...common, entryPoints: ['src/emulator/main.ts'] });

// Redoc is a devDependency: its one self-contained file is all /docs needs, so it ships in dist/.
mkdirSync(join(dist, 'docs'), { recursive: true });
copyFileSync(
  createRequire(import.meta.url).resolve('redoc/bundles/redoc.standalone.js'),
  join(dist, 'docs', 'redoc.standalone.js'),
);

// better-sqlite3's native module (the data folder's database), built by `npm ci` for this Node: the bundle
// holds its JavaScript, and src/data-dir loads the module from dist/native/ (the image has no node_modules).
mkdirSync(join(dist, 'native'), { recursive: true });
copyFileSync(
  join(
    dirname(createRequire(import.meta.url).resolve('better-sqlite3/package.json')),
    'build/Release/better_sqlite3.node',
  ),
  join(dist, 'native', 'better_sqlite3.node'),
);

// The spec, parsed once here rather than at every start (src/spec/index.ts reads it while the hash matches).
const yaml = readFileSync(join(root, 'openapi', 'openapi.yaml'), 'utf8');
const sha256 = createHash('sha256').update(yaml).digest('hex');
writeFileSync(join(dist, 'openapi.json'), JSON.stringify({ sha256, document: parse(yaml) }));

// The licences of what the bundles hold (node_modules no longer ships beside them), and Redoc's.
const packages = new Set(['redoc']);
for (const { metafile } of [gateway, emulator])
  for (const input of Object.keys(metafile.inputs)) {
    const match = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (match) packages.add(match[1]);
  }
const licences = [...packages].sort().map((name) => {
  const dir = join(root, 'node_modules', name);
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const file = existsSync(dir)
    ? readdirSync(dir).find((entry) => /^(licen[cs]e|copying)(\.|$)/i.test(entry))
    : undefined;
  const text = file ? readFileSync(join(dir, file), 'utf8').trim() : `License: ${manifest.license ?? 'unknown'}`;
  return `${name}@${manifest.version} (${manifest.license ?? 'unknown'})\n\n${text}\n`;
});
writeFileSync(join(dist, 'THIRD-PARTY-LICENSES.txt'), licences.join(`\n${'-'.repeat(78)}\n\n`));
