// What the run was on: CPUs, memory, kernel, Node, wrk, Prism, the load before it, and the commit
// measured (marked when src/, generated/ or openapi/ had uncommitted changes).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { root } from './settings';

export function machine(): Record<string, string> {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown';
  const memKb = Number(/^MemTotal:\s+(\d+)/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0);
  const commit = sh('git', ['rev-parse', '--short', 'HEAD']);
  const dirty = sh('git', ['status', '--porcelain', '--', 'src', 'generated', 'openapi', 'package.json'])
    ? ' (with uncommitted changes in src/, generated/ or openapi/)'
    : '';
  return {
    CPUs: `${sh('nproc', [])} (nproc), ${model}`,
    Memory: `${(memKb / 1024 / 1024).toFixed(1)} GiB`,
    Kernel: `${os.type()} ${os.release()}`,
    Node: process.version,
    wrk:
      sh('wrk', ['--version'])
        .split('\n')[0]
        ?.replace(/ Copyright.*/, '') ?? 'unknown',
    Prism: `@stoplight/prism-cli ${prismVersion()}`,
    'Load average before the run': os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(', '),
    Commit: `${commit}${dirty}`,
  };
}

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (error) {
    return ((error as { stdout?: string }).stdout ?? '').trim() || 'unknown';
  }
}

function prismVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(join(root, 'bench/node_modules/@stoplight/prism-cli/package.json'), 'utf8'));
    return pkg.version as string;
  } catch {
    return 'not installed';
  }
}
