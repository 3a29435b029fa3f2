// Runs the emulator standalone: EMULATOR_PORT (default 8081), EMULATOR_HOST (default 127.0.0.1). A wrong
// value, or a port in use, stops it with a message naming the variable (exit code 2), as the gateway does.
import { listenProblem } from '../config';
import { startEmulator } from './server';

const host = process.env.EMULATOR_HOST || '127.0.0.1';
const portText = process.env.EMULATOR_PORT || '8081';
if (!/^\d+$/.test(portText) || Number(portText) > 65_535) {
  process.stderr.write(`Invalid configuration:\n  - EMULATOR_PORT: must be a whole number from 0 to 65535\n`);
  process.exit(2);
}
const port = Number(portText);

let emulator: Awaited<ReturnType<typeof startEmulator>>;
try {
  emulator = await startEmulator({ port, host });
} catch (error) {
  const problem = listenProblem(error, 'EMULATOR_PORT', port, host);
  if (!problem) throw error;
  process.stderr.write(`${problem}\n`);
  process.exit(2);
}
console.log(JSON.stringify({ msg: 'Bitrix24 emulator listening', url: emulator.url, webhookUrl: emulator.webhookUrl }));

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
