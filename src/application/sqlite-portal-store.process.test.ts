// kill -9 of a process whose portal store has just said a write is done: the write is there when the
// folder is opened again (SQLite's WAL, synchronous=FULL), and the pair stored is whole and opens.
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { openDataDir } from '../data-dir';
import { type StartedProcess, startProcess, temporaryDataDir, tsx } from '../test-support/processes';
import { SqlitePortalStore } from './sqlite-portal-store';
import { installed, MEMBER_ID, pair } from './sqlite-portal-store.child';
import { TokenVault } from './vault';

const child = fileURLToPath(new URL('./sqlite-portal-store.child.ts', import.meta.url));
const key = randomBytes(32);
const running: StartedProcess[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((started) => started.stop('SIGKILL')));
});

/**
 * Starts the child on `dir` and SIGKILLs it from the handler of the first stdout line `killOn` accepts (no
 * turn of the event loop between them); resolves with that line once the child is gone.
 */
async function killedAfter(mode: string, dir: string, killOn: (line: string) => boolean): Promise<string> {
  const [file, args] = tsx(child, mode, dir);
  const started = startProcess(file, args, {
    env: { ...process.env, PORTAL_STORE_KEY: key.toString('hex') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.push(started);
  let stderr = '';
  started.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  let killedOn: string | undefined;
  createInterface({ input: started.child.stdout! }).on('line', (line) => {
    if (killedOn === undefined && killOn(line)) {
      started.child.kill('SIGKILL');
      killedOn = line;
    }
  });
  const deadline = setTimeout(() => void started.stop('SIGKILL'), 20_000);
  const exit = await started.exited;
  clearTimeout(deadline);
  expect(killedOn, `the child never said so: ${JSON.stringify(exit)} ${stderr}`).toBeDefined();
  expect(exit.signal).toBe('SIGKILL');
  return killedOn!;
}

/** What the folder holds once opened again, by a new process's store. */
async function reopened(dir: string) {
  const dataDir = openDataDir(dir);
  try {
    return await new SqlitePortalStore({ dataDir, vault: new TokenVault([{ id: 'k', key }]) }).get(MEMBER_ID);
  } finally {
    dataDir.close();
  }
}

describe('kill -9 right after a write resolved', () => {
  it('keeps a put', async () => {
    const dir = temporaryDataDir();
    expect(await killedAfter('put', dir, (line) => line === 'put 0')).toBe('put 0');
    expect(await reopened(dir)).toEqual(installed());
  });

  it('keeps every refreshed pair it said was stored, whole', async () => {
    const dir = temporaryDataDir();
    const line = await killedAfter('replace', dir, (said) => said === 'replaced 25');
    const said = Number(line.split(' ')[1]);
    const stored = await reopened(dir);
    const n = Number(stored?.tokens.refreshToken.replace('refresh-', ''));
    // The child may have stored a few more before the signal reached it; never fewer than it said.
    expect(n).toBeGreaterThanOrEqual(said);
    expect(stored).toEqual({ ...installed(), tokens: pair(n), refreshedAt: stored?.refreshedAt });
    expect(stored?.refreshedAt).toEqual(expect.any(Number));
  });
});
