// The rotation on real files, with a short poll: what is swapped in, when, and what the log says.
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { appendFile, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { apiKeysOfFile, readApiKeysFile } from '../config';
import { createLogger } from '../logger';
import { type KeyRotation, watchKeysFile } from '.';

const POLL_MS = 200;
const KEY_A = 'rotation-unit-key-a-0123456789';
const KEY_B = 'rotation-unit-key-b-0123456789';
const KEY_C = 'rotation-unit-key-c-0123456789';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const running: KeyRotation[] = [];
afterEach(() => {
  for (const rotation of running.splice(0)) rotation.stop();
});

async function start(content: string, current = apiKeysOfFile(content)) {
  const file = join(mkdtempSync(join(tmpdir(), 'gateway-rotation-')), 'keys');
  writeFileSync(file, content);
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      done();
    },
  });
  const sets: Map<string, string>[] = [];
  const env = { GATEWAY_API_KEYS_FILE: file };
  const rotation = watchKeysFile({
    file,
    current,
    read: () => readApiKeysFile(env),
    parse: apiKeysOfFile,
    replace: (keys) => sets.push(keys),
    logger: createLogger('info', sink),
    pollMs: POLL_MS,
  });
  running.push(rotation);
  // No pause here: the watch takes the file's first stat before it returns, so a change made at once is seen.
  const until = async (done: () => boolean, ms = 20 * POLL_MS) => {
    for (const started = Date.now(); !done(); await sleep(20))
      if (Date.now() - started > ms) throw new Error(`not within ${ms} ms: ${JSON.stringify(lines)}`);
  };
  return { file, lines, sets, rotation, until };
}

describe('watchKeysFile', () => {
  it('never swaps in a file truncated and written again with a pause beyond a poll: only the whole one', async () => {
    const { file, sets, until } = await start(`alpha:${KEY_A}\nbeta:${KEY_B}\n`);
    await truncate(file);
    await appendFile(file, `alpha:${KEY_A}\n`);
    await sleep(1.5 * POLL_MS);
    await appendFile(file, `beta:${KEY_B}\ngamma:${KEY_C}\n`);
    await until(() => sets.length > 0);
    await sleep(4 * POLL_MS);
    expect(sets.map((keys) => [...keys.values()])).toEqual([['alpha', 'beta', 'gamma']]);
  });

  it('takes a rename-based update, and says which teams a new set drops, naming no key', async () => {
    const { file, lines, sets, until } = await start(`alpha:${KEY_A}\nbeta:${KEY_B}\n`);
    writeFileSync(`${file}.new`, `beta:${KEY_B}\n`);
    renameSync(`${file}.new`, file);
    await until(() => sets.length === 1);
    const line = lines.find((l) => l.trigger === 'file changed');
    expect(line).toMatchObject({ level: 40, dropped: ['alpha'], teams: ['beta'] });
    expect(line?.msg).toMatch(/without team\(s\) the previous set had: alpha/);
    expect(JSON.stringify(lines)).not.toContain('rotation-unit-key');
  });

  it('keeps the set in force when the settled file is not usable, and says why once', async () => {
    const { file, lines, sets, until } = await start(`alpha:${KEY_A}\n`);
    writeFileSync(file, 'alpha:short\n');
    await until(() => lines.some((l) => l.msg === 'API keys not reloaded: the current ones stay'));
    await sleep(3 * POLL_MS);
    expect(sets).toHaveLength(0);
    expect(lines.filter((l) => l.msg === 'API keys not reloaded: the current ones stay')).toHaveLength(1);
  });

  it('on SIGHUP reads the file at once, without waiting for it to settle; the settling then changes nothing', async () => {
    const { file, lines, sets, rotation } = await start(`alpha:${KEY_A}\n`);
    writeFileSync(file, `alpha:${KEY_A}\nbeta:${KEY_B}\n`);
    rotation.reload('SIGHUP');
    expect(sets.map((keys) => [...keys.values()])).toEqual([['alpha', 'beta']]);
    expect(lines.at(-1)).toMatchObject({ trigger: 'SIGHUP', teams: ['alpha', 'beta'], msg: 'API keys reloaded' });
    await sleep(6 * POLL_MS);
    expect(sets).toHaveLength(1);
    rotation.reload('SIGHUP');
    expect(lines.at(-1)?.msg).toMatch(/unchanged/);
  });

  it('takes a change made before the watch began (between reading the configuration and watching)', async () => {
    const { sets, until } = await start(`beta:${KEY_B}\n`, apiKeysOfFile(`alpha:${KEY_A}\n`));
    await until(() => sets.length === 1);
    expect([...sets[0]!.values()]).toEqual(['beta']);
  });
});
