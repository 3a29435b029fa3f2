// Browser tests (`*.browser.test.ts`), run by `make browser` only: they need Debian's Chromium at
// /usr/bin/chromium, which the Makefile installs. The default config excludes them.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.browser.test.ts'],
    // After each file: no secret it used appears in any line its gateways logged.
    setupFiles: ['src/test-support/secret-scan.ts'],
    // Kills what a test left running, and fails the run naming it.
    globalSetup: ['src/test-support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 20_000,
  },
});
