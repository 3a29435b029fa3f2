// The contract harness's self-test: the contract run really fails against a gateway that breaks the
// contract, and passes against the real one with the very same settings. Every case is a whole
// Schemathesis run through run.ts (emulator + gateway + Schemathesis, no mocks). Needs the .venv:
// run it with `make contract` (npx vitest run --config contract-tests/vitest.config.ts).
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type StartedProcess, startProcess, tsx } from '../src/test-support/processes';
import { type BreakKind, breakKinds } from './break';
import { paths, root } from './run';

const reports = path.join(root, 'reports', 'contract', 'selftest');

// The same for every run here, so the control run shows the failures come from the breakage alone:
// a fixed seed, fewer examples than the full run (each break shows in the examples phase already), and
// a stop at the first failure.
const shared = ['--seed=20261121', '--max-examples=15', '--', '--max-failures', '1'];

interface Outcome {
  code: number | null;
  output: string;
  junit: string;
}

// A run a timed-out test leaves is stopped, with its Schemathesis and servers.
const running = new Set<StartedProcess>();
afterEach(async () => {
  await Promise.all([...running].map((run) => run.stop()));
});

async function contractRun(name: string, args: string[]): Promise<Outcome> {
  const reportDir = path.join(reports, name);
  rmSync(reportDir, { recursive: true, force: true });
  const run = startProcess(...tsx(path.join(root, 'contract-tests', 'run.ts'), `--report-dir=${reportDir}`, ...args), {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  let output = '';
  run.child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  run.child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  running.add(run);
  const { code, error } = await run.exited;
  running.delete(run);
  if (error) throw error;
  const junitPath = path.join(reportDir, 'junit.xml');
  return { code, output, junit: existsSync(junitPath) ? readFileSync(junitPath, 'utf8') : '' };
}

/** What Schemathesis reports for each breakage: the check that must catch it. */
const expectedFailure: Record<BreakKind, string> = {
  'undocumented-status': 'Undocumented status code', // status_code_conformance
  'undocumented-code': 'Response violates schema', // response_schema_conformance
  'server-error': 'Custom check failed: `server_error_only_for_its_test_value`',
  'refuse-valid': 'Custom check failed: `valid_data_refused_only_for_documented_reasons`',
  'ignored-auth': 'API accepts requests without authentication', // ignored_auth
};

describe('the contract run (contract-tests/run.ts)', () => {
  beforeAll(() => {
    expect(existsSync(paths.schemathesis), `${paths.schemathesis} is missing: run \`make venv\``).toBe(true);
  });

  it('passes against the real gateway, with the settings the broken runs below use', async () => {
    const { code, output, junit } = await contractRun('real', shared);
    expect(output).toContain('No issues found');
    expect(code, output).toBe(0);
    expect(junit).toContain('<testsuite');
    expect(junit).not.toContain('<failure');
  });

  it.each(Object.keys(breakKinds) as BreakKind[])(
    'fails against a gateway that breaks the contract: --break=%s',
    async (kind) => {
      const { code, output, junit } = await contractRun(kind, [`--break=${kind}`, ...shared]);
      expect(output).toContain(`BROKEN gateway (--break=${kind})`);
      expect(output).toContain(expectedFailure[kind]);
      expect(code, output).toBe(1);
      // The failure is in the JUnit report too, and the seed to reproduce it is printed.
      expect(junit).toContain('<failure');
      expect(output).toContain('seed=20261121; reproduce with: npx tsx contract-tests/run.ts --seed=20261121');
    },
  );
});
