// The recipe users copy (README "Fuzz the gateway in your CI", examples/github-actions/fuzz.yml) runs the
// very command the stock run of `make test` runs, with the pinned Schemathesis.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runProcess, tsx } from '../src/test-support/processes';
import { root, schemathesisVersion } from './run';
import { stockCommand } from './stock';

// The recipes' page (docs/fuzzing.md, linked from the README).
const readme = readFileSync(path.join(root, 'docs/fuzzing.md'), 'utf8');
const workflow = parse(readFileSync(path.join(root, 'examples/github-actions/fuzz.yml'), 'utf8')) as {
  jobs: Record<string, { steps: { run?: string }[] }>;
};
const runs = Object.values(workflow.jobs).flatMap((job) =>
  job.steps.flatMap((step) => (step.run ? [step.run.trim()] : [])),
);
const shell = (args: string[]) => args.map((arg) => (arg.includes(' ') ? `"${arg}"` : arg)).join(' ');
const url = 'http://127.0.0.1:8080';

describe('the fuzzing recipe', () => {
  it('has the workflow run the stock command, with the key it started the gateway with', () => {
    expect(runs).toContain(`schemathesis ${shell(stockCommand(url, '$GATEWAY_KEY'))}`);
    expect(runs.join('\n')).toMatch(/GATEWAY_API_KEYS="ci:\$GATEWAY_KEY" PORT=8080 make start/);
  });

  it('installs the pinned Schemathesis, in the workflow and in the README', () => {
    expect(runs).toContain(`pip install schemathesis==${schemathesisVersion()}`);
    expect(readme).toContain(`pip install schemathesis==${schemathesisVersion()}`);
    expect(readme).toContain(`schemathesis/schemathesis:${schemathesisVersion()}`);
  });

  it('gives the README the same commands, without and with a key, and with Docker', () => {
    expect(readme).toContain(`schemathesis ${shell(stockCommand(url))}`);
    expect(readme).toContain(`schemathesis ${shell(stockCommand(url, '$GATEWAY_KEY'))}`);
    expect(readme).toContain(`schemathesis/schemathesis:${schemathesisVersion()} ${shell(stockCommand(url))}`);
  });

  it('has Schemathesis wait for the gateway it starts in the background (make start &)', () => {
    expect(stockCommand(url)).toEqual(expect.arrayContaining(['--wait-for-schema']));
    for (const recipe of [readme, runs.join('\n')]) {
      const starts = recipe.match(/make start[^\n]*&/g) ?? [];
      const fuzzes = recipe.match(/^schemathesis run .*$/gm) ?? [];
      expect(starts.length).toBeGreaterThan(0);
      for (const command of fuzzes) expect(command).toContain('--wait-for-schema');
    }
  });
});

describe('make contract-docker without a Docker engine', () => {
  const engine = spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 20_000 });
  // Machines with a running engine run the real thing instead; this one (and CI) has only the client.
  it.runIf(engine.status !== 0)('says so at once, and neither runs Schemathesis nor points at a report', async () => {
    const run = await runProcess(...tsx(path.join(root, 'contract-tests', 'run.ts'), '--docker'), {
      cwd: root,
      timeoutMs: 60_000,
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(
      /contract: (no Docker engine is running|the docker command is not installed); use make contract/,
    );
    expect(`${run.stdout}${run.stderr}`).not.toMatch(/JUnit|reproduce|seed=/);
  });
});
