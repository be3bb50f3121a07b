// Starts a real `tasker serve` (the binary cargo built) on a free loopback
// port with a throwaway SQLite database, for tests that drive it from outside.
// Shared by the Node.js tests (playground, TypeScript worker); it needs no
// package of its own.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const taskerBinary = () =>
  process.env.TASKER_BIN ?? join(repo, 'target', 'debug', 'tasker');

function freePort() {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
  });
}

export async function startTasker({ env = {} } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'tasker-node-test-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const args = ['--database-url', `sqlite://${join(dir, 'tasker.db')}?mode=rwc`, 'serve', '--listen', `127.0.0.1:${port}`];
  const child = spawn(taskerBinary(), args, {
    cwd: repo,
    env: { ...process.env, TASKER_LOG__FORMAT: 'json', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-20_000);
  });
  const exited = new Promise((ok) => child.once('exit', (code, signal) => ok({ code, signal })));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`tasker exited with ${child.exitCode} before it was ready:\n${stderr}`);
    }
    try {
      const res = await fetch(`${url}/health/ready`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`tasker was not ready within 60 s:\n${stderr}`);
    }
    await new Promise((ok) => setTimeout(ok, 100));
  }
  return {
    url,
    wsUrl: `ws://127.0.0.1:${port}/graphql/ws`,
    logs: () => stderr,
    async stop() {
      child.kill('SIGTERM');
      // A server that does not stop is a failure, not a hung test run.
      const timer = new Promise((ok) => setTimeout(() => ok('timeout'), 30_000).unref());
      const stopped = await Promise.race([exited, timer]);
      rmSync(dir, { recursive: true, force: true });
      if (stopped === 'timeout') {
        child.kill('SIGKILL');
        throw new Error(`tasker did not stop within 30 s of SIGTERM:\n${stderr}`);
      }
    },
  };
}

/** One GraphQL request over HTTP; throws on transport or GraphQL errors. */
export async function graphql(url, query, variables = {}, headers = {}) {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  if (body.errors?.length) {
    throw new Error(`GraphQL errors: ${JSON.stringify(body.errors)}`);
  }
  return body.data;
}
