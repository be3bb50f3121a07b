// Example handlers. Each gets the task's context, its parents' results and the
// step's config from the template, and returns this step's results, which the
// engine hands to the steps that depend on it.
import { type Handler, RetryLater } from './worker.js';

type Json = Record<string, unknown>;
const asObject = (value: unknown): Json => (value && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : {});

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason);
    });
  });

/**
 * Looks the customer up and prices the order. `EXAMPLE_WORK_MS` makes it take
 * that long, to watch heartbeats and lease expiry.
 */
export const enrichOrder =
  (workerId: string, workMs: number): Handler =>
  async (job) => {
    const context = asObject(job.context);
    const items = Array.isArray(context.items) ? context.items.map(asObject) : [];
    if (workMs > 0) {
      job.log('working', { ms: workMs });
      await sleep(workMs, job.signal);
    }
    const total = items.reduce((sum, item) => sum + Number(item.price ?? 0) * Number(item.quantity ?? 1), 0);
    const config = asObject(job.config);
    return {
      customer: String(context.customer ?? 'unknown'),
      total,
      currency: String(config.currency ?? 'EUR'),
      enriched_by: workerId,
      attempt: job.attempt,
      validated: asObject(job.parentResults),
    };
  };

/**
 * Asks a carrier for a quote; the carrier is "busy" on the first
 * `context.carrier_busy_attempts` attempts and says when to come back.
 */
export const quoteShipping: Handler = async (job) => {
  const busy = Number(asObject(job.context).carrier_busy_attempts ?? 0);
  if (job.attempt <= busy) {
    throw new RetryLater('carrier busy', 1);
  }
  const enriched = asObject(asObject(job.parentResults).enrich);
  return { carrier: 'parcel-post', price: Number(enriched.total ?? 0) > 100 ? 0 : 4.9, quoted_on_attempt: job.attempt };
};
