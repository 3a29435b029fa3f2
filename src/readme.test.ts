// The README's "Try it" curl lines, run as written against a fresh gateway (with its emulator), each
// checked against the answer the README gives under it; its "Try it as an application" lines the same way,
// against a fresh gateway as `make start-application` starts it (EMULATOR_APPLICATION=true, its two emulated
// portals installed); and the snippet of docs/safe-retries.md, run by bash as a user pastes it (twice, as it
// says), with the real curl.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_MEMBER_IDS } from './emulator/cloud/demo';
import { type DemoProcess, installed, listening, startDemoProcess } from './emulator/cloud/demo-testing';
import { type Stack, startStack } from './test-support/stack';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

/** A section's shell blocks, their continued lines joined. */
function scriptOf(heading: string): string {
  const section = readme.split(`\n## ${heading}\n`)[1]!.split('\n## ')[0]!;
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)]
    .map((m) => m[1])
    .join('\n')
    .replace(/\\\n\s*/g, ' ');
}

interface Example {
  curl: string;
  status: number;
  expected: string;
}

const examplesOf = (script: string): Example[] =>
  [...script.matchAll(/^(curl .*)\n# → (\d{3}) (.*)$/gm)].map((m) => ({
    curl: m[1]!,
    status: Number(m[2]),
    expected: m[3]!,
  }));

const script = scriptOf('Try it');
const examples = examplesOf(script);
const applicationScript = scriptOf('Try it as an application');
const applicationExamples = examplesOf(applicationScript);

/** The words of a shell command line that uses single quotes only. */
function words(line: string): string[] {
  return [...line.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}

function toRequest(curl: string, base: string): { url: string; init: RequestInit } {
  const args = words(curl).slice(1);
  const init: RequestInit & { headers: Record<string, string> } = { headers: {} };
  let url = '';
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '-X') init.method = args[++i];
    else if (arg === '-H') {
      const [name, ...value] = args[++i]!.split(':');
      init.headers[name!.trim().toLowerCase()] = value.join(':').trim();
    } else if (arg === '-d') init.body = args[++i];
    else if (arg === '-w') {
      // The status, printed after the body: the test checks it.
      if (args[++i] !== '\\n%{http_code}\\n')
        throw new Error(`The README's curl lines print the status with -w '\\n%{http_code}\\n'`);
    } else if (arg === '-s') continue;
    else if (arg.startsWith('http://localhost:8080')) url = arg.replace('http://localhost:8080', base);
    else throw new Error(`The README test does not know the curl option ${arg}`);
  }
  return { url, init };
}

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());

describe('the README', () => {
  it('has curl examples, each with its answer', () => {
    expect(examples.length).toBeGreaterThanOrEqual(10);
    expect(script.match(/^curl /gm)).toHaveLength(examples.length);
  });

  it.each(examples)('$curl answers $status $expected', async ({ curl, status, expected }) => {
    const { url, init } = toRequest(curl, stack.gateway.url);
    const response = await fetch(url, init);
    const body = await response.json();
    expect(response.status).toBe(status);
    if (expected.startsWith('{')) expect(body).toMatchObject({ result: true, time: expect.any(Object) });
    else expect(body.error).toBe(expected);
  });
});

describe('the README, as an application', () => {
  let demo: DemoProcess;
  let url: string;
  beforeAll(async () => {
    // `make start-application`'s command, with nothing else set but a free port.
    demo = startDemoProcess({ EMULATOR_APPLICATION: 'true', PORT: '0' });
    url = await listening(demo);
    await installed(demo, DEMO_MEMBER_IDS);
  }, 90_000);
  afterAll(() => demo?.started.stop());

  it('has curl examples, each with its answer: the portals, and a transfer on each', () => {
    expect(applicationExamples.length).toBeGreaterThanOrEqual(3);
    expect(applicationScript.match(/^curl /gm)).toHaveLength(applicationExamples.length);
    for (const id of DEMO_MEMBER_IDS)
      expect(
        applicationExamples.some(({ curl, status }) => status === 200 && curl.includes(`/portals/${id}/rest/`)),
      ).toBe(true);
  });

  it.each(applicationExamples)('$curl answers $status $expected', async ({ curl, status, expected }) => {
    const { url: target, init } = toRequest(curl, url);
    const response = await fetch(target, { ...init, signal: AbortSignal.timeout(15_000) });
    const body = await response.json();
    expect(response.status, JSON.stringify(body)).toBe(status);
    if (expected.startsWith('{"portals"')) {
      // The portals the README names, in its order, each in the state it gives, at a loopback address.
      const named = [...expected.matchAll(/"member_id":"([^"]+)"/g)].map((m) => m[1]);
      expect(body.portals.map((portal: { member_id: string }) => portal.member_id)).toEqual(named);
      for (const portal of body.portals)
        expect(portal).toEqual({
          member_id: portal.member_id,
          domain: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
          state: 'ready',
        });
    } else if (expected.startsWith('{')) expect(body).toMatchObject({ result: true, time: expect.any(Object) });
    else expect(body.error).toBe(expected);
  });
});

describe("docs/safe-retries.md's snippet", () => {
  const section = readFileSync(new URL('../docs/safe-retries.md', import.meta.url), 'utf8');
  const block = /```sh\n([\s\S]*?)```/.exec(section)![1]!;

  it('makes its key without uuidgen, and shows the headers', () => {
    expect(block).not.toMatch(/uuidgen/);
    expect(block).toMatch(/^KEY=\$\(node -p 'crypto\.randomUUID\(\)'\)/m);
    expect(block).toMatch(/^curl -si /m);
    expect(block).toMatch(
      /^# the same curl again → the same answer, with the header Idempotent-Replayed: true, and no second message$/m,
    );
  });

  it('sends one message for two calls, the second answered from the first with Idempotent-Replayed: true', async () => {
    const pasted = block.replaceAll('http://127.0.0.1:8080', stack.gateway.url);
    // The block, then its curl once more: "the same curl again".
    const curl = pasted.slice(pasted.indexOf('curl '), pasted.indexOf('\n#'));
    const messages = () =>
      stack.emulator.received.filter((call) => call.path.endsWith('imopenlines.bot.session.message.send')).length;
    const before = messages();
    // Not spawnSync: the gateway answering curl runs in this very process.
    const run = await promisify(execFile)('bash', ['-euc', `${pasted}\necho; echo '--- again'\n${curl}`], {
      encoding: 'utf8',
      timeout: 15_000,
    });
    const [first, second] = run.stdout.split('\n--- again\n').map((answer) => {
      const [head, body] = answer.trim().split(/\r?\n\r?\n/);
      return { head: head!, body: JSON.parse(body!) };
    });
    expect(first!.head).toMatch(/^HTTP\/1\.1 200 OK\r?$/m);
    expect(first!.head).not.toMatch(/^idempotent-replayed:/im);
    expect(first!.body).toMatchObject({ result: true });
    expect(second!.head).toMatch(/^HTTP\/1\.1 200 OK\r?$/m);
    expect(second!.head).toMatch(/^idempotent-replayed: true\r?$/im);
    expect(second!.body).toEqual(first!.body);
    expect(messages() - before, 'messages sent to Bitrix24').toBe(1);
  });
});
