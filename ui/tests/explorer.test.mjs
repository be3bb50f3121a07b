// The task explorer in headless Chromium against the debug binary, used as an
// operator would: every page renders from 127.0.0.1 only, a running task's
// node turns COMPLETE without a reload, filters and pages work, cancel and
// retry from the page change the task (checked over GraphQL), an ERROR
// task's failing step is the highlighted bottleneck, auth works with and
// without a token, and axe-core finds no serious violation. Screenshots of
// each page land in test-output/ for a human to look at.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { elsewhere, openBrowser } from '../../tests/node/chromium.mjs';
import { graphql, startTasker, taskerBinary } from '../../tests/node/tasker.mjs';

const output = new URL('../test-output/', import.meta.url);
mkdirSync(output, { recursive: true });
const shot = (page, name) => page.screenshot({ path: new URL(`${name}.png`, output).pathname, fullPage: true });
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const WAIT = { timeout: 30_000 };

const TEMPLATES = [
  `namespace: ui
name: approve_flow
steps:
  - {name: prepare, handler: noop}
  - {name: gate, approval: {}, depends_on: [prepare]}
  - {name: finish, handler: noop, depends_on: [gate]}
`,
  `namespace: ui
name: flaky
steps:
  - {name: setup, handler: noop}
  - name: charge
    handler: fail_times
    config: {times: 1}
    retry: {max_attempts: 1}
    depends_on: [setup]
  - {name: notify, handler: noop, depends_on: [charge]}
`,
  `namespace: ui
name: wide
steps:
${Array.from({ length: 200 }, (_, i) => `  - {name: s${i}, handler: noop${i ? `, depends_on: [s${Math.floor((i - 1) / 4)}]` : ''}}`).join('\n')}
`,
];

const CREATE = 'mutation($input: CreateTaskInput!) { createTask(input: $input) { task { id } } }';
const STATUS = 'query($id: ID!) { task(id: $id) { status steps { name status } } }';

/** Poll GraphQL until `check(task)` holds. */
async function until(url, id, check, what, headers) {
  const deadline = Date.now() + 30_000;
  let task;
  while (Date.now() < deadline) {
    ({ task } = await graphql(url, STATUS, { id }, headers));
    if (check(task)) return task;
    await new Promise((ok) => setTimeout(ok, 100));
  }
  throw new Error(`${what} never happened; the task is ${JSON.stringify(task)}`);
}

async function axe(page) {
  await page.addScriptTag({ content: axeSource });
  const found = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return result.violations
      .filter((v) => ['serious', 'critical'].includes(v.impact))
      .map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')}`);
  });
  return found;
}

describe('the explorer with auth off', () => {
  let server;
  let browser;
  let page;
  let requested;
  let problems;
  const gq = (q, v) => graphql(server.url, q, v);
  const create = async (name, extra = {}) =>
    (await gq(CREATE, { input: { namespace: 'ui', name, context: {}, ...extra } })).createTask.task.id;

  before(async () => {
    server = await startTasker();
    for (const yaml of TEMPLATES) {
      await gq('mutation($y: String!) { registerTaskTemplate(yaml: $y) { fullName } }', { y: yaml });
    }
    // axe-core goes in as an inline script, which the page's CSP refuses.
    ({ browser, page, requested, problems } = await openBrowser(chromium, { bypassCSP: true, viewport: { width: 1280, height: 800 } }));
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('the dashboard renders its figures from the server', async () => {
    const response = await page.goto(`${server.url}/`);
    assert.equal(response.status(), 200);
    assert.match(response.headers()['content-security-policy'], /script-src 'self'/);
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor(WAIT);
    await page.getByText('Oldest ready step').waitFor(WAIT);
    await page.getByText('(this one)').waitFor(WAIT);
    await shot(page, 'dashboard');
  });

  test("a running task's node turns COMPLETE without a reload, and approving from the drawer does it", async () => {
    const id = await create('approve_flow');
    await page.goto(`${server.url}/#/tasks/${id}`);
    await page.locator('[data-step="gate"][data-status="WAITING"]').waitFor(WAIT);
    await page.locator('[data-step="gate"]').click();
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.locator('[data-step="finish"][data-status="COMPLETE"]').waitFor(WAIT);
    await until(server.url, id, (t) => t.status === 'COMPLETE', 'COMPLETE over GraphQL');
    await page.getByText('Finished.').waitFor(WAIT);
    await shot(page, 'task');
  });

  test('a node moves on live when the change comes from elsewhere', async () => {
    const id = await create('approve_flow');
    await page.goto(`${server.url}/#/tasks/${id}`);
    const gate = page.locator('[data-step="gate"][data-status="WAITING"]');
    await gate.waitFor(WAIT);
    const { task } = await gq('query($id: ID!) { task(id: $id) { steps { id name } } }', { id });
    const step = task.steps.find((s) => s.name === 'gate');
    await gq('mutation($id: ID!) { approveStep(id: $id) { id } }', { id: step.id });
    await page.locator('[data-step="gate"][data-status="COMPLETE"]').waitFor(WAIT);
    await page.locator('[data-step="finish"][data-status="COMPLETE"]').waitFor(WAIT);
  });

  test("an ERROR task's failing step is the bottleneck, and Retry task from the page runs it again", async () => {
    const id = await create('flaky');
    await until(server.url, id, (t) => t.status === 'ERROR', 'ERROR');
    await page.goto(`${server.url}/#/tasks/${id}`);
    await page.locator('[data-step="charge"].bottleneck[data-status="ERROR"]').waitFor(WAIT);
    assert.equal(await page.locator('.node.bottleneck').count(), 1, 'only the failing step');
    await page.getByLabel('Bottlenecks').getByText('charge').waitFor(WAIT);
    await shot(page, 'task-error');
    await page.getByRole('button', { name: 'Retry task' }).click();
    await until(server.url, id, (t) => t.status === 'COMPLETE', 'COMPLETE after the retry');
    await page.locator('[data-step="notify"][data-status="COMPLETE"]').waitFor(WAIT);
  });

  test('Cancel task from the page cancels it', async () => {
    const id = await create('approve_flow');
    await page.goto(`${server.url}/#/tasks/${id}`);
    await page.locator('[data-step="gate"][data-status="WAITING"]').waitFor(WAIT);
    await page.getByRole('button', { name: 'Cancel task' }).click();
    await until(server.url, id, (t) => t.status === 'CANCELLED', 'CANCELLED');
    await page.locator('#task-title ~ .status', { hasText: 'CANCELLED' }).waitFor(WAIT);
  });

  test('filters and pages list the right tasks, and bulk cancel cancels the selection', async () => {
    const ids = [];
    for (let i = 0; i < 30; i += 1) ids.push(await create('approve_flow', { initiator: i === 7 ? 'night-batch' : 'ui-test' }));
    await page.goto(`${server.url}/#/tasks?name=approve_flow&status=IN_PROGRESS,PENDING`);
    await page.getByText(/^3\d task\(s\)$/).waitFor(WAIT);
    assert.equal(await page.locator('tbody tr[data-task]').count(), 25);
    await page.getByRole('link', { name: 'Older →' }).click();
    await page.waitForFunction(() => document.querySelectorAll('tbody tr[data-task]').length < 25, null, WAIT);
    const older = await page.locator('tbody tr[data-task]').count();
    const total = Number((await page.getByText(/task\(s\)$/).innerText()).split(' ')[0]);
    assert.equal(older, total - 25);
    await page.getByRole('link', { name: '← Newer' }).click();
    await page.waitForFunction(() => document.querySelectorAll('tbody tr[data-task]').length === 25, null, WAIT);

    await page.getByLabel('Search').fill('NIGHT');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.getByText(/^1 task\(s\)$/).waitFor(WAIT);
    assert.equal(await page.locator(`tbody tr[data-task="${ids[7]}"]`).count(), 1);
    await shot(page, 'tasks');

    await page.getByLabel(`Select ${ids[7]}`).check();
    await page.getByRole('button', { name: 'Cancel selected' }).click();
    await page.getByRole('status').filter({ hasText: 'Cancelled 1' }).waitFor(WAIT);
    await until(server.url, ids[7], (t) => t.status === 'CANCELLED', 'the bulk cancel');
  });

  test('templates show their DAG and YAML, and the editor points at problems before registering', async () => {
    await page.goto(`${server.url}/#/templates/ui/flaky/0.1.0`);
    await page.getByRole('heading', { name: 'ui/flaky@0.1.0' }).waitFor(WAIT);
    await page.locator('.yaml', { hasText: 'fail_times' }).waitFor(WAIT);
    assert.equal(await page.locator('[data-step]').count(), 3);
    const editor = page.getByLabel('Template (YAML or JSON)');
    await editor.fill('namespace: ui\nname: fresh\nsteps:\n  - name: a\n    handler: noop\n  - name: b\n    handler: nope\n');
    await page.getByRole('button', { name: 'Validate' }).click();
    await page.getByLabel('Template problems').getByText(/line 7: steps\[1\]\.handler/).waitFor(WAIT);
    assert.equal(await page.locator('.gutter .marked').innerText(), '7');
    await editor.fill('namespace: ui\nname: fresh\nsteps:\n  - name: a\n    handler: noop\n');
    await page.getByRole('button', { name: 'Register' }).click();
    await page.getByText('ui/fresh@0.1.0 is registered.').waitFor(WAIT);
    const { handler } = await gq('{ handler(namespace: "ui", name: "fresh") { fullName } }');
    assert.equal(handler.fullName, 'ui/fresh@0.1.0');
    await shot(page, 'templates');
  });

  test('schedules list their next fires, and Pause from the page pauses one', async () => {
    const { createSchedule } = await gq(
      'mutation { createSchedule(input: {namespace: "ui", name: "approve_flow", cron: "0 3 * * *", context: {}}) { id } }',
    );
    await page.goto(`${server.url}/#/schedules`);
    const row = page.locator(`tr[data-schedule="${createSchedule.id}"]`);
    await row.getByText('0 3 * * *').waitFor(WAIT);
    await row.getByRole('button', { name: 'Pause' }).click();
    await row.getByRole('button', { name: 'Resume' }).waitFor(WAIT);
    const { schedule } = await gq('query($id: ID!) { schedule(id: $id) { paused } }', { id: createSchedule.id });
    assert.equal(schedule.paused, true);
    await shot(page, 'schedules');
  });

  test('a 200-step DAG paints, and the figure is printed', async () => {
    const id = await create('wide');
    const started = Date.now();
    await page.goto(`${server.url}/#/tasks/${id}`);
    await page.waitForFunction(() => document.querySelectorAll('[data-step]').length === 200, null, WAIT);
    const ms = Date.now() - started;
    console.log(`# 200-step task DAG: ${ms} ms from navigation to 200 nodes drawn`);
  });

  test('no page has a serious or critical axe-core violation, light or dark', async () => {
    const { task } = await gq('query { tasks(first: 1) { nodes { id } } }').then((d) => ({ task: d.tasks.nodes[0] }));
    const pages = ['/', '/#/tasks', `/#/tasks/${task.id}`, '/#/templates/ui/flaky/0.1.0', '/#/schedules'];
    for (const scheme of ['light', 'dark']) {
      await page.emulateMedia({ colorScheme: scheme });
      for (const path of pages) {
        await page.goto(`${server.url}${path}`);
        await page.locator('main h1').first().waitFor(WAIT);
        await page.waitForLoadState('networkidle');
        assert.deepEqual(await axe(page), [], `${scheme} ${path}`);
      }
    }
    await page.emulateMedia({ colorScheme: 'light' });
  });

  test('on a 390-px phone the pages fit the screen', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    for (const [path, name] of [['/', 'phone-dashboard'], ['/#/tasks', 'phone-tasks']]) {
      await page.goto(`${server.url}${path}`);
      await page.locator('main h1').first().waitFor(WAIT);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${path} is ${overflow} px wider than the screen`);
      await shot(page, name);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  test('keyboard alone opens a step', async () => {
    const id = await create('approve_flow');
    await page.goto(`${server.url}/#/tasks/${id}`);
    await page.locator('[data-step="gate"][data-status="WAITING"]').waitFor(WAIT);
    await page.locator('[data-step="prepare"]').focus();
    await page.keyboard.press('Enter');
    await page.getByRole('complementary', { name: 'Step prepare' }).waitFor(WAIT);
  });

  test('nothing came from anywhere but 127.0.0.1 and no page logged an error', () => {
    assert.ok(requested.length > 10, `requests seen: ${requested}`);
    assert.deepEqual(elsewhere(requested), []);
    assert.deepEqual(problems, []);
  });
});

describe('the explorer with auth on', () => {
  const secret = 'explorer-test-secret-0123456789-abcdef';
  const env = { TASKER_AUTH__ENABLED: 'true', TASKER_AUTH__SECRET: secret };
  let server;
  let browser;
  let page;

  before(async () => {
    server = await startTasker({ env });
    ({ browser, page } = await openBrowser(chromium));
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  const token = (...permissions) =>
    execFileSync(taskerBinary(), ['token', 'issue', ...permissions.flatMap((p) => ['--permission', p])], {
      env: { ...process.env, TASKER_AUTH__ENABLED: 'true', TASKER_AUTH__SECRET: secret },
    })
      .toString()
      .trim();

  test('without a token every page says UNAUTHENTICATED', async () => {
    await page.goto(`${server.url}/#/tasks`);
    await page.getByRole('alert').filter({ hasText: 'UNAUTHENTICATED' }).waitFor(WAIT);
  });

  test('with a read-only token the pages render and a refused action shows FORBIDDEN', async () => {
    const admin = { Authorization: `Bearer ${token('*')}` };
    await graphql(server.url, 'mutation($y: String!) { registerTaskTemplate(yaml: $y) { fullName } }', { y: TEMPLATES[0] }, admin);
    const { createTask } = await graphql(server.url, CREATE, { input: { namespace: 'ui', name: 'approve_flow', context: {} } }, admin);
    const id = createTask.task.id;
    await page.goto(`${server.url}/`);
    await page.getByRole('button', { name: 'Token' }).click();
    await page.getByLabel('Token or API key').fill(token('tasker.task:read', 'tasker.template:read', 'tasker.metrics:read'));
    await page.getByRole('button', { name: 'Use' }).click();
    await page.getByRole('button', { name: 'Signed in' }).waitFor(WAIT);
    await page.getByText('(this one)').waitFor(WAIT);
    await page.goto(`${server.url}/#/tasks/${id}`);
    await page.locator('[data-step="gate"][data-status="WAITING"]').waitFor(WAIT);
    await page.getByRole('button', { name: 'Cancel task' }).click();
    await page.getByRole('alert').filter({ hasText: 'FORBIDDEN' }).waitFor(WAIT);
    await until(server.url, id, (t) => t.status === 'IN_PROGRESS', 'the task left alone', admin);
    await shot(page, 'auth-forbidden');
  });
});

test('the bundle stays small: at most 1.5 MB gzipped', () => {
  const dir = new URL('../dist/assets/', import.meta.url);
  const bytes = readdirSync(dir).reduce((sum, f) => sum + gzipSync(readFileSync(new URL(f, dir))).length, 0);
  console.log(`# explorer bundle: ${(bytes / 1024).toFixed(1)} KiB gzipped`);
  assert.ok(bytes <= 1.5 * 1024 * 1024, `${bytes} bytes`);
});
