import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['openapi/**/*.test.ts', 'src/**/*.test.ts', 'contract-tests/**/*.test.ts', 'scripts/**/*.test.ts'],
    // Browser tests need Chromium: `make browser` runs them (vitest.browser.config.ts).
    exclude: [...configDefaults.exclude, '**/*.browser.test.ts'],
    // After each file: no secret it used appears in any line its gateways logged.
    setupFiles: ['src/test-support/secret-scan.ts'],
    // Kills what a test left running, and fails the run naming it.
    globalSetup: ['src/test-support/global-setup.ts'],
    // vitest's default on 2 cores is one worker; most files wait on servers and child processes, not the CPU.
    maxWorkers: 4,
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
