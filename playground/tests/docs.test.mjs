// Opens the REST API reference (/docs/) in headless Chromium against a real
// server: every documented operation is listed, one is tried from the page
// and answers, and nothing comes from anywhere but 127.0.0.1.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { elsewhere, openBrowser } from '../../tests/node/chromium.mjs';
import { startTasker } from '../../tests/node/tasker.mjs';

const output = new URL('../test-output/', import.meta.url);

let server;
let browser;
let page;
let requested;
let problems;

before(async () => {
  server = await startTasker();
  ({ browser, page, requested, problems } = await openBrowser(chromium));
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('the reference lists every operation of the served document', async () => {
  const response = await page.goto(`${server.url}/docs`);
  assert.equal(response.status(), 200);
  assert.equal(new URL(page.url()).pathname, '/docs/');
  assert.match(response.headers()['content-security-policy'], /connect-src 'self'/);
  const document = await (await fetch(`${server.url}/openapi.json`)).json();
  const operations = Object.values(document.paths).flatMap((item) => Object.keys(item)).length;
  await page.locator('.opblock').nth(operations - 1).waitFor();
  assert.equal(await page.locator('.opblock').count(), operations);
  await page.getByText('Tasker REST API', { exact: false }).first().waitFor();
});

test('an operation is tried from the page and its answer shows', async () => {
  const handlers = page.locator('.opblock-get').filter({ has: page.locator('[data-path="/handlers"]') });
  await handlers.locator('.opblock-summary').first().click();
  await handlers.locator('.try-out__btn').click();
  await handlers.locator('.execute').click();
  const status = handlers.locator('.live-responses-table tr.response .response-col_status').first();
  await status.waitFor();
  assert.equal((await status.innerText()).trim(), '200');
  assert.match(await handlers.locator('.live-responses-table tr.response .response-col_description').first().innerText(), /hello_world/);
  mkdirSync(output, { recursive: true });
  await page.screenshot({ path: new URL('docs.png', output).pathname, fullPage: false });
});

test('nothing was fetched from anywhere but 127.0.0.1 and the page logged no error', () => {
  assert.ok(requested.some((url) => url.endsWith('/openapi.json')), `requests seen: ${requested}`);
  assert.deepEqual(elsewhere(requested), []);
  assert.deepEqual(problems, []);
});
