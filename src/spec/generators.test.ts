// Stock client generators the project does not otherwise use, run as a consumer runs them: against the
// document a running gateway serves (its /openapi.json URL), with no options. Each one's client is
// type-checked on a file of calls to all four methods, where every right body must compile and every wrong
// one must be an error on its own line, and on no other line: a generator whose types collapsed (to
// `unknown`, `Any`, …) lets a wrong body through, and the test names it.
//
// TypeScript: openapi-typescript with openapi-fetch, checked by the project's TypeScript. Python:
// openapi-python-client (consumers/python/requirements.txt, in .venv-consumers: `make unit` installs it),
// checked by pyright. Every tool is pinned: the npm ones in package.json, openapi-python-client in that file.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, startStack } from '../test-support/stack';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bin = (name: string) => path.join(root, 'node_modules', '.bin', name);
const venv = path.join(root, '.venv-consumers', 'bin');
const run = promisify(execFile);
// Each step takes seconds; the limits are for a loaded machine, not for a step that hangs.
const CHILD_TIMEOUT_MS = 90_000;

/** A line of calls: `right` must compile, `wrong` must be a type error (the reason says which). */
type Line = { right: string } | { wrong: string; why: string };

let stack: Stack;
let dir: string;

beforeAll(async () => {
  stack = await startStack();
  dir = mkdtempSync(path.join(tmpdir(), 'generators-'));
});

afterAll(async () => {
  await stack?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The file's text, and its wrong calls: the 0-based line of each, with why it is wrong. */
function source(header: string[], lines: Line[], indent: string): { text: string; wrong: Map<number, string> } {
  const body = lines.map((line) => indent + ('right' in line ? line.right : line.wrong));
  const wrong = new Map(
    lines.flatMap((line, index): [number, string][] => ('wrong' in line ? [[header.length + index, line.why]] : [])),
  );
  return { text: [...header, ...body, ''].join('\n'), wrong };
}

describe('openapi-typescript 7 with openapi-fetch, from a gateway’s /openapi.json', () => {
  const body = (method: string) => `Body<'/rest/imopenlines.bot.session.${method}'>`;
  const post = (method: string, value: string) =>
    `void client.POST('/rest/imopenlines.bot.session.${method}', { body: ${value} });`;
  const lines: Line[] = [
    { right: post('transfer', '{ CHAT_ID: 112, USER_ID: 12 }') },
    { right: post('transfer', "{ CHAT_ID: 112, QUEUE_ID: 3, LEAVE: 'Y' }") },
    { right: post('transfer', "{ CHAT_ID: 112, TRANSFER_ID: 'queue3' }") },
    { right: post('transfer.json', '{ CHAT_ID: 112, TRANSFER_ID: 12, USER_ID: 12 }') },
    { right: post('operator', '{ CHAT_ID: 112 }') },
    { right: post('message.send', "{ CHAT_ID: 112, NAME: 'DEFAULT', MESSAGE: 'Hello' }") },
    { right: post('message.send', "{ CHAT_ID: 112, NAME: 'WELCOME' }") },
    { right: post('finish', "{ CHAT_ID: 112, CLIENT_ID: 'my.bot' }") },
    { right: "const answer = await client.POST('/rest/imopenlines.bot.session.finish', { body: { CHAT_ID: 112 } });" },
    { right: 'const done: boolean | undefined = answer.data?.result;' },
    { right: 'const code: string | undefined = answer.error?.error;' },
    { right: 'void done, code;' },
    { wrong: post('transfer', "{ CHAT_ID: 'abc', leave: 'Y' }"), why: 'a string CHAT_ID, a lower-case key' },
    { wrong: post('transfer', '{ CHAT_ID: 112 }'), why: 'no destination' },
    { wrong: post('transfer', "{ CHAT_ID: 112, LEAVE: 'y' }"), why: 'no destination, LEAVE not Y or N' },
    { wrong: post('transfer', "{ CHAT_ID: 112, USER_ID: '12' }"), why: 'USER_ID a string' },
    { wrong: post('transfer', "{ CHAT_ID: 112, USER_ID: 12, LEAVE: 'y' }"), why: 'LEAVE not Y or N' },
    { wrong: post('operator', "{ CHAT_ID: '112' }"), why: 'CHAT_ID a string' },
    // openapi-fetch infers its `init` argument, so TypeScript checks no excess key of a literal there; a
    // body declared with the generated type has that check.
    { right: `const typed: ${body('transfer')} = { CHAT_ID: 112, USER_ID: 12 };` },
    { right: post('transfer', 'typed') },
    { wrong: `const extra: ${body('operator')} = { CHAT_ID: 112, USER_ID: 12 };`, why: "a transfer's parameter" },
    { wrong: `const lower: ${body('transfer')} = { CHAT_ID: 112, USER_ID: 12, leave: 'Y' };`, why: 'a lower-case key' },
    { wrong: `const none: ${body('transfer')} = { CHAT_ID: 112, LEAVE: 'Y' };`, why: 'no destination' },
    { right: 'void extra, lower, none;' },
    { wrong: post('message.send', "{ CHAT_ID: 112, NAME: 'DEFAULT' }"), why: 'DEFAULT without MESSAGE' },
    { wrong: post('message.send', "{ CHAT_ID: 112, NAME: 'OTHER' }"), why: 'NAME not an enum value' },
    { wrong: post('message.send', "{ CHAT_ID: 112, MESSAGE: 'Hello' }"), why: 'no NAME' },
    { wrong: post('finish', '{ CHAT_ID: 112, CLIENT_ID: 5 }'), why: 'CLIENT_ID a number' },
    { wrong: post('finish', '{}'), why: 'no CHAT_ID' },
  ];

  it('types all four methods: every right body compiles, every wrong one is an error on its line', async () => {
    const schema = path.join(dir, 'schema.d.ts');
    await run(bin('openapi-typescript'), [`${stack.gateway.url}/openapi.json`, '-o', schema], {
      timeout: CHILD_TIMEOUT_MS,
    });
    const header = [
      "import createClient from 'openapi-fetch';",
      "import type { paths } from './schema';",
      "const client = createClient<paths>({ baseUrl: 'http://gateway.invalid' });",
      // A method's JSON body, as a consumer names it (a `never` here would fail the right line that uses it).
      "type Body<P extends keyof paths> = paths[P] extends { post: { requestBody?: { content: { 'application/json': infer B } } } } ? B : never;",
      'export async function calls(): Promise<void> {',
    ];
    const { text, wrong } = source(header, lines, '  ');
    const file = path.join(dir, 'calls.ts');
    writeFileSync(file, `${text}}\n`);

    const program = ts.createProgram([file], {
      strict: true,
      noEmit: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
      types: [],
      skipLibCheck: true,
      // The temp folder has no node_modules: openapi-fetch is the project's own (pinned) copy.
      paths: { 'openapi-fetch': [path.join(root, 'node_modules', 'openapi-fetch')] },
    });
    const diagnostics = ts.getPreEmitDiagnostics(program);
    const errorLines = new Map<number, string>();
    for (const diagnostic of diagnostics) {
      const where = diagnostic.file && diagnostic.start !== undefined;
      const line = where ? diagnostic.file!.getLineAndCharacterOfPosition(diagnostic.start!).line : -1;
      errorLines.set(line, ts.flattenDiagnosticMessageText(diagnostic.messageText, ' '));
    }
    const lineOf = (index: number) => text.split('\n')[index]?.trim();
    const unexpected = [...errorLines].filter(([line]) => !wrong.has(line));
    expect(unexpected.map(([line, message]) => `${lineOf(line) ?? '(no file)'}: ${message}`)).toEqual([]);
    const missed = [...wrong].filter(([line]) => !errorLines.has(line));
    expect(missed.map(([line, why]) => `compiled, but is wrong (${why}): ${lineOf(line)}`)).toEqual([]);
  }, 120_000);
});

describe('openapi-python-client, from a gateway’s /openapi.json, checked by pyright', () => {
  const call = (module: string, body: string) => `${module}.sync(client=client, body=${body})`;
  const lines: Line[] = [
    { right: call('transfer_session', 'TransferRequest(chat_id=112, user_id=12)') },
    { right: call('transfer_session', 'TransferRequest(chat_id=112, transfer_id="queue3", leave=Leave.Y)') },
    { right: call('operator_session', 'OperatorRequest(chat_id=112)') },
    {
      right: call(
        'send_session_message',
        'MessageSendRequest(chat_id=112, name=MessageSendRequestNAME.DEFAULT, message="Hello")',
      ),
    },
    { right: call('send_session_message', 'MessageSendRequest(chat_id=112, name=MessageSendRequestNAME.WELCOME)') },
    { right: call('finish_session', 'FinishRequest(chat_id=112, client_id="my.bot")') },
    { right: 'answer = finish_session.sync(client=client, body=FinishRequest(chat_id=112))' },
    { right: 'done: bool | None = answer.result if isinstance(answer, FinishResult) else None' },
    { wrong: call('transfer_session', 'TransferRequest(chat_id="abc", user_id=12)'), why: 'a string chat_id' },
    { wrong: call('transfer_session', 'TransferRequest(chat_id=112, user_id="12")'), why: 'a string user_id' },
    { wrong: call('transfer_session', 'TransferRequest(chat_id=112, user_id=12, leave="Y")'), why: 'not a Leave' },
    { wrong: call('transfer_session', 'OperatorRequest(chat_id=112)'), why: "another method's body" },
    { wrong: call('operator_session', 'OperatorRequest(chat_id="112")'), why: 'a string chat_id' },
    { wrong: call('operator_session', 'OperatorRequest(chat_id=112, user_id=12)'), why: "a transfer's parameter" },
    {
      wrong: call('send_session_message', 'MessageSendRequest(chat_id=112, name="DEFAULT", message="x")'),
      why: 'a str, not the NAME enum',
    },
    { wrong: call('send_session_message', 'MessageSendRequest(chat_id=112, message="Hello")'), why: 'no name' },
    { wrong: call('finish_session', 'FinishRequest(chat_id=112, client_id=5)'), why: 'an int client_id' },
    { wrong: call('finish_session', 'FinishRequest()'), why: 'no chat_id' },
  ];

  it('types all four methods: every right call checks, every wrong one is an error on its line', async () => {
    const environment = { ...process.env, PATH: `${venv}${path.delimiter}${process.env.PATH ?? ''}` };
    await run(
      path.join(venv, 'openapi-python-client'),
      [
        'generate',
        '--url',
        `${stack.gateway.url}/openapi.json`,
        '--meta',
        'none',
        '--config',
        path.join(root, 'consumers', 'python', 'openapi-python-client.yaml'),
        '--output-path',
        path.join(dir, 'gateway_client'),
        '--fail-on-warning',
      ],
      { cwd: dir, env: environment, timeout: CHILD_TIMEOUT_MS },
    );
    const header = [
      'from gateway_client import Client',
      'from gateway_client.api.finish import finish_session',
      'from gateway_client.api.message import send_session_message',
      'from gateway_client.api.operator import operator_session',
      'from gateway_client.api.transfer import transfer_session',
      'from gateway_client.models import (',
      '    FinishRequest, FinishResult, Leave, MessageSendRequest, MessageSendRequestNAME, OperatorRequest,',
      '    TransferRequest,',
      ')',
      'client = Client(base_url="http://gateway.invalid")',
      'def calls() -> None:',
    ];
    const { text, wrong } = source(header, lines, '    ');
    const file = path.join(dir, 'calls.py');
    writeFileSync(file, text);

    // pyright exits 1 when it reports errors: its JSON says which.
    const { stdout } = await run(bin('pyright'), ['--outputjson', '--pythonpath', path.join(venv, 'python'), file], {
      cwd: dir,
      timeout: CHILD_TIMEOUT_MS,
    }).catch((failure: { stdout?: string }) => ({ stdout: failure.stdout ?? '' }));
    const report = JSON.parse(stdout) as {
      generalDiagnostics: { severity: string; message: string; range: { start: { line: number } } }[];
    };
    const errorLines = new Map(
      report.generalDiagnostics
        .filter((diagnostic) => diagnostic.severity === 'error')
        .map((diagnostic) => [diagnostic.range.start.line, diagnostic.message] as const),
    );
    const lineOf = (index: number) => text.split('\n')[index]?.trim();
    const unexpected = [...errorLines].filter(([line]) => !wrong.has(line));
    expect(unexpected.map(([line, message]) => `${lineOf(line)}: ${message}`)).toEqual([]);
    const missed = [...wrong].filter(([line]) => !errorLines.has(line));
    expect(missed.map(([line, why]) => `checked, but is wrong (${why}): ${lineOf(line)}`)).toEqual([]);
  }, 120_000);
});
