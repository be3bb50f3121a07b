// A step's history as bars on a timeline: each transition starts a segment
// that lasts until the next one (or until `now` while the step is not done).
// Running, backoff, waiting and queued time each get a kind of their own.

const KIND = {
  IN_PROGRESS: 'running',
  WAITING_FOR_RETRY: 'backoff',
  WAITING: 'waiting',
  ENQUEUED: 'queued',
};

export const FINISHED_STEP = ['COMPLETE', 'ERROR', 'CANCELLED', 'SKIPPED', 'RESOLVED_MANUALLY'];

/** Segments `{kind, start, end, attempt}` (ms since epoch) of one step. */
export function segments(transitions, now) {
  const sorted = [...transitions].sort((a, b) => a.sequence - b.sequence);
  const out = [];
  sorted.forEach((t, i) => {
    const kind = KIND[t.to];
    if (!kind) return;
    const start = Date.parse(t.at);
    const next = sorted[i + 1];
    const end = next ? Date.parse(next.at) : now;
    out.push({ kind, start, end: Math.max(start, end), attempt: t.attempt ?? 0, to: t.to });
  });
  return out;
}

/** The span a set of steps' segments cover, never empty. */
export function span(rows, fallbackStart, now) {
  let start = fallbackStart;
  let end = fallbackStart;
  for (const row of rows) {
    for (const s of row) {
      start = Math.min(start, s.start);
      end = Math.max(end, s.end);
    }
  }
  if (end <= start) end = Math.max(now, start + 1);
  return { start, end };
}

export function duration(ms) {
  if (ms == null || Number.isNaN(ms)) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
  return `${Math.floor(ms / 3_600_000)} h ${Math.round((ms % 3_600_000) / 60_000)} min`;
}
