import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['openapi/**/*.test.ts', 'src/**/*.test.ts', 'contract-tests/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
