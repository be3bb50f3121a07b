// Opens the REST API reference (/docs/) in headless Chromium against a real
// server: every documented operation is listed, one is tried from the page
// and answers, and nothing comes from anywhere but 127.0.0.1.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { startTasker } from '../../tests/node/tasker.mjs';

const output = new URL('../test-output/', import.meta.url);
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';

let server;
let browser;
let page;
const requested = [];
const problems = [];

before(async () => {
  server = await startTasker();
  browser = await chromium.launch({
    executablePath,
    args: ['--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'],
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  context.on('request', (request) => requested.push(request.url()));
  page = await context.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(String(error)));
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
  const elsewhere = requested.filter((url) => {
    const { protocol, hostname } = new URL(url);
    return !['data:', 'blob:'].includes(protocol) && hostname !== '127.0.0.1';
  });
  assert.deepEqual(elsewhere, []);
  assert.deepEqual(problems, []);
});
