// The standalone emulator's window of received calls, set by its environment (src/emulator/main.ts).
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runProcess, startProcess, tsx } from '../test-support/processes';

const entry = fileURLToPath(new URL('./main.ts', import.meta.url));
const env = (vars: Record<string, string>) => ({ PATH: process.env.PATH, EMULATOR_PORT: '0', ...vars });

describe('the standalone emulator', () => {
  it('keeps 1,000 calls and 16 MiB by default, or what EMULATOR_RECEIVED_MAX_* say, and says so first', async () => {
    for (const [vars, received] of [
      [{}, { maxCalls: 1_000, maxBytes: 16_777_216 }],
      [
        { EMULATOR_RECEIVED_MAX_CALLS: '20', EMULATOR_RECEIVED_MAX_BYTES: '65536' },
        { maxCalls: 20, maxBytes: 65_536 },
      ],
    ] as const) {
      const started = startProcess(...tsx(entry), { env: env(vars), stdio: ['ignore', 'pipe', 'inherit'] });
      try {
        const [line] = (await once(createInterface({ input: started.child.stdout! }), 'line')) as [string];
        expect((JSON.parse(line) as { received: unknown }).received).toEqual(received);
      } finally {
        await started.stop('SIGKILL');
      }
    }
  }, 30_000);

  it.each([
    ['EMULATOR_RECEIVED_MAX_CALLS', '0', 'a whole number of calls from 1 to 10000000'],
    ['EMULATOR_RECEIVED_MAX_CALLS', 'many', 'a whole number of calls from 1 to 10000000'],
    ['EMULATOR_RECEIVED_MAX_BYTES', '16MiB', 'a whole number of bytes from 1 to 4294967296'],
    ['EMULATOR_RECEIVED_MAX_BYTES', '4294967297', 'a whole number of bytes from 1 to 4294967296'],
  ])('stops on %s=%s with a message naming it', async (name, value, expected) => {
    const { code, stderr } = await runProcess(...tsx(entry), { env: env({ [name]: value }), timeoutMs: 10_000 });
    expect(code).toBe(2);
    expect(stderr).toContain(`${name}: must be ${expected}`);
  });
});
