// The access log is written asynchronously (createLogger): the lines still queued when the process exits must
// reach the log anyway. Checked on the real process (the build, as the image runs it), logging to a pipe that
// is not read for a while (a log shipper slower than the gateway): the pipe fills and lines queue up in the
// process, and every one of them must be there once the pipe is read again, after the process has exited.
import type { ChildProcess } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { startProcess, temporaryDataDir } from '../test-support/processes';

const built = new URL('../../dist/main.js', import.meta.url).pathname;
const running: ChildProcess[] = [];
afterAll(() => {
  for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

const parsed = (text: string) =>
  text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { msg: string; url?: string; status?: number });

/** Reads the child's stdout until it says where it listens, then stops reading (the pipe fills from then). */
function listening(child: ChildProcess, output: string[]): Promise<string> {
  const stdout = child.stdout!;
  stdout.setEncoding('utf8');
  return new Promise((resolve, reject) => {
    const onData = (chunk: string) => {
      output.push(chunk);
      const complete = output.join('').replace(/[^\n]*$/, '');
      const url = parsed(complete).find((line) => line.msg.startsWith('Gateway listening'))?.url;
      if (!url) return;
      stdout.off('data', onData);
      stdout.pause();
      resolve(url);
    };
    stdout.on('data', onData);
    child.once('exit', () => reject(new Error('the gateway exited before it listened')));
  });
}

describe('the asynchronous log', () => {
  it('has every line up to the last one when the process stops on SIGTERM', async () => {
    const started = startProcess(process.execPath, [built], {
      env: { PATH: process.env.PATH, PORT: '0', LOG_LEVEL: 'info', GATEWAY_DATA_DIR: temporaryDataDir() },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const child = started.child;
    running.push(child);
    const output: string[] = [];
    const url = await listening(child, output);
    // Listened for now, though not read until resumed below: once the child exits Node resumes its stdout
    // itself, and what came then (the end among it) would be missed by listeners added later.
    const ended = new Promise((resolve) => {
      child.stdout!.on('data', (chunk: string) => output.push(chunk)).once('end', resolve);
    });

    // 1200 lines of about 350 bytes (420 KB): more than stdout holds (a Unix socket pair, about 200 KB in the
    // kernel, plus what this process buffers), so some wait in the process.
    const requests = 1200;
    let sent = 0;
    await Promise.all(
      Array.from({ length: 40 }, async () => {
        while (sent < requests) {
          sent += 1;
          const answer = await fetch(`${url}/rest/imopenlines.bot.session.transfer`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ CHAT_ID: 'not a number', USER_ID: 12 }),
          });
          expect(answer.status).toBe(400);
          await answer.arrayBuffer();
        }
      }),
    );
    child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Still there: held by the full pipe, with lines queued in it (else this would prove nothing).
    expect(child.exitCode, 'the gateway, 200 ms after SIGTERM').toBeNull();
    // Read the rest: what the pipe holds, then what the process wrote as it exited.
    child.stdout!.resume();
    const { code } = await started.exited;
    await ended;
    expect(code).toBe(0);

    const logged = parsed(output.join(''));
    expect(logged.filter((line) => line.msg === 'request' && line.status === 400)).toHaveLength(requests);
    expect(logged.findIndex((line) => line.msg === 'Stopping')).toBeGreaterThan(requests);
    expect(logged.at(-1)?.msg, 'the line logged just before process.exit').toBe('Stopped');
  });
});

describe('the time of a line', () => {
  it("is pino's isoTime, made once a millisecond", async () => {
    const { pino } = await import('pino');
    const { isoTime } = await import('.');
    const first = isoTime();
    const standard = pino.stdTimeFunctions.isoTime();
    const at = (text: string) => Date.parse(JSON.parse(`{${text.slice(1)}}`).time);
    expect(first).toMatch(/^,"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"$/);
    expect(Math.abs(at(first) - at(standard))).toBeLessThanOrEqual(1);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(at(isoTime()) - at(first)).toBeGreaterThanOrEqual(4);
  });
});

describe('LogDestination', () => {
  it('writes every line, in order and byte for byte, once ended', async () => {
    const { openSync, readFileSync, mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { LogDestination } = await import('.');
    const file = join(mkdtempSync(join(tmpdir(), 'log-')), 'out.log');
    const destination = new LogDestination(openSync(file, 'w'));
    // More than one write's worth (32 KB), with text outside ASCII whose bytes outnumber its characters.
    const lines = Array.from({ length: 3_000 }, (_, i) => `{"n":${i},"msg":"передача ${'é'.repeat(i % 7)}"}\n`);
    for (const line of lines) destination.write(line);
    const closed = new Promise((resolve) => destination.once('close', resolve));
    destination.end();
    await closed;
    expect(readFileSync(file, 'utf8')).toBe(lines.join(''));
  });
});
