// Runs the emulator standalone: EMULATOR_PORT (default 8081), EMULATOR_HOST (default 127.0.0.1).
import { startEmulator } from './server';

const emulator = await startEmulator({
  port: Number(process.env.EMULATOR_PORT ?? 8081),
  host: process.env.EMULATOR_HOST ?? '127.0.0.1',
});
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
