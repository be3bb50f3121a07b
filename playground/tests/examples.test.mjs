// The playground's example tabs must stay valid against the checked-in
// schema: a renamed field would otherwise greet newcomers with errors.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { buildSchema, parse, validate } from 'graphql';
import { exampleTabs } from '../src/examples.js';
import { graphql, startTasker } from '../../tests/node/tasker.mjs';

const schema = buildSchema(readFileSync(new URL('../../schema.graphql', import.meta.url), 'utf8'));

test('every example operation validates against schema.graphql', () => {
  assert.ok(exampleTabs.length >= 4);
  for (const tab of exampleTabs) {
    const errors = validate(schema, parse(tab.query));
    assert.deepEqual(errors.map(String), [], tab.query);
    if (tab.variables) JSON.parse(tab.variables);
  }
});

test('the examples cover registering, creating, following and inspecting', () => {
  const text = exampleTabs.map((tab) => tab.query).join('\n');
  for (const field of ['registerTaskTemplate', 'createTask', 'taskUpdated', 'events', 'dependencyGraph']) {
    assert.match(text, new RegExp(`\\b${field}\\b`), field);
  }
});

test('the register and create examples work against a running server', async () => {
  const server = await startTasker();
  try {
    const [register, create] = exampleTabs;
    const registered = await graphql(server.url, register.query, JSON.parse(register.variables));
    assert.equal(registered.registerTaskTemplate.available, true);
    const created = await graphql(server.url, create.query, JSON.parse(create.variables));
    assert.equal(created.createTask.created, true);
  } finally {
    await server.stop();
  }
});
