// Runs the emulator standalone, configured by its environment (each checked as the gateway checks its own:
// a wrong value, or a port in use, stops it with a message naming the variable, exit code 2):
//   EMULATOR_PORT                    default 8081
//   EMULATOR_HOST                    default 127.0.0.1
//   EMULATOR_RATE_LIMIT_PER_SECOND   the portal's leaky bucket: requests a second (default 2, Bitrix24's standard plan)
//   EMULATOR_RATE_LIMIT_BURST        and its burst (default 50)
//   EMULATOR_RECEIVED_MAX_CALLS      how many of the calls it received it keeps for reading, the most recent
//                                    (default 1000)
//   EMULATOR_RECEIVED_MAX_BYTES      and how many bytes of them at most, as it counts what a call holds
//                                    (default 16777216, 16 MiB)
import { listenHost, listenProblem } from '../config';
import { startEmulator } from './server';

const problems: string[] = [];
function read(name: string, fallback: string, pattern: RegExp, max: number, expected: string): number {
  const text = process.env[name] || fallback;
  if (!pattern.test(text) || Number(text) > max || (name !== 'EMULATOR_PORT' && Number(text) <= 0))
    problems.push(`${name}: must be ${expected}`);
  return Number(text);
}
const host = listenHost(process.env.EMULATOR_HOST || '127.0.0.1') ?? '';
if (!host)
  problems.push('EMULATOR_HOST: must be an IP address (IPv6 with or without brackets) or a host name, without a port');
const port = read('EMULATOR_PORT', '8081', /^\d+$/, 65_535, 'a whole number from 0 to 65535');
const drainPerSecond = read(
  'EMULATOR_RATE_LIMIT_PER_SECOND',
  '2',
  /^\d+(\.\d+)?$/,
  100_000,
  'a number of requests a second, more than 0',
);
const burst = read('EMULATOR_RATE_LIMIT_BURST', '50', /^\d+$/, 100_000, 'a positive whole number');
const maxReceivedCalls = read(
  'EMULATOR_RECEIVED_MAX_CALLS',
  '1000',
  /^\d+$/,
  10_000_000,
  'a whole number of calls from 1 to 10000000',
);
const maxReceivedBytes = read(
  'EMULATOR_RECEIVED_MAX_BYTES',
  String(16 * 1024 * 1024),
  /^\d+$/,
  2 ** 32,
  'a whole number of bytes from 1 to 4294967296',
);
if (problems.length > 0) {
  process.stderr.write(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}\n`);
  process.exit(2);
}

let emulator: Awaited<ReturnType<typeof startEmulator>>;
try {
  emulator = await startEmulator({
    port,
    host,
    rateLimit: { enabled: true, drainPerSecond, burst },
    maxReceivedCalls,
    maxReceivedBytes,
  });
} catch (error) {
  const problem = listenProblem(error, 'EMULATOR_PORT', port, host, 'EMULATOR_HOST');
  if (!problem) throw error;
  process.stderr.write(`${problem}\n`);
  process.exit(2);
}
console.log(
  JSON.stringify({
    msg: 'Bitrix24 emulator listening',
    url: emulator.url,
    webhookUrl: emulator.webhookUrl,
    rateLimit: { drainPerSecond, burst },
    received: { maxCalls: maxReceivedCalls, maxBytes: maxReceivedBytes },
  }),
);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    emulator.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  });
}
