// The emulator as the benchmark runs it: standalone, in its own process, with its limits set from the
// environment (src/emulator/main.ts always runs with Bitrix24's real limits, which would turn a
// throughput run into a rate-limit test after 50 calls).
//
//   BENCH_EMULATOR_RATE_LIMIT   "off" (default), or "<drainPerSecond>,<burst>": the portal's leaky bucket
//   BENCH_EMULATOR_REQUEST_IDS  "on": an X-Request-Id on every answer (for Prism, which checks the answers
//                               against the gateway's spec, where every answer has one); default "off"
//   PORT                        the emulator's port (default: a free one)
//
// It also answers a control port, so the benchmark can read the portal's counters from outside:
//   GET  /stats   → the emulator's stats ({calls, rejectedByRateLimit, maxBucketLevel, receivedDropped})
//   POST /reset   → empties the bucket and the counters
// Its first stdout line is JSON: {url, webhookUrl, controlUrl}.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startEmulator } from '../src/emulator';

const rateLimitSetting = process.env.BENCH_EMULATOR_RATE_LIMIT ?? 'off';
const rateLimit = (() => {
  if (rateLimitSetting === 'off') return { enabled: false, drainPerSecond: 2, burst: 50 };
  const [drainPerSecond, burst] = rateLimitSetting.split(',').map(Number);
  if (!(drainPerSecond! > 0) || !(burst! >= 1))
    throw new Error(`BENCH_EMULATOR_RATE_LIMIT: "${rateLimitSetting}" is not "off" or "<rate>,<burst>"`);
  return { enabled: true, drainPerSecond: drainPerSecond!, burst: burst! };
})();

const emulator = await startEmulator({
  port: Number(process.env.PORT ?? 0),
  host: '127.0.0.1',
  rateLimit,
  // Operating time is a budget of seconds per 10 minutes: a throughput run would exhaust it in seconds.
  operatingLimit: { enabled: false, limitSeconds: 480, costPerCallSeconds: 0.01, windowSeconds: 600 },
  ...(process.env.BENCH_EMULATOR_REQUEST_IDS === 'on' && { answerHeaders: () => ({ 'X-Request-Id': randomUUID() }) }),
});

// The emulator keeps a bounded window of the calls it received (the most recent 1,000, at most 16 MiB; see
// docs/emulator.md): over a benchmark it stays the same size, with nothing to clear.

const control = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/stats') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(emulator.stats));
  } else if (req.method === 'POST' && req.url === '/reset') {
    emulator.reset();
    res.writeHead(204).end();
  } else {
    res.writeHead(404).end();
  }
});
await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve));
const controlUrl = `http://127.0.0.1:${(control.address() as AddressInfo).port}`;

console.log(JSON.stringify({ url: emulator.url, webhookUrl: emulator.webhookUrl, controlUrl, rateLimit }));

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    control.close();
    emulator.close().finally(() => process.exit(0));
  });
}
