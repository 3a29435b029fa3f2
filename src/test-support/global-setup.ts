// vitest's globalSetup, for every config: marks this run (TEST_RUN_MARK, which every process the run's
// workers start inherits, and processes.ts passes on to those given an environment of their own), and at the
// end kills whatever still carries the mark and fails the run, naming it. The tests stop what they start;
// this is for the ones that did not (a failed test, a forgotten stop), so nothing outlives the run.
import { randomUUID } from 'node:crypto';
import { processesMarked } from './processes';

const MARK = 'TEST_RUN_MARK';

export function setup(): void {
  process.env[MARK] = randomUUID();
}

export async function teardown(): Promise<void> {
  const mark = process.env[MARK]!;
  // vitest's own workers carry the mark too, and may still be closing.
  const found = processesMarked(MARK, mark).filter(({ command }) => !command.includes('/node_modules/vitest/'));
  if (found.length === 0) return;
  for (const { pid } of found) signal(pid, 'SIGKILL');
  let alive = found;
  for (let i = 0; i < 50 && alive.length > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    alive = alive.filter(({ pid }) => signal(pid, 0));
  }
  const list = found.map(({ pid, command }) => `  ${pid} ${command}`).join('\n');
  // Thrown, vitest would print it and still exit 0.
  process.exitCode = 1;
  throw new Error(
    `${found.length} process(es) the tests started outlived them; killed now. A test stops what it starts (src/test-support/processes.ts):\n${list}`,
  );
}

function signal(pid: number, name: NodeJS.Signals | 0): boolean {
  try {
    process.kill(pid, name);
    return true;
  } catch {
    return false;
  }
}
