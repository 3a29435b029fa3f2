// The keys file rotated under a running built gateway (`node dist/main.js`, as production runs it): a deploy
// script's slow rewrite in place never locks a caller out, a team dropped is logged, SIGHUP works at once.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { appendFile, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type GatewayProcess, startGatewayProcess } from '../test-support/processes';

const KEY_A = 'slow-rotation-key-a-0123456789';
const KEY_B = 'slow-rotation-key-b-0123456789';
const KEY_C = 'slow-rotation-key-c-0123456789';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
let gateway: GatewayProcess | undefined;
afterEach(async () => {
  await gateway?.stop();
  gateway = undefined;
});

/** An authenticated call that reaches no Bitrix24: 400 CHAT_ID_EMPTY with a known key, 401 without. */
async function statusWith(url: string, key: string): Promise<number> {
  const response = await fetch(`${url}/rest/imopenlines.bot.session.transfer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: '{}',
  });
  await response.arrayBuffer();
  return response.status;
}

/** The first line logged from `from` on that matches, waiting up to `ms` for it. */
async function lineMatching(
  lines: string[],
  match: (line: Record<string, unknown>) => boolean,
  { from = 0, ms = 20_000 } = {},
): Promise<Record<string, unknown>> {
  for (const started = Date.now(); Date.now() - started < ms; await sleep(50)) {
    const found = lines
      .slice(from)
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find(match);
    if (found) return found;
  }
  throw new Error(`no such line within ${ms} ms:\n${lines.join('\n')}`);
}

describe('GATEWAY_API_KEYS_FILE rewritten in place under a running gateway', () => {
  it('never swaps in the half-written file (no 401 for a key before and after), logs the team dropped, and takes SIGHUP at once', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'gateway-slow-keys-')), 'keys');
    writeFileSync(file, `alpha:${KEY_A}\nbeta:${KEY_B}\ngamma:${KEY_C}\n`);
    gateway = await startGatewayProcess({ GATEWAY_API_KEYS_FILE: file, LOG_LEVEL: 'info' });
    const { url, lines, child } = gateway;
    expect(await statusWith(url, KEY_C)).toBe(400);

    // Valid calls all along, with the keys the file holds before and after the rewrite.
    const statuses: number[] = [];
    let calling = true;
    const calls = (async () => {
      while (calling) {
        statuses.push(await statusWith(url, KEY_A), await statusWith(url, KEY_C));
        await sleep(50);
      }
    })();
    try {
      // A deploy script: truncate, write half (a file that parses, with alpha alone), pause beyond a poll
      // (the watch's is 2 s), write the rest (beta goes, gamma stays).
      await truncate(file);
      await appendFile(file, `alpha:${KEY_A}\n`);
      await sleep(3_000);
      await appendFile(file, `gamma:${KEY_C}\n`);
      const reloaded = await lineMatching(
        lines,
        (line) => line.trigger === 'file changed' && String(line.msg).startsWith('API keys reloaded'),
      );
      expect(reloaded).toMatchObject({ teams: ['alpha', 'gamma'], dropped: ['beta'], level: 40 });
      expect(reloaded.msg).toMatch(/without team\(s\) the previous set had: beta/);
      await sleep(500);
    } finally {
      calling = false;
      await calls;
    }
    expect(statuses.length).toBeGreaterThan(20);
    expect(statuses.filter((status) => status !== 400)).toEqual([]);
    expect(await statusWith(url, KEY_B)).toBe(401);
    // The half-written set was never in force: no line of it.
    expect(lines.filter((line) => line.includes('"teams":["alpha"]'))).toEqual([]);

    // SIGHUP: the operator says the file is complete, and it is taken at once, without the settling wait.
    writeFileSync(file, `alpha:${KEY_A}\nbeta:${KEY_B}\ngamma:${KEY_C}\n`);
    const before = lines.length;
    child.kill('SIGHUP');
    const sighup = await lineMatching(lines, (line) => line.trigger === 'SIGHUP', { from: before, ms: 1_500 });
    expect(sighup).toMatchObject({ msg: 'API keys reloaded', teams: ['alpha', 'beta', 'gamma'] });
    expect(await statusWith(url, KEY_B)).toBe(400);
    expect(lines.join('\n')).not.toMatch(/slow-rotation-key/);
  }, 40_000);
});
