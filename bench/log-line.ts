// What an access line costs the gateway's process, from pino's call to the bytes in a file: the logger as
// the gateway makes it (src/logger: LogDestination), against pino's sonic-boom in its string mode with 4 KB
// writes (what the gateway used before) and against a destination that drops every line (pino's
// formatting alone). Lines are logged 8 per turn of the event loop, as a busy gateway answers them; CPU
// time is the whole process's (libuv's thread pool, which does the asynchronous writes, included).
// Not part of `make bench`: `node --import tsx bench/log-line.ts` (see "The log's lines" in results.md).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createLogger, LogDestination } from '../src/logger';

const folder = mkdtempSync(join(tmpdir(), 'log-line-'));
const destinations: Record<string, () => pino.DestinationStream> = {
  'dropped (formatting only)': () => ({ write: () => undefined }),
  'sonic-boom, string mode, 4 KB writes (before)': () =>
    pino.destination({ dest: join(folder, 'string.log'), sync: false, minLength: 4096, periodicFlush: 100 }),
  'LogDestination (now)': () => new LogDestination(join(folder, 'buffer.log')),
};
// The access log's line (src/server/access-log.ts), as logged for a rejected transfer.
const line = {
  reqId: 'c3b1c2a4-5b6e-4e0b-9d3c-0c0a3f0b1d2e',
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  spanId: '00f067aa0ba902b7',
  method: 'POST',
  route: '/rest/imopenlines.bot.session.transfer',
  status: 400,
  code: 'INVALID_PARAMETER',
  team: 'bench',
  ms: 0,
};
const TURNS = 20_000;
const PER_TURN = 8;

async function perLine(destination: pino.DestinationStream): Promise<number> {
  const lines = createLogger('info', destination).child({}, { redact: [] });
  const started = process.cpuUsage();
  for (let turn = 0; turn < TURNS; turn++) {
    for (let i = 0; i < PER_TURN; i++) lines.info(line, 'request');
    await new Promise((resolve) => setImmediate(resolve));
  }
  const used = process.cpuUsage(started);
  return (used.user + used.system) / (TURNS * PER_TURN);
}

try {
  // Three rounds, the destinations in turn: the machine's speed drifts, so compare within a round.
  for (let round = 1; round <= 3; round++) {
    for (const [name, make] of Object.entries(destinations)) {
      console.log(`round ${round}\t${(await perLine(make())).toFixed(2)} µs CPU a line\t${name}`);
    }
  }
} finally {
  rmSync(folder, { recursive: true, force: true });
}
