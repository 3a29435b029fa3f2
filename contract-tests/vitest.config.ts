// The contract harness's self-test runs only from `make contract` (it needs the .venv with Schemathesis):
// `*.selftest.ts` is outside the default vitest include, so `make unit` never picks it up.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: fileURLToPath(new URL('..', import.meta.url)),
    include: ['contract-tests/**/*.selftest.ts'],
    // Kills what a test left running, and fails the run naming it.
    globalSetup: ['src/test-support/global-setup.ts'],
    // Each case is a whole Schemathesis run.
    testTimeout: 180_000,
    hookTimeout: 60_000,
    // One run at a time: the machine has two cores, and every run takes one and a half.
    fileParallelism: false,
  },
});
