// The write deadline (WRITE_TIMEOUT_MS) over TLS, where the sockets the answers are written to are the TLS
// ones ('secureConnection'), not the TCP ones below them: a caller that never reads is closed within the
// deadline once its answers stop leaving, and one that waits for a slow Bitrix24 is not.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, startStack, TRANSFER } from '../test-support/stack';

const WRITE_TIMEOUT_MS = 600;
const dir = mkdtempSync(join(tmpdir(), 'gateway-write-deadline-'));
let stack: Stack;

beforeAll(async () => {
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      'key.pem',
      '-out',
      'cert.pem',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
    ],
    { cwd: dir, stdio: 'pipe' },
  );
  const read = (file: string) => readFileSync(join(dir, file), 'utf8');
  stack = await startStack({
    config: { tls: { cert: read('cert.pem'), key: read('key.pem') }, writeTimeoutMs: WRITE_TIMEOUT_MS },
    // CHAT_ID 5904 is answered this late, longer than the deadline: waiting for an answer is not not reading.
    emulator: { slowResponseMs: 3 * WRITE_TIMEOUT_MS },
  });
});
afterAll(async () => {
  await stack?.close();
  rmSync(dir, { recursive: true, force: true });
});

function tlsSocket() {
  const { hostname, port } = new URL(stack.gateway.url);
  return connect({ host: hostname, port: Number(port), rejectUnauthorized: false });
}

describe('the write deadline over TLS', () => {
  it('closes a caller that pipelines requests for large answers and never reads', async () => {
    const socket = tlsSocket();
    socket.on('error', () => undefined);
    let closed = false;
    socket.once('close', () => (closed = true));
    await new Promise((resolve) => socket.once('secureConnect', resolve));
    socket.pause();
    const seen = stack.rawLogs.length;
    const started = performance.now();
    socket.write('GET /openapi.json HTTP/1.1\r\nHost: g\r\n\r\n'.repeat(400));
    const line = () => stack.logs.slice(seen).find((entry) => entry.writeTimeoutMs === WRITE_TIMEOUT_MS);
    while (line() === undefined && performance.now() - started < WRITE_TIMEOUT_MS + 8_000)
      await new Promise((resolve) => setTimeout(resolve, 50));
    const closedLine = line() as { stalledMs: number } | undefined;
    expect(closedLine, 'the gateway closed the connection and said so').toBeDefined();
    expect(closedLine!.stalledMs).toBeGreaterThanOrEqual(WRITE_TIMEOUT_MS);
    expect(closedLine!.stalledMs).toBeLessThan(WRITE_TIMEOUT_MS * 1.5);
    // The caller, reading at last, finds the connection ended.
    socket.resume();
    const until = performance.now() + 3_000;
    while (!closed && performance.now() < until) await new Promise((resolve) => setTimeout(resolve, 20));
    socket.destroy();
    expect(closed).toBe(true);
  });

  it('keeps a caller whose answer waits for Bitrix24 longer than the deadline', async () => {
    const socket = tlsSocket();
    socket.on('error', () => undefined);
    await new Promise((resolve) => socket.once('secureConnect', resolve));
    const body = '{"CHAT_ID":5904,"USER_ID":12}';
    let answer = '';
    socket.setEncoding('latin1').on('data', (chunk: string) => (answer += chunk));
    socket.write(
      `POST ${TRANSFER} HTTP/1.1\r\nHost: g\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    const until = performance.now() + 10 * WRITE_TIMEOUT_MS;
    while (!answer.includes('"result":true') && performance.now() < until)
      await new Promise((resolve) => setTimeout(resolve, 20));
    socket.destroy();
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK/);
  });
});
