// Every code example in the README and its docs/ pages is a file that a test runs, shown as it is: each block
// below must be the file's text from its first line of code on (the file's header comment is not shown).
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const read = (path: string) => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');
const readme = ['README.md', ...readdirSync(new URL('../docs', import.meta.url)).map((page) => `docs/${page}`)]
  .map(read)
  .join('\n');
const blocks = [...readme.matchAll(/```(ts|python|go)\n([\s\S]*?)```/g)].map((m) => ({ language: m[1]!, code: m[2]! }));

// [the file, the line its README block starts with, what runs it]
const examples: [string, string, string][] = [
  [
    'examples/typescript/transfer.ts',
    "import { createClient } from '../../generated/client';",
    'src/server/sdk.test.ts',
  ],
  ['examples/typescript/b24jssdk.ts', "import { B24Hook } from '@bitrix24/b24jssdk';", 'src/server/b24jssdk.test.ts'],
  ['consumers/python/readme_example.py', 'import os', 'consumers/run.ts (make consumers)'],
  ['consumers/go/example/main.go', 'package main', 'consumers/run.ts (make consumers)'],
];

describe("the README's code examples", () => {
  it.each(examples)('%s is shown whole from its code on, as it is (run by %s)', (file, first) => {
    const text = read(file);
    const shown = blocks.find((block) => block.code.startsWith(`${first}\n`));
    expect(shown, `a README block starting with ${first}`).toBeDefined();
    expect(shown!.code).toBe(text.slice(text.indexOf(`${first}\n`)));
  });

  it('are all one of those files', () => {
    expect(blocks.map((block) => block.code.split('\n')[0])).toEqual(
      expect.arrayContaining(examples.map(([, first]) => first)),
    );
    expect(blocks).toHaveLength(examples.length);
  });
});
