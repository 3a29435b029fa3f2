// Runs after every test file (vitest setupFiles): no line any gateway logged holds a secret the file used.
import { afterAll, expect } from 'vitest';
import { allLogLines, secretsUsed } from './stack';

afterAll(() => {
  const secrets = [...secretsUsed].filter((secret) => secret.length >= 6);
  const leaks = allLogLines.flatMap((line) =>
    secrets.filter((secret) => line.includes(secret)).map((secret) => `${secret} in ${line}`),
  );
  expect(leaks, 'secrets in the gateway logs').toEqual([]);
});
