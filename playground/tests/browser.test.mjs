// Opens the playground in headless Chromium against a real server and uses
// it as a person would: the page must come entirely from 127.0.0.1, a query
// must run, and a subscription must show an event of a task that runs while
// it is open. A screenshot lands in test-output/ for a human to look at.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { elsewhere, openBrowser } from '../../tests/node/chromium.mjs';
import { graphql, startTasker } from '../../tests/node/tasker.mjs';

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

/** The text GraphiQL shows in its response pane. */
const responseText = () => page.locator('.graphiql-response').innerText();

/** Open the playground with `query` in a tab of its own and run it. */
async function run(query, word) {
  const params = new URLSearchParams({ query });
  await page.goto(`${server.url}/playground/?${params}`);
  // Run only once the editor shows the operation: clicking earlier runs
  // whatever the editor held while it was still loading.
  await page.locator('.graphiql-query-editor .view-lines').filter({ hasText: word }).waitFor();
  await page.locator('.graphiql-execute-button').click();
}

/** Wait until the response pane shows `text`; on timeout, say what it showed. */
async function responseShows(text) {
  try {
    await page.waitForFunction(
      (wanted) => document.querySelector('.graphiql-response')?.innerText.includes(wanted),
      text,
      { timeout: 30_000 },
    );
  } catch (error) {
    throw new Error(`the response pane never showed ${text}; it shows: ${await responseText()}`, { cause: error });
  }
}

test('the page renders with its schema explorer and example tabs', async () => {
  const response = await page.goto(`${server.url}/playground`);
  assert.equal(response.status(), 200);
  assert.equal(new URL(page.url()).pathname, '/playground/');
  assert.match(response.headers()['content-security-policy'], /connect-src 'self'/);
  await page.locator('.graphiql-container').waitFor();
  await page.locator('.graphiql-tab').nth(4).waitFor();
  await page.getByRole('button', { name: /Show Documentation Explorer/i }).click();
  // The explorer lists the root types once the introspection query succeeded.
  await page.locator('.graphiql-doc-explorer').getByText('Mutation', { exact: true }).first().waitFor();
  assert.equal(await page.getByText('Error fetching schema').count(), 0);
  await page.getByRole('button', { name: 'Headers' }).waitFor();
});

test('a query runs and its result shows', async () => {
  await run('{ eventCatalog(names: ["task.completed"]) { name description } }', 'eventCatalog');
  await responseShows('"task.completed"');
});

test('a subscription shows an event of a task run while it is open', async () => {
  const subscribed = new Promise((ok) => {
    page.on('websocket', (socket) =>
      socket.on('framesent', ({ payload }) => {
        if (String(payload).includes('"subscribe"')) ok();
      }),
    );
  });
  await run('subscription { events(names: ["task.completed"]) { name taskId } }', 'events');
  await subscribed;
  const created = await graphql(
    server.url,
    'mutation ($input: CreateTaskInput!) { createTask(input: $input) { task { id } } }',
    { input: { name: 'hello_world', context: {} } },
  );
  await responseShows(created.createTask.task.id);
  assert.match(await responseText(), /task\.completed/);
  mkdirSync(output, { recursive: true });
  await page.screenshot({ path: new URL('playground.png', output).pathname, fullPage: true });
});

test('nothing was fetched from anywhere but 127.0.0.1 and the page logged no error', () => {
  assert.ok(requested.length > 5, `requests seen: ${requested}`);
  assert.deepEqual(elsewhere(requested), []);
  assert.deepEqual(problems, []);
});
