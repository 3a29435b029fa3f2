// /docs in a real browser: Debian's Chromium, headless, driven by playwright-core. Runs from `make browser`
// (vitest.browser.config.ts) only: the default vitest config excludes `*.browser.test.ts`, so `make unit`
// never needs Chromium. Leaves a screenshot of the first screen (1400×900) at reports/docs.png.
import { mkdirSync } from 'node:fs';
import { dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { specMatrix } from '../error-matrix';
import { spec } from '../spec';
import { type Stack, startStack } from '../test-support/stack';

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
const viewport = { width: 1400, height: 900 };

const root = fileURLToPath(new URL('../..', import.meta.url));
const screenshot = fileURLToPath(new URL('../../reports/docs.png', import.meta.url));

// What the page must show, read from the spec: the Bitrix24 method's operations, and every error code of it.
// The page is the served document of a gateway in webhook mode: the operations of that mode only.
const served = Object.values(spec.paths).flatMap((item) =>
  Object.values(item).filter(
    (operation) => (operation['x-upstream-modes'] as string[] | undefined)?.includes('webhook') ?? true,
  ),
);
const transferOperations = served.filter((operation) => (operation.tags as string[] | undefined)?.includes('transfer'));
// Every method's operations are on the page (the transfer's on the first screen), and each one's codes.
const methodOperations = served.filter((operation) => typeof operation['x-bitrix24-method'] === 'string');
// The sidebar names each method by its Bitrix24 name (read here from the operations, not from the tags).
const bitrix24Methods = [...new Set(methodOperations.map((operation) => operation['x-bitrix24-method'] as string))];
const codes = [
  ...new Set(methodOperations.flatMap((operation) => specMatrix(operation.operationId).map((row) => row.code))),
];
// Redoc's footer credit asks for its logo at cdn.redoc.ly; the page's Content-Security-Policy refuses it, so
// nothing leaves this origin, and Chromium reports the refusal.
const refusedLogo =
  /Loading the image 'https:\/\/cdn\.redoc\.ly\/redoc\/logo-mini\.svg' violates the following Content Security Policy/;

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
    expect(transferOperations.map((operation) => operation.operationId)).toEqual([
      'transferSession',
      'transferSessionJson',
      'transferSessionHookPath',
    ]);
    expect(bitrix24Methods).toEqual([
      'imopenlines.bot.session.transfer',
      'imopenlines.bot.session.operator',
      'imopenlines.bot.session.message.send',
      'imopenlines.bot.session.finish',
    ]);
    expect(codes).toEqual(
      expect.arrayContaining(['CHAT_ID_EMPTY', 'TRANSFER_ID_EMPTY', 'UPSTREAM_TIMEOUT', 'HEADERS_TOO_LARGE']),
    );
  });

  it('shows the operations on the first screen beside the sections, every error code, and loads nothing from another host', async () => {
    const origin = new URL(stack.gateway.url).origin;
    browser = await chromium.launch({ executablePath, headless: true, args });
    try {
      const context = await browser.newContext({ viewport });
      const page = await context.newPage();
      page.setDefaultTimeout(15_000);
      const requests: string[] = [];
      const blocked: string[] = [];
      const pageErrors: string[] = [];
      const consoleErrors: string[] = [];
      context.on('request', (request) => requests.push(request.url()));
      context.on('requestfailed', (request) => {
        if (/blocked|csp/i.test(request.failure()?.errorText ?? '')) blocked.push(request.url());
      });
      page.on('pageerror', (error) => pageErrors.push(error.message));
      page.on('console', (message) => {
        if (message.type() === 'error' && !refusedLogo.test(message.text())) consoleErrors.push(message.text());
      });

      await page.goto(`${stack.gateway.url}/docs`);
      const menu = (id: string) => page.locator(`.menu-content li[data-item-id="${id}"]`);
      // The document's sections (its ## headings) are in the sidebar, and so are the operations.
      await menu('section/Where-an-answer-comes-from').waitFor();
      for (const operation of transferOperations) {
        const item = menu(`tag/transfer/operation/${operation.operationId}`);
        await item.waitFor();
        const box = await item.boundingBox();
        expect(box, `${operation.operationId} in the sidebar`).not.toBeNull();
        expect(box!.y, `${operation.operationId} on the first screen`).toBeGreaterThanOrEqual(0);
        expect(box!.y + box!.height, `${operation.operationId} on the first screen`).toBeLessThanOrEqual(
          viewport.height,
        );
      }
      for (const operation of methodOperations) {
        await menu(`tag/${(operation.tags as string[])[0]}/operation/${operation.operationId}`).waitFor({
          state: 'attached',
        });
      }
      const tagLabels = await page.locator('.menu-content li[data-item-id^="tag/"] > label').allInnerTexts();
      expect(tagLabels.map((label) => label.trim())).toEqual(expect.arrayContaining(bitrix24Methods));
      // …in full: the names differ only at their end, so a label cut short (an ellipsis) would hide which is which.
      const clipped = await page
        .locator('.menu-content li[data-item-id^="tag/"] > label, .menu-content li[data-item-id^="tag/"] > label *')
        .evaluateAll((elements) =>
          elements.filter((element) => element.scrollWidth > element.clientWidth).map((element) => element.textContent),
        );
      expect(clipped, 'sidebar labels cut short').toEqual([]);
      mkdirSync(dirname(screenshot), { recursive: true });
      await page.screenshot({ path: screenshot });

      // Every response is open: each error code shows in its status's schema and examples.
      await page.locator('[id="tag/transfer/operation/transferSession"]').waitFor();
      // biome-ignore lint/performance/useDomNodeTextContent: what the reader sees, as rendered
      const text = await page.evaluate(() => document.body.innerText);
      expect(
        codes.filter((code) => !text.includes(code)),
        'error codes not on the page',
      ).toEqual([]);

      expect(requests).toContain(`${origin}/openapi.json`);
      // Redoc's footer logo is the one request for another host, and the Content-Security-Policy refuses it.
      const elsewhere = requests.filter((url) => !/^(data|blob):/.test(url) && new URL(url).origin !== origin);
      expect(
        elsewhere.filter((url) => !blocked.includes(url)),
        'requests that left this origin',
      ).toEqual([]);
      expect(elsewhere).toEqual(['https://cdn.redoc.ly/redoc/logo-mini.svg']);
      expect(pageErrors).toEqual([]);
      expect(consoleErrors).toEqual([]);
      console.log(
        `screenshot: ${relative(root, screenshot)} (${codes.length} error codes shown, ${requests.length} requests, none answered by another host)`,
      );
    } finally {
      await browser.close();
    }
  });
});
