// `npm start`: a worker for the handlers of examples/worker-ts/order_enrichment.yaml.
// Configured by the environment: TASKER_URL (http://127.0.0.1:8080),
// TASKER_TOKEN (sent as a bearer token), WORKER_ID, LEASE_SECONDS (30),
// CONCURRENCY (4), POLL_SECONDS (30), EXAMPLE_WORK_MS (0).
import { hostname } from 'node:os';
import { TaskerClient } from '@tasker/client';
import WebSocket from 'ws';
import { enrichOrder, quoteShipping } from './handlers.js';
import { Worker, jsonLog } from './worker.js';

const env = (name: string, fallback: string) => process.env[name]?.trim() || fallback;
const positive = (name: string, fallback: number) => {
  const value = Number(env(name, String(fallback)));
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number`);
  return value;
};

const workerId = env('WORKER_ID', `worker-ts-${hostname()}-${process.pid}`);
const token = process.env.TASKER_TOKEN?.trim();
const client = new TaskerClient({
  url: env('TASKER_URL', 'http://127.0.0.1:8080'),
  headers: token ? { Authorization: `Bearer ${token}` } : {},
  webSocketImpl: WebSocket,
});
const worker = new Worker({
  client,
  workerId,
  handlers: {
    enrich_order: enrichOrder(workerId, positive('EXAMPLE_WORK_MS', 0)),
    quote_shipping: quoteShipping,
  },
  leaseSeconds: positive('LEASE_SECONDS', 30),
  concurrency: positive('CONCURRENCY', 4),
  pollSeconds: positive('POLL_SECONDS', 30),
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    jsonLog('stopping: finishing the steps in hand', { signal });
    worker.stop();
  });
}
await worker.run();
