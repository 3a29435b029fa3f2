// The other-language consumers' run: starts the embedded Bitrix24 emulator and the real gateway (API keys
// required) on free loopback ports, waits until the gateway's /healthz answers, runs the Python and the Go
// consumer against it (each through the client generated from openapi/openapi.yaml), always stops the
// gateway, and exits 0 only when both consumers passed.
//
//   npx tsx consumers/run.ts [--only=python|go]
//
// `make consumers` installs the pinned generators, generates both clients, then runs this. The Python
// consumer runs with PYTHON (default: .venv-consumers/bin/python), the Go one with GO (default: go).
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startProcess } from '../src/test-support/processes';
import { type Stack, startStack } from '../src/test-support/stack';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const CHILD_TIMEOUT_MS = 300_000;

interface Consumer {
  name: string;
  language: 'python' | 'go';
  command: string;
  args: (url: string) => string[];
  cwd: string;
  /** A file that exists once the client is generated. */
  generated: string;
}

const python = process.env.PYTHON ?? path.join(root, '.venv-consumers', 'bin', 'python');
const go = process.env.GO ?? 'go';

const consumers: Consumer[] = [
  {
    name: 'python',
    language: 'python',
    command: python,
    args: (url) => [path.join(here, 'python', 'check.py'), '--url', url],
    cwd: path.join(here, 'python'),
    generated: path.join(here, 'python', '.generated', 'gateway_client', '__init__.py'),
  },
  // The README's example, as it is written there (GATEWAY_URL and GATEWAY_KEY from the environment).
  {
    name: 'python README example',
    language: 'python',
    command: python,
    args: () => [path.join(here, 'python', 'readme_example.py')],
    cwd: path.join(here, 'python'),
    generated: path.join(here, 'python', '.generated', 'gateway_client', '__init__.py'),
  },
  {
    name: 'go',
    language: 'go',
    command: go,
    args: (url) => ['run', '.', '-url', url],
    cwd: path.join(here, 'go'),
    generated: path.join(here, 'go', 'gateway', 'gateway.gen.go'),
  },
  {
    name: 'go README example',
    language: 'go',
    command: go,
    args: () => ['run', './example'],
    cwd: path.join(here, 'go'),
    generated: path.join(here, 'go', 'gateway', 'gateway.gen.go'),
  },
];

async function waitForHealth(url: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const response = await fetch(`${url}/healthz`);
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) throw new Error(`${url}/healthz did not answer 200 within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Runs one consumer, streaming its output line by line with its name in front; resolves to its exit code. */
function runConsumer(consumer: Consumer, url: string, apiKey: string): Promise<number> {
  return new Promise((resolve) => {
    // In a process group of its own: `go run` starts the binary it built, and a timeout stops both.
    const started = startProcess(consumer.command, consumer.args(url), {
      cwd: consumer.cwd,
      env: { ...process.env, GATEWAY_URL: url, GATEWAY_KEY: apiKey },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const { child } = started;
    const prefix = `[${consumer.name}] `;
    for (const stream of [child.stdout!, child.stderr!]) {
      let pending = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        const lines = (pending + chunk).split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) process.stdout.write(`${prefix}${line}\n`);
      });
      stream.on('end', () => pending && process.stdout.write(`${prefix}${pending}\n`));
    }
    const timer = setTimeout(() => {
      process.stdout.write(`${prefix}timed out after ${CHILD_TIMEOUT_MS / 1000} s\n`);
      void started.stop('SIGKILL');
    }, CHILD_TIMEOUT_MS);
    child.on('error', (error) => {
      clearTimeout(timer);
      process.stdout.write(`${prefix}could not start ${consumer.command}: ${error.message}\n`);
      resolve(127);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { only: { type: 'string' } } });
  const selected = consumers.filter((consumer) => !values.only || consumer.language === values.only);
  if (selected.length === 0) throw new Error(`--only must be python or go, not ${values.only}`);
  const missing = selected.filter((consumer) => !existsSync(consumer.generated));
  if (missing.length > 0) {
    for (const consumer of new Set(missing.map((c) => c.generated)))
      console.error(`A client is not generated (${path.relative(root, consumer)}).`);
    console.error('Run `make consumers`, which installs the generators and generates the clients first.');
    return 2;
  }

  const apiKey = randomBytes(24).toString('base64url');
  const stack: Stack = await startStack({
    config: { apiKeys: new Map([[apiKey, 'consumers']]), allowAnonymous: false },
  });
  const stop = () => void stack.close().finally(() => process.exit(130));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const url = stack.gateway.url;
    await waitForHealth(url);
    console.log(
      `Gateway with the embedded emulator at ${url} (API key required); running: ${selected.map((c) => c.name).join(', ')}`,
    );
    const codes = await Promise.all(selected.map((consumer) => runConsumer(consumer, url, apiKey)));
    const failed = selected.filter((_, index) => codes[index] !== 0);
    if (failed.length > 0) {
      console.error(`Consumers failed: ${failed.map((c) => c.name).join(', ')}. The gateway's last log lines:`);
      for (const line of stack.rawLogs.slice(-10)) console.error(`  ${line}`);
      return 1;
    }
    console.log(`Consumers passed: ${selected.map((c) => c.name).join(', ')}`);
    return 0;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await stack.close();
  }
}

process.exitCode = await main();
