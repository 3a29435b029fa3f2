// The spec the build writes as JSON (dist/openapi.json), which a built gateway reads instead of parsing the
// YAML at every start: used only while it was built from the YAML as it is.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadSpec, packageRoot, specYaml, yamlHash } from '.';

const folder = mkdtempSync(join(tmpdir(), 'built-spec-'));
const write = (content: unknown) => {
  const path = join(folder, `${Math.random()}.json`);
  writeFileSync(path, JSON.stringify(content));
  return path;
};
const marker = { openapi: 'from the JSON' };

describe('loadSpec', () => {
  it("reads the built JSON when it carries the YAML's hash", () => {
    expect(loadSpec(specYaml, write({ sha256: yamlHash(specYaml), document: marker }))).toEqual(marker);
  });

  it('parses the YAML when the JSON was built from another one, or is missing', () => {
    const parsed = parse(specYaml);
    expect(loadSpec(specYaml, write({ sha256: yamlHash(`${specYaml} `), document: marker }))).toEqual(parsed);
    expect(loadSpec(specYaml, join(folder, 'none.json'))).toEqual(parsed);
  });

  it('dist/openapi.json (make unit builds first) is the current YAML, parsed', () => {
    const built = JSON.parse(readFileSync(join(packageRoot(), 'dist', 'openapi.json'), 'utf8'));
    expect(built.sha256).toBe(yamlHash(specYaml));
    expect(built.document).toEqual(parse(specYaml));
  });
});
