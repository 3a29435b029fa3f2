// /docs in a real browser: Debian's Chromium, headless, driven by playwright-core. Runs from `make browser`
// (vitest.browser.config.ts) only: the default vitest config excludes `*.browser.test.ts`, so `make unit`
// never needs Chromium. Leaves a full-page screenshot at reports/docs.png.
import { mkdirSync } from 'node:fs';
import { dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ResponseObject, resolve, spec } from '../spec';
import { type Stack, startStack, TRANSFER } from '../test-support/stack';

const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
// Playwright adds --headless and a fresh --user-data-dir (a temporary profile it deletes on close). The
// rest keep Chromium off the network but for the page: this machine's network is closed, and Chromium's
// own background calls would be refused many at a time.
const args = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

const root = fileURLToPath(new URL('../..', import.meta.url));
const screenshot = fileURLToPath(new URL('../../reports/docs.png', import.meta.url));

// What the page must show, read from the spec: each error status of the transfer operation, and the code
// of each of its examples (Swagger UI shows one example at a time, chosen in a drop-down).
const operation = spec.paths[TRANSFER]!.post!;
const statuses = Object.keys(operation.responses);
const errorExamples = statuses
  .filter((status) => Number(status) >= 400)
  .map((status) => {
    const examples =
      resolve<ResponseObject>(operation.responses[status]!).content?.['application/json']?.examples ?? {};
    return {
      status,
      examples: Object.entries(examples).map(([name, example]) => ({
        name,
        code: (example.value as { error: string }).error,
      })),
    };
  });

let stack: Stack;
let browser: Browser | undefined;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  try {
    await browser?.close();
  } finally {
    await stack?.close();
  }
});

describe('/docs in headless Chromium', () => {
  it('lists the spec the test expects', () => {
    expect(operation.operationId).toBe('transferSession');
    expect(errorExamples.map((e) => e.status)).toEqual([
      '400',
      '401',
      '403',
      '404',
      '405',
      '408',
      '413',
      '415',
      '429',
      '431',
      '500',
      '502',
      '503',
      '504',
    ]);
    expect(errorExamples.flatMap((e) => e.examples.map((x) => x.code))).toEqual(
      expect.arrayContaining(['CHAT_ID_EMPTY', 'TRANSFER_ID_EMPTY', 'UPSTREAM_TIMEOUT', 'QUERY_LIMIT_EXCEEDED']),
    );
  });

  it('renders the transfer operation and every documented error code, loading nothing from another host', async () => {
    const origin = new URL(stack.gateway.url).origin;
    browser = await chromium.launch({ executablePath, headless: true, args });
    try {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      page.setDefaultTimeout(10_000);
      const requests: string[] = [];
      const pageErrors: string[] = [];
      const consoleErrors: string[] = [];
      context.on('request', (request) => requests.push(request.url()));
      page.on('pageerror', (error) => pageErrors.push(error.message));
      page.on('console', (message) => {
        // The browser asks for /favicon.ico on its own; the gateway has none (404).
        if (message.type() === 'error' && !message.location().url.endsWith('/favicon.ico'))
          consoleErrors.push(message.text());
      });

      await page.goto(`${stack.gateway.url}/docs`);
      const op = page.locator('[id^="operations-"][id$="-transferSession"]');
      await op.waitFor();
      expect((await op.locator('.opblock-summary-method').textContent())?.trim()).toBe('POST');
      expect(await op.locator('.opblock-summary-path').getAttribute('data-path')).toBe(TRANSFER);

      await op.locator('.opblock-summary-control').click();
      const rows = op.locator('tr.response');
      await rows.first().waitFor();
      expect(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-code')))).toEqual(statuses);

      // Each example in turn, chosen in the status's drop-down: its code must appear in the example shown.
      const shown: string[] = [];
      for (const { status, examples } of errorExamples) {
        const row = op.locator(`tr.response[data-code="${status}"]`);
        const select = row.locator('select.examples-select-element');
        for (const [index, { name, code }] of examples.entries()) {
          if (index > 0) await select.selectOption(name);
          await row.locator('[data-name="examplePanel"]', { hasText: `"error": "${code}"` }).waitFor();
          shown.push(code);
        }
        if (examples.length > 1) await select.selectOption(examples[0]!.name);
      }
      expect(shown).toEqual(errorExamples.flatMap((e) => e.examples.map((x) => x.code)));

      expect(requests).toContain(`${origin}/openapi.json`);
      expect(requests.filter((url) => !/^(data|blob):/.test(url) && new URL(url).origin !== origin)).toEqual([]);
      expect(pageErrors).toEqual([]);
      expect(consoleErrors).toEqual([]);

      mkdirSync(dirname(screenshot), { recursive: true });
      await page.screenshot({ path: screenshot, fullPage: true });
      console.log(
        `screenshot: ${relative(root, screenshot)} (${shown.length} error codes shown, ${requests.length} requests, all to ${origin})`,
      );
    } finally {
      await browser.close();
    }
  });
});
