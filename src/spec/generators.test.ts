// Stock client generators the project does not otherwise use, run as a consumer runs them: against the
// document a running gateway serves (its /openapi.json URL), with no options. Each one's client is
// type-checked on a file of calls to all four methods, where every right body must compile and every wrong
// one must be an error on its own line, and on no other line: a generator whose types collapsed (to
// `unknown`, `Any`, …) lets a wrong body through, and the test names it. Each generator runs twice: on the
// document of a gateway in front of one portal (the embedded emulator), and on that of the built gateway in
// application mode, whose paths name a portal (`/portals/{portal}/rest/…`, bodies without `auth` or
// `CLIENT_ID`) beside `GET /portals` and Bitrix24's events (`POST /bitrix24/events`, a form).
//
// TypeScript: openapi-typescript with openapi-fetch, checked by the project's TypeScript. Python:
// openapi-python-client (consumers/python/requirements.txt, in .venv-consumers: `make unit` installs it),
// checked by pyright. Every tool is pinned: the npm ones in package.json, openapi-python-client in that file.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApplicationGateway, startApplicationGateway } from '../test-support/application';
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
let application: ApplicationGateway;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'generators-'));
  [stack, application] = await Promise.all([startStack(), startApplicationGateway({ portals: 1 })]);
}, 60_000);

afterAll(async () => {
  await Promise.all([stack?.close(), application?.stop()]);
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

/** What a check found: errors on right lines, and wrong lines that compiled. Both must be empty. */
interface Check {
  unexpected: string[];
  missed: string[];
}

/** Compares the lines a checker reported errors on with the file's wrong lines. */
function judged(text: string, wrong: Map<number, string>, errorLines: Map<number, string>): Check {
  const lineOf = (index: number) => text.split('\n')[index]?.trim();
  return {
    unexpected: [...errorLines]
      .filter(([line]) => !wrong.has(line))
      .map(([line, message]) => `${lineOf(line) ?? '(no file)'}: ${message}`),
    missed: [...wrong]
      .filter(([line]) => !errorLines.has(line))
      .map(([line, why]) => `accepted, but is wrong (${why}): ${lineOf(line)}`),
  };
}

/**
 * openapi-typescript on the document at `url` (into a folder of its own, `name`), then a file of `lines`
 * inside a function, after the client and `types` (type aliases the lines use), checked by TypeScript.
 */
async function typeScriptCheck(url: string, name: string, lines: Line[], types: string[] = []): Promise<Check> {
  const folder = path.join(dir, name);
  mkdirSync(folder, { recursive: true });
  await run(bin('openapi-typescript'), [url, '-o', path.join(folder, 'schema.d.ts')], { timeout: CHILD_TIMEOUT_MS });
  const header = [
    "import createClient from 'openapi-fetch';",
    "import type { paths } from './schema';",
    "const client = createClient<paths>({ baseUrl: 'http://gateway.invalid' });",
    // A method's JSON body, as a consumer names it (a `never` here would fail the right line that uses it).
    "type Body<P extends keyof paths> = paths[P] extends { post: { requestBody?: { content: { 'application/json': infer B } } } } ? B : never;",
    ...types,
    'export async function calls(): Promise<void> {',
  ];
  const { text, wrong } = source(header, lines, '  ');
  const file = path.join(folder, 'calls.ts');
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
  const errorLines = new Map<number, string>();
  for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
    const where = diagnostic.file && diagnostic.start !== undefined;
    const line = where ? diagnostic.file!.getLineAndCharacterOfPosition(diagnostic.start!).line : -1;
    errorLines.set(line, ts.flattenDiagnosticMessageText(diagnostic.messageText, ' '));
  }
  return judged(text, wrong, errorLines);
}

/**
 * openapi-python-client on the document at `url` (the package `gateway_client`, in a folder of its own,
 * `name`), then a file of `header` and `lines` (indented into the header's last `def`), checked by pyright.
 */
async function pythonCheck(url: string, name: string, header: string[], lines: Line[]): Promise<Check> {
  const folder = path.join(dir, name);
  mkdirSync(folder, { recursive: true });
  const environment = { ...process.env, PATH: `${venv}${path.delimiter}${process.env.PATH ?? ''}` };
  await run(
    path.join(venv, 'openapi-python-client'),
    [
      'generate',
      '--url',
      url,
      '--meta',
      'none',
      '--config',
      path.join(root, 'consumers', 'python', 'openapi-python-client.yaml'),
      '--output-path',
      path.join(folder, 'gateway_client'),
      '--fail-on-warning',
    ],
    { cwd: folder, env: environment, timeout: CHILD_TIMEOUT_MS },
  );
  const { text, wrong } = source(header, lines, '    ');
  const file = path.join(folder, 'calls.py');
  writeFileSync(file, text);

  // pyright exits 1 when it reports errors: its JSON says which.
  const { stdout } = await run(bin('pyright'), ['--outputjson', '--pythonpath', path.join(venv, 'python'), file], {
    cwd: folder,
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
  return judged(text, wrong, errorLines);
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
    const { unexpected, missed } = await typeScriptCheck(`${stack.gateway.url}/openapi.json`, 'webhook', lines);
    expect(unexpected).toEqual([]);
    expect(missed).toEqual([]);
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
    const { unexpected, missed } = await pythonCheck(`${stack.gateway.url}/openapi.json`, 'webhook', header, lines);
    expect(unexpected).toEqual([]);
    expect(missed).toEqual([]);
  }, 120_000);
});

// Application mode: a portal by member_id (or address) in the path, the body without `auth` and CLIENT_ID.
const MEMBER_ID = '0d3b7ad4c3f44fa9b7e2c9e5d7f1a2b3';

describe('openapi-typescript 7 with openapi-fetch, from an application-mode gateway’s /openapi.json', () => {
  const onPortal = (method: string) => `/portals/{portal}/rest/imopenlines.bot.session.${method}`;
  const post = (method: string, init: string) => `void client.POST('${onPortal(method)}', ${init});`;
  const at = (portal: string, body: string) => `{ params: { path: { portal: ${portal} } }, body: ${body} }`;
  const portal = `'${MEMBER_ID}'`;
  const lines: Line[] = [
    { right: post('transfer', at(portal, '{ CHAT_ID: 112, USER_ID: 12 }')) },
    { right: post('transfer', at("'example.bitrix24.com'", "{ CHAT_ID: 112, QUEUE_ID: 3, LEAVE: 'Y' }")) },
    { right: post('operator', at(portal, '{ CHAT_ID: 112 }')) },
    { right: post('message.send', at(portal, "{ CHAT_ID: 112, NAME: 'DEFAULT', MESSAGE: 'Hello' }")) },
    { right: post('finish', at(portal, '{ CHAT_ID: 112 }')) },
    { right: `const typed: Body<'${onPortal('transfer')}'> = { CHAT_ID: 112, TRANSFER_ID: 'queue3' };` },
    { right: post('transfer', at(portal, 'typed')) },
    { right: "const listed = await client.GET('/portals');" },
    { right: 'const ids: string[] = listed.data?.portals.map((each) => each.member_id) ?? [];' },
    {
      right:
        "const state: 'installing' | 'ready' | 'bot-failed' | 'needs-reinstall' | undefined = listed.data?.portals[0]?.state;",
    },
    { right: 'const refused: string | undefined = listed.error?.error;' },
    { right: 'void ids, state, refused;' },
    {
      right:
        "const install: Event = { event: 'ONAPPINSTALL', auth: { member_id: 'a1b2', application_token: 'token', refresh_token: 'refresh' } };",
    },
    {
      right:
        "const uninstall: Event = { event: 'ONAPPUNINSTALL', data: { CLEAN: '0' }, auth: { member_id: 'a1b2', application_token: 'token' } };",
    },
    { right: "void client.POST('/bitrix24/events', { body: install });" },
    { right: "const applied = await client.POST('/bitrix24/events', { body: uninstall });" },
    { right: 'const after: string | undefined = applied.data?.state;' },
    { right: 'void after;' },
    { wrong: post('transfer', '{ body: { CHAT_ID: 112, USER_ID: 12 } }'), why: 'no portal' },
    { wrong: post('transfer', at('112', '{ CHAT_ID: 112, USER_ID: 12 }')), why: 'the portal a number' },
    { wrong: post('transfer', at(portal, "{ CHAT_ID: '112', USER_ID: 12 }")), why: 'a string CHAT_ID' },
    { wrong: post('transfer', at(portal, '{ CHAT_ID: 112 }')), why: 'no destination' },
    {
      wrong: `const withAuth: Body<'${onPortal('transfer')}'> = { CHAT_ID: 112, USER_ID: 12, auth: 'x'.repeat(32) };`,
      why: 'auth, which the gateway adds',
    },
    {
      wrong: `const withClient: Body<'${onPortal('finish')}'> = { CHAT_ID: 112, CLIENT_ID: 'my.bot' };`,
      why: 'CLIENT_ID, which application mode has not',
    },
    { right: 'void withAuth, withClient;' },
    {
      wrong: "void client.POST('/rest/imopenlines.bot.session.transfer', { body: { CHAT_ID: 112, USER_ID: 12 } });",
      why: 'a path application mode does not serve',
    },
    { wrong: 'const count: number | undefined = listed.data?.portals[0]?.member_id;', why: 'member_id is text' },
    {
      wrong:
        "const noMember: Event = { event: 'ONAPPINSTALL', auth: { application_token: 'token', refresh_token: 'r' } };",
      why: 'no member_id',
    },
    {
      wrong:
        "const unknown: Event = { event: 'ONAPPDELETE', auth: { member_id: 'a1b2', application_token: 'token' } };",
      why: 'not an event of the application',
    },
    {
      wrong:
        "const numeric: Event = { event: 'ONAPPUPDATE', ts: 1700000000, auth: { member_id: 'a1b2', application_token: 'token' } };",
      why: 'ts a number (every value of the form is text)',
    },
    { right: 'void noMember, unknown, numeric;' },
  ];

  it('types the portal paths, the portals and the events: every right call compiles, every wrong one is an error on its line', async () => {
    const { unexpected, missed } = await typeScriptCheck(
      `${application.gateway.url}/openapi.json`,
      'application',
      lines,
      [
        "type Event = paths['/bitrix24/events']['post']['requestBody']['content']['application/x-www-form-urlencoded'];",
      ],
    );
    expect(unexpected).toEqual([]);
    expect(missed).toEqual([]);
  }, 120_000);
});

describe('openapi-python-client, from an application-mode gateway’s /openapi.json, checked by pyright', () => {
  const transfer = (args: string) => `transfer_session_on_portal.sync(${args})`;
  const event = (auth: string, name = 'Bitrix24EventEvent.ONAPPINSTALL') =>
    `Bitrix24Event(event=${name}, auth=Bitrix24EventAuth(${auth}))`;
  const lines: Line[] = [
    { right: transfer(`"${MEMBER_ID}", client=client, body=TransferRequest(chat_id=112, user_id=12)`) },
    { right: transfer('portal="example.bitrix24.com", client=client, body=TransferRequest(chat_id=112, queue_id=3)') },
    { right: `finish_session_on_portal.sync("${MEMBER_ID}", client=client, body=FinishRequest(chat_id=112))` },
    { right: 'listed = list_portals.sync(client=client)' },
    { right: 'ids: list[str] = [each.member_id for each in listed.portals] if isinstance(listed, PortalList) else []' },
    {
      right:
        'ready: bool = isinstance(listed, PortalList) and all(each.state == InstalledPortalState.READY for each in listed.portals)',
    },
    { right: `install = ${event('member_id="a1b2", application_token="token", refresh_token="refresh"')}` },
    { right: 'applied = receive_bitrix_24_event.sync(client=client, body=install)' },
    { right: 'print(ids, ready, applied)' },
    { wrong: transfer('client=client, body=TransferRequest(chat_id=112, user_id=12)'), why: 'no portal' },
    { wrong: transfer('112, client=client, body=TransferRequest(chat_id=112, user_id=12)'), why: 'the portal an int' },
    {
      wrong: transfer(`"${MEMBER_ID}", client=client, body=TransferRequest(chat_id="112", user_id=12)`),
      why: 'a string chat_id',
    },
    {
      wrong: transfer(`"${MEMBER_ID}", client=client, body=TransferRequest(chat_id=112, user_id=12, auth="x")`),
      why: 'auth, which the gateway adds',
    },
    {
      wrong: `finish_session_on_portal.sync("${MEMBER_ID}", client=client, body=FinishRequest(chat_id=112, client_id="my.bot"))`,
      why: 'client_id, which application mode has not',
    },
    {
      wrong: 'from gateway_client.api.transfer import transfer_session',
      why: 'a path application mode does not serve',
    },
    { wrong: 'list_portals.sync(client=client, portal="x")', why: 'GET /portals takes no portal' },
    {
      wrong: 'first: int = listed.portals[0].member_id if isinstance(listed, PortalList) else 0',
      why: 'member_id is text',
    },
    { wrong: event('application_token="token", refresh_token="refresh"'), why: 'no member_id' },
    { wrong: event('member_id="a1b2", application_token="token"', '"ONAPPINSTALL"'), why: 'a str, not the event enum' },
    { wrong: event('member_id="a1b2", application_token=5'), why: 'an int application_token' },
    { wrong: 'receive_bitrix_24_event.sync(client=client, body=TransferRequest(chat_id=112))', why: 'not an event' },
  ];

  it('types the portal paths, the portals and the events: every right call checks, every wrong one is an error on its line', async () => {
    const header = [
      'from gateway_client import AuthenticatedClient',
      'from gateway_client.api.application import list_portals, receive_bitrix_24_event',
      'from gateway_client.api.finish import finish_session_on_portal',
      'from gateway_client.api.transfer import transfer_session_on_portal',
      'from gateway_client.models import (',
      '    Bitrix24Event, Bitrix24EventAuth, Bitrix24EventEvent, FinishRequest, InstalledPortalState, PortalList, TransferRequest,',
      ')',
      'client = AuthenticatedClient(base_url="http://gateway.invalid", token="key")',
      'def calls() -> None:',
    ];
    const url = `${application.gateway.url}/openapi.json`;
    const { unexpected, missed } = await pythonCheck(url, 'application', header, lines);
    expect(unexpected).toEqual([]);
    expect(missed).toEqual([]);
  }, 120_000);
});
