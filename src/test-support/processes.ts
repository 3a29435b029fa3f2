// Gateways as real processes (the build, `node dist/main.js`, as production runs it), for the tests of
// several replicas: each configured by its environment only, stopped with SIGTERM or SIGKILL.
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface GatewayProcess {
  url: string;
  child: ChildProcess;
  /** Every line it logged. */
  lines: string[];
  stop(): Promise<void>;
}

const built = new URL('../../dist/main.js', import.meta.url).pathname;

export async function startGatewayProcess(env: Record<string, string>): Promise<GatewayProcess> {
  const child = spawn(process.execPath, [built], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line);
      if (line.includes('"Gateway listening')) resolve((JSON.parse(line) as { url: string }).url);
    });
    child.once('exit', (code) => reject(new Error(`the gateway exited ${code}: ${stderr}`)));
  });
  return {
    url,
    child,
    lines,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    },
  };
}
