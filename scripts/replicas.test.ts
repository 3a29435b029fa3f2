// `make replicas` as a user runs it: the script started in a process group of its own (a terminal's
// foreground job), its printed URLs called, then Ctrl-C (SIGINT to the group); every process it started
// must be gone, by pid, and every port closed. And a child that dies takes the rest down.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;
const KEY = 'demo-key-0123456789abcdef';

interface Run {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}
const runs: Run[] = [];

function startReplicas(): Run {
  const child = spawn(process.execPath, ['scripts/replicas.mjs'], {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, REPLICAS_PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const run = { child, output: () => output, exited };
  runs.push(run);
  return run;
}

/** The URLs it printed once every gateway was ready. */
async function ready(run: Run): Promise<{ gateways: string[]; redis: string; emulator: string }> {
  const deadline = Date.now() + 60_000;
  while (!/gateways ready[\s\S]*try: curl/.test(run.output())) {
    if (run.child.exitCode !== null || Date.now() > deadline) throw new Error(`not ready:\n${run.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const text = run.output();
  return {
    gateways: [...text.matchAll(/^ {2}gateway-\d {2}(http:\/\/\S+)$/gm)].map((m) => m[1]!),
    redis: /^ {2}redis {6}(redis:\/\/\S+)$/m.exec(text)![1]!,
    emulator: /^ {2}emulator {3}(http:\/\/\S+)/m.exec(text)![1]!,
  };
}

/** The pids whose parent is `pid` (Linux /proc). */
function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((name) => {
      try {
        // The command may hold spaces and parentheses: the fields after its closing one.
        const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function listening(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = createConnection(Number(port), hostname);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

afterEach(async () => {
  // Whatever a failed test left: the group, then anything it started.
  for (const run of runs.splice(0)) {
    const pids = run.child.pid ? childrenOf(run.child.pid) : [];
    if (run.child.exitCode === null) {
      try {
        process.kill(-run.child.pid!, 'SIGKILL');
      } catch {
        // Gone.
      }
    }
    for (const pid of pids) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // Gone.
      }
    }
  }
});

describe('make replicas', () => {
  it('is what the Makefile target runs, after the build and with redis-server installed', () => {
    const makefile = readFileSync(`${root}Makefile`, 'utf8');
    expect(makefile).toMatch(/^replicas: .*\bbuild\b.*\$\(REDIS_SERVER\).*\n\t@?node scripts\/replicas\.mjs$/m);
  });

  it('starts the emulator, a redis-server and three gateways sharing it, and Ctrl-C stops them all', async () => {
    const run = startReplicas();
    const { gateways, redis, emulator } = await ready(run);
    expect(gateways).toHaveLength(3);
    const pids = childrenOf(run.child.pid!);
    expect(pids, run.output()).toHaveLength(5);

    for (const url of gateways) {
      const response = await fetch(`${url}/rest/imopenlines.bot.session.transfer`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ CHAT_ID: 112, USER_ID: 12 }),
      });
      expect([url, response.status, (await response.json()).result]).toEqual([url, 200, true]);
      // A key is required, as compose.yaml configures them.
      const anonymous = await fetch(`${url}/rest/imopenlines.bot.session.transfer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ CHAT_ID: 112, USER_ID: 12 }),
      });
      expect(anonymous.status).toBe(401);
      const readiness = (await (await fetch(`${url}/readyz`)).json()) as { limiter: string };
      expect(readiness.limiter).toBe('shared');
    }

    // The README's curl, as written but for the port: its second replica.
    const block = /```sh\nmake replicas[^\n]*\n([\s\S]*?)```/.exec(
      readFileSync(`${root}docs/replicas.md`, 'utf8'),
    )?.[1];
    expect(block, "the README's make replicas block").toMatch(/http:\/\/127\.0\.0\.1:8081\//);
    const curl = spawnSync('bash', ['-c', block!.replaceAll('http://127.0.0.1:8081', gateways[1]!)], {
      encoding: 'utf8',
      timeout: 10_000,
    });
    expect(JSON.parse(curl.stdout)).toMatchObject({ result: true });

    // Ctrl-C in a terminal signals the foreground process group.
    process.kill(-run.child.pid!, 'SIGINT');
    expect(await run.exited).toBe(0);
    expect(run.output()).toMatch(/replicas: stopped\n$/);
    expect(pids.filter(alive), 'processes left running').toEqual([]);
    for (const url of [...gateways, redis.replace('redis:', 'http:'), emulator]) {
      expect(await listening(url), `${url} still listening`).toBe(false);
    }
  }, 90_000);

  it('stops everything, with a message, when one of its processes dies', async () => {
    const run = startReplicas();
    const { gateways } = await ready(run);
    const pids = childrenOf(run.child.pid!);
    const port = new URL(gateways[1]!).port;
    const victim = pids.find((pid) => readFileSync(`/proc/${pid}/environ`, 'utf8').includes(`\0PORT=${port}\0`));
    expect(victim, 'the second gateway').toBeDefined();
    process.kill(victim!, 'SIGKILL');
    expect(await run.exited).toBe(1);
    expect(run.output()).toMatch(/replicas: gateway-2 \(pid \d+\) exited on its own \(SIGKILL\); stopping the rest/);
    expect(pids.filter(alive), 'processes left running').toEqual([]);
  }, 90_000);
});
