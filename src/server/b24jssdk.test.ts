// The official Bitrix24 SDK as a real client: an unmodified B24Hook, pointed at the gateway over HTTPS
// (the SDK speaks nothing else) with the caller's gateway key as the webhook secret.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProcess, tsx } from '../test-support/processes';
import { type Stack, startStack } from '../test-support/stack';

const key = 'sdk-team-key-0123456789';
const dir = mkdtempSync(join(tmpdir(), 'gateway-tls-'));
let stack: Stack;

/** A CA of the test's own, and a certificate it signs for localhost and 127.0.0.1. */
function makeCertificates(): { ca: string; cert: string; key: string } {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '1',
    '-subj',
    '/CN=Gateway test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign',
  );
  openssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  writeFileSync(
    join(dir, 'ext.cnf'),
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n',
  );
  openssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '1',
    '-extfile',
    'ext.cnf',
  );
  const read = (file: string) => readFileSync(join(dir, file), 'utf8');
  return { ca: join(dir, 'ca.pem'), cert: read('server.pem'), key: read('server.key') };
}

let caFile: string;
beforeAll(async () => {
  const certificates = makeCertificates();
  caFile = certificates.ca;
  stack = await startStack({
    config: {
      tls: { cert: certificates.cert, key: certificates.key },
      apiKeys: new Map([[key, 'sdk']]),
      allowAnonymous: false,
    },
  });
});
afterAll(() => stack.close());

type Outcome = { ok: boolean; data?: { result: boolean }; code?: string; status?: number };

// Asynchronously: the gateway answering the SDK runs in this process.
async function callWithSdk(secret: string, cases: Record<string, unknown>[]): Promise<Outcome[]> {
  const client = new URL('../test-support/b24jssdk-client.ts', import.meta.url).pathname;
  const run = await runProcess(...tsx(client, `${stack.gateway.url}/rest/1/${secret}`, JSON.stringify(cases)), {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_EXTRA_CA_CERTS: caFile },
  });
  if (run.code !== 0) throw new Error(`the SDK client exited ${run.code ?? run.signal}: ${run.stderr}`);
  return run.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Outcome);
}

/** What Bitrix24 itself (the emulator, called directly) answers for the same parameters. */
async function bitrix24Code(params: Record<string, unknown>): Promise<string | undefined> {
  const response = await fetch(`${stack.emulator.webhookUrl}imopenlines.bot.session.transfer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ CLIENT_ID: 'emulator.bot', ...params }),
  });
  return ((await response.json()) as { error?: string }).error;
}

describe('@bitrix24/b24jssdk B24Hook against the gateway', () => {
  it("runs the README's example as written (examples/typescript/b24jssdk.ts)", async () => {
    const example = new URL('../../examples/typescript/b24jssdk.ts', import.meta.url).pathname;
    const { code, stdout, stderr } = await runProcess(...tsx(example), {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        NODE_EXTRA_CA_CERTS: caFile,
        GATEWAY_URL: stack.gateway.url,
        GATEWAY_KEY: key,
      },
    });
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/^true true\n$/);
  });

  it('transfers a dialogue, and gets documented errors with the codes Bitrix24 gives', async () => {
    const cases = [
      { CHAT_ID: 112, USER_ID: 12, LEAVE: 'N' },
      { CHAT_ID: 112 },
      { USER_ID: 12 },
      { CHAT_ID: 4001, USER_ID: 12 },
      { CHAT_ID: 4002, QUEUE_ID: 3 },
    ];
    const [transferred, ...errors] = await callWithSdk(key, cases);

    expect(transferred).toMatchObject({ ok: true, data: { result: true } });
    expect(stack.emulator.received[0]?.params).toEqual({
      CHAT_ID: 112,
      USER_ID: 12,
      LEAVE: 'N',
      CLIENT_ID: 'emulator.bot',
    });

    const expected = await Promise.all(cases.slice(1).map(bitrix24Code));
    expect(expected).toEqual(['TRANSFER_ID_EMPTY', 'CHAT_ID_EMPTY', 'BOT_ID_ERROR', 'OPERATOR_WRONG']);
    expect(errors.map((outcome) => [outcome.status, outcome.code])).toEqual(expected.map((code) => [400, code]));
  });

  it("gets the gateway's own documented errors too", async () => {
    const [coerced] = await callWithSdk(key, [{ CHAT_ID: 112, USER_ID: 12, LEAVE: 'y' }]);
    expect(coerced).toMatchObject({ ok: false, status: 400, code: 'INVALID_PARAMETER' });
    const [refused] = await callWithSdk('wrong-key-0123456789', [{ CHAT_ID: 112, USER_ID: 12 }]);
    expect(refused).toMatchObject({ ok: false, status: 401, code: 'GATEWAY_AUTH_INVALID' });
  });

  it("is logged as the key's team, with the SDK's request id, never the key", () => {
    const lines = stack.logs.filter((line) => line.msg === 'request');
    expect(lines.every((line) => line.team === 'sdk' || line.status === 401)).toBe(true);
    expect(lines.every((line) => typeof line.sdkRequestId === 'string')).toBe(true);
    expect(stack.rawLogs.join('\n')).not.toContain(key);
  });
});
