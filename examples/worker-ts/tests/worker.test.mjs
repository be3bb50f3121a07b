// End to end: a real `tasker serve`, the template whose middle steps are
// external, and this worker run as its own process (`node dist/main.js`, as
// `npm start` runs it). Build first: `npm run build`.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { CreateTaskDocument, GetTaskDocument, RegisterTaskTemplateDocument, TaskerClient, TaskerError } from '@tasker/client';
import { startTasker } from '../../../tests/node/tasker.mjs';

const template = readFileSync(new URL('../order_enrichment.yaml', import.meta.url), 'utf8');
const main = new URL('../dist/main.js', import.meta.url).pathname;
let server;
let client;

/** A worker process, killed when the test that started it ends. */
function startWorker(t, id, env = {}) {
  const child = spawn(process.execPath, [main], {
    env: { ...process.env, TASKER_URL: server.url, WORKER_ID: id, LEASE_SECONDS: '2', POLL_SECONDS: '30', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines = [];
  let buffered = '';
  child.stdout.on('data', (chunk) => {
    buffered += chunk;
    const parts = buffered.split('\n');
    buffered = parts.pop();
    for (const line of parts) lines.push(JSON.parse(line));
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const worker = { child, lines, exited, stderr: () => stderr };
  t.after(() => child.kill('SIGKILL'));
  return worker;
}

async function until(what, check, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const fetchTask = async (id) => (await client.request(GetTaskDocument, { id })).task;
const step = (task, name) => task.steps.find((s) => s.name === name);

before(async () => {
  server = await startTasker();
  client = new TaskerClient({ url: server.url });
  const registered = await client.request(RegisterTaskTemplateDocument, { yaml: template });
  assert.equal(registered.registerTaskTemplate.fullName, 'shop/order_enrichment@1.0.0');
});

after(async () => {
  await server?.stop();
});

test('the worker completes its steps and its results reach the next step', async (t) => {
  const worker = startWorker(t, 'ts-1');
  const context = { customer: 'Ada', items: [{ price: 40, quantity: 2 }, { price: 5 }], carrier_busy_attempts: 1 };
  const created = await client.request(CreateTaskDocument, { input: { namespace: 'shop', name: 'order_enrichment', context } });
  const id = created.createTask.task.id;
  const task = await until('the task to finish', async () => {
    const t = await fetchTask(id);
    return ['COMPLETE', 'ERROR'].includes(t.status) ? t : null;
  });
  assert.equal(task.status, 'COMPLETE', JSON.stringify(task.steps));
  const enrich = step(task, 'enrich');
  assert.equal(enrich.results.total, 85);
  assert.equal(enrich.results.enriched_by, 'ts-1');
  // The carrier was busy once: failStep with retryAfterSeconds, then success.
  const quote = step(task, 'quote');
  assert.equal(quote.attempts, 2);
  assert.equal(quote.results.quoted_on_attempt, 2);
  // `echo` returns its parents' results: the worker's output went downstream.
  const report = step(task, 'report');
  assert.deepEqual(report.results.parents.enrich, enrich.results);
  assert.deepEqual(report.results.parents.quote, quote.results);
  assert.ok(worker.lines.some((l) => l.message === 'step failed' && l.retryAfterSeconds === 1), JSON.stringify(worker.lines));
  worker.child.kill('SIGTERM');
  assert.equal(await worker.exited, 0, worker.stderr());
});

test('a worker killed mid-step loses its lease and another worker finishes the step', async (t) => {
  const slow = startWorker(t, 'ts-slow', { EXAMPLE_WORK_MS: '600000' });
  const created = await client.request(CreateTaskDocument, {
    input: { namespace: 'shop', name: 'order_enrichment', context: { customer: 'Grace', items: [{ price: 10 }] } },
  });
  const id = created.createTask.task.id;
  await until('the slow worker to start working', () => slow.lines.some((l) => l.message === 'working' && l.taskId === id));
  // Heartbeats keep the 2-second lease alive well past its first expiry.
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  assert.equal(step(await fetchTask(id), 'enrich').status, 'IN_PROGRESS');
  slow.child.kill('SIGKILL');
  await slow.exited;
  const killedAt = Date.now();

  const rescuer = startWorker(t, 'ts-rescuer');
  const task = await until('the task to finish', async () => {
    const t = await fetchTask(id);
    return ['COMPLETE', 'ERROR'].includes(t.status) ? t : null;
  });
  assert.equal(task.status, 'COMPLETE', JSON.stringify(task.steps));
  const enrich = step(task, 'enrich');
  assert.equal(enrich.attempts, 2);
  assert.equal(enrich.results.enriched_by, 'ts-rescuer');
  assert.equal(enrich.results.attempt, 2);
  // Sooner than the 30-second poll: workAvailable woke the rescuer when the
  // expired lease made the step ready again.
  assert.ok(Date.now() - killedAt < 20_000, `took ${Date.now() - killedAt} ms`);
  rescuer.child.kill('SIGTERM');
  await rescuer.exited;
});

test('the client reports GraphQL errors with their extensions.code', async () => {
  await assert.rejects(
    client.request(CreateTaskDocument, { input: { name: 'no_such_template', context: {} } }),
    (error) => error instanceof TaskerError && error.code === 'NOT_FOUND',
  );
});
