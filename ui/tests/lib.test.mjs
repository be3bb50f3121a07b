// The explorer's pure parts: timelines from transitions, template problem
// locations, credentials as headers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { locate } from '../src/lib/locate.js';
import { duration, segments, span } from '../src/lib/timeline.js';

const at = (s) => new Date(Date.UTC(2026, 11, 7, 12, 0, s)).toISOString();

test('a retried step shows queued, running, backoff and running again', () => {
  const t = [
    { sequence: 1, from: null, to: 'PENDING', at: at(0), attempt: 0 },
    { sequence: 2, from: 'PENDING', to: 'ENQUEUED', at: at(1), attempt: 0 },
    { sequence: 3, from: 'ENQUEUED', to: 'IN_PROGRESS', at: at(2), attempt: 1 },
    { sequence: 4, from: 'IN_PROGRESS', to: 'WAITING_FOR_RETRY', at: at(4), attempt: 1 },
    { sequence: 5, from: 'WAITING_FOR_RETRY', to: 'IN_PROGRESS', at: at(7), attempt: 2 },
    { sequence: 6, from: 'IN_PROGRESS', to: 'COMPLETE', at: at(8), attempt: 2 },
  ];
  const got = segments([...t].reverse(), Date.parse(at(60)));
  assert.deepEqual(
    got.map((s) => [s.kind, (s.end - s.start) / 1000, s.attempt]),
    [['queued', 1, 0], ['running', 2, 1], ['backoff', 3, 1], ['running', 1, 2]],
  );
  const { start, end } = span([got], Date.parse(at(0)), Date.parse(at(60)));
  assert.equal((end - start) / 1000, 8, "from the task's creation to the last transition");
});

test('a step still running lasts until now', () => {
  const got = segments([{ sequence: 1, to: 'IN_PROGRESS', at: at(0), attempt: 1 }], Date.parse(at(5)));
  assert.equal(got[0].end - got[0].start, 5000);
});

test('durations read as people say them', () => {
  assert.equal(duration(12), '12 ms');
  assert.equal(duration(1500), '1.50 s');
  assert.equal(duration(75_000), '1 min 15 s');
  assert.equal(duration(null), '–');
});

test('a problem path points at its step and key in the YAML', () => {
  const yaml = [
    'name: x', // 1
    'context_schema:', // 2
    '  type: object', // 3
    'steps:', // 4
    '  - name: a', // 5
    '    handler: noop', // 6
    '  - name: b', // 7
    '    handler: nope', // 8
    '    depends_on: [zz]', // 9
    '  - {name: c, handler: noop}', // 10
  ].join('\n');
  assert.equal(locate(yaml, 'steps[1].handler'), 8);
  assert.equal(locate(yaml, 'steps[1].depends_on'), 9);
  assert.equal(locate(yaml, 'steps[0]'), 5);
  assert.equal(locate(yaml, 'steps[2].handler'), 10);
  assert.equal(locate(yaml, 'context_schema'), 2);
  assert.equal(locate(yaml, 'steps[7]'), null);
  assert.equal(locate(yaml, ''), null);
});
