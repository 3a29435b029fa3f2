// For tests of the demo (EMULATOR_APPLICATION=true): the gateway's entry started as `make start-application`
// starts it (`node --import tsx src/main.ts`, one process, signals reach it), its log lines kept, and the
// waits for its start line and its portals' installs, each with a deadline.
import { createInterface } from 'node:readline';
import { type Exit, type StartedProcess, startProcess, tsx } from '../../test-support/processes';

const entry = new URL('../../main.ts', import.meta.url).pathname;

export interface DemoProcess {
  started: StartedProcess;
  /** Every line it wrote to stdout. */
  lines: string[];
  /** What it wrote to stderr. */
  stderr(): string;
  /** Resolves with the first line (parsed) `match` accepts, once logged; rejects past `ms` or at its exit. */
  logged(match: (line: Record<string, unknown>) => boolean, ms?: number): Promise<Record<string, unknown>>;
}

/** `node --import tsx src/main.ts` with `env` (and PATH and HOME) as its whole environment. */
export function startDemoProcess(env: Record<string, string>): DemoProcess {
  const started = startProcess(...tsx(entry), {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let stderr = '';
  started.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  createInterface({ input: started.child.stdout! }).on('line', (line) => lines.push(line));
  let exit: Exit | undefined;
  void started.exited.then((exited) => (exit = exited));

  return {
    started,
    lines,
    stderr: () => stderr,
    async logged(match, ms = 60_000) {
      const deadline = Date.now() + ms;
      for (;;) {
        for (const line of lines) {
          const parsed = parse(line);
          if (parsed && match(parsed)) return parsed;
        }
        if (exit || Date.now() > deadline)
          throw new Error(
            `${exit ? `exited ${exit.code ?? exit.signal}` : `no such line within ${ms} ms`}:\n${lines.join('\n')}\n${stderr}`,
          );
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
  };
}

function parse(line: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** The start line's `url`: where the gateway listens. */
export async function listening(demo: DemoProcess): Promise<string> {
  const line = await demo.logged((l) => String(l.msg).startsWith('Gateway listening'));
  return line.url as string;
}

/** Waits for the install line of each member_id; resolves with the lines. */
export function installed(demo: DemoProcess, memberIds: readonly string[]): Promise<Record<string, unknown>[]> {
  return Promise.all(
    memberIds.map((id) =>
      demo.logged((l) => l.member_id === id && String(l.msg).startsWith(`Emulated portal ${id} installed`)),
    ),
  );
}
