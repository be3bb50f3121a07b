// Every task, filtered and paged (Relay cursors), with visible rows kept
// live from the event stream and bulk cancel / retry of a selection.
import { useEffect, useMemo, useState } from 'react';
import { gql, subscribe } from '../lib/api.js';
import { href } from '../lib/route.js';
import { duration } from '../lib/timeline.js';
import { Problem, Status, When, useDebounced, useLoad } from '../parts/common.jsx';

const STATUSES = ['PENDING', 'SCHEDULED', 'IN_PROGRESS', 'COMPLETE', 'ERROR', 'CANCELLED', 'RESOLVED_MANUALLY'];
const FINISHED = ['COMPLETE', 'ERROR', 'CANCELLED', 'RESOLVED_MANUALLY'];
const PAGE = 25;

const QUERY = `query($f: TaskFilter, $first: Int, $after: String, $last: Int, $before: String) {
  tasks(filter: $f, first: $first, after: $after, last: $last, before: $before) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    nodes { id namespace name version status initiator tags createdAt completedAt }
  }
  namespaces { name }
}`;

const iso = (local) => (local ? new Date(local).toISOString() : undefined);
const local = (isoText) => {
  if (!isoText) return '';
  const d = new Date(isoText);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
};

/** The filter as the URL holds it, and as GraphQL takes it. */
function filterOf(params) {
  const f = {};
  for (const key of ['namespace', 'name', 'search', 'createdAfter', 'createdBefore']) {
    if (params.get(key)) f[key] = params.get(key);
  }
  const status = params.get('status');
  if (status) f.status = status.split(',');
  const tags = params.get('tags');
  if (tags) f.tags = tags.split(',').map((t) => t.trim()).filter(Boolean);
  return f;
}

function Filters({ params }) {
  const [form, setForm] = useState(() => Object.fromEntries(params));
  const set = (key) => (e) => setForm({ ...form, [key]: e.target.value });
  const statuses = new Set((form.status ?? '').split(',').filter(Boolean));
  const toggle = (s) => {
    const next = new Set(statuses);
    if (next.has(s)) next.delete(s);
    else next.add(s);
    setForm({ ...form, status: [...next].join(',') });
  };
  const apply = (e) => {
    e.preventDefault();
    const kept = Object.fromEntries(Object.entries(form).filter(([k, v]) => v && !['after', 'before'].includes(k)));
    window.location.hash = href('tasks', kept);
  };
  return (
    <form className="filters" onSubmit={apply} aria-label="Filter tasks">
      <label>Search <input type="search" value={form.search ?? ''} onChange={set('search')} placeholder="id, correlation id or initiator" /></label>
      <label>Namespace <input value={form.namespace ?? ''} onChange={set('namespace')} list="namespaces" /></label>
      <label>Name <input value={form.name ?? ''} onChange={set('name')} /></label>
      <label>Tags <input value={form.tags ?? ''} onChange={set('tags')} placeholder="a,b" /></label>
      <label>Created after <input type="datetime-local" value={local(form.createdAfter)} onChange={(e) => setForm({ ...form, createdAfter: iso(e.target.value) })} /></label>
      <label>Created before <input type="datetime-local" value={local(form.createdBefore)} onChange={(e) => setForm({ ...form, createdBefore: iso(e.target.value) })} /></label>
      <fieldset>
        <legend>Status</legend>
        {STATUSES.map((s) => (
          <label key={s} className="check">
            <input type="checkbox" checked={statuses.has(s)} onChange={() => toggle(s)} /> {s}
          </label>
        ))}
      </fieldset>
      <button type="submit">Apply</button>
      <a href={href('tasks')}>Clear</a>
    </form>
  );
}

export function Tasks({ params }) {
  const key = params.toString();
  const filter = useMemo(() => filterOf(params), [key]);
  const page = params.get('before')
    ? { last: PAGE, before: params.get('before') }
    : { first: PAGE, after: params.get('after') ?? undefined };
  const { data, error, reload } = useLoad(() => gql(QUERY, { f: filter, ...page }), [key]);
  const [selected, setSelected] = useState(new Set());
  const [bulk, setBulk] = useState(null);
  const soon = useDebounced(reload, 300);
  const visible = data?.tasks.nodes ?? [];
  const ids = new Set(visible.map((t) => t.id));
  const firstPage = !params.get('after') && !params.get('before');
  useEffect(() => {
    const stop = subscribe('subscription { events(names: ["task.*"]) { name taskId } }', {}, (d) => {
      const e = d.events;
      if (ids.has(e.taskId) || (firstPage && e.name === 'task.created')) soon();
    });
    return stop;
  }, [[...ids].join(), firstPage, soon]);
  useEffect(() => setSelected(new Set()), [key]);

  const toggle = (id) => {
    const next = new Set(selected);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setSelected(next);
  };
  const act = async (label, mutation, eligible) => {
    const chosen = visible.filter((t) => selected.has(t.id));
    const targets = chosen.filter(eligible);
    const failures = [];
    for (const t of targets) {
      try {
        await gql(mutation, { id: t.id });
      } catch (e) {
        failures.push(`${t.id.slice(0, 8)}: ${e.code} ${e.message}`);
      }
    }
    setBulk({ label, done: targets.length - failures.length, skipped: chosen.length - targets.length, failures });
    setSelected(new Set());
    reload();
  };
  const nav = (extra) => href('tasks', { ...Object.fromEntries([...params].filter(([k]) => !['after', 'before'].includes(k))), ...extra });
  const info = data?.tasks.pageInfo;
  return (
    <section aria-labelledby="tasks-title">
      <h1 id="tasks-title">Tasks</h1>
      <Filters key={key} params={params} />
      <datalist id="namespaces">{data?.namespaces.map((n) => <option key={n.name} value={n.name} />)}</datalist>
      <Problem error={error} />
      <div className="row">
        <span>{data ? `${data.tasks.totalCount} task(s)` : 'Loading…'}</span>
        <span className="bulk">
          <button type="button" disabled={!selected.size} onClick={() => act('Cancelled', 'mutation($id: ID!) { cancelTask(id: $id, reason: "cancelled from the explorer") { id } }', (t) => !FINISHED.includes(t.status))}>
            Cancel selected
          </button>
          <button type="button" disabled={!selected.size} onClick={() => act('Retried', 'mutation($id: ID!) { retryTask(id: $id) { id } }', (t) => t.status === 'ERROR')}>
            Retry selected
          </button>
        </span>
      </div>
      {bulk && (
        <div className="notice" role="status">
          {bulk.label} {bulk.done}; {bulk.skipped} skipped (not eligible).
          {bulk.failures.map((f) => <div key={f} className="problem">{f}</div>)}
        </div>
      )}
      <div className="scroll">
        <table className="tasks">
          <thead>
            <tr>
              <th><span className="sr-only">Select</span></th>
              <th>Task</th><th>Template</th><th>Status</th><th>Created</th><th>Took</th><th>Initiator</th><th>Tags</th>
            </tr>
          </thead>
          <tbody>
            {visible.map((t) => (
              <tr key={t.id} data-task={t.id} data-status={t.status}>
                <td><input type="checkbox" aria-label={`Select ${t.id}`} checked={selected.has(t.id)} onChange={() => toggle(t.id)} /></td>
                <td><a href={href(`tasks/${t.id}`)} className="mono">{t.id.slice(0, 8)}…{t.id.slice(-4)}</a></td>
                <td>{t.namespace}/{t.name}@{t.version}</td>
                <td><Status value={t.status} /></td>
                <td><When at={t.createdAt} /></td>
                <td>{t.completedAt ? duration(Date.parse(t.completedAt) - Date.parse(t.createdAt)) : '–'}</td>
                <td>{t.initiator ?? ''}</td>
                <td>{t.tags.join(', ')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <nav className="pager" aria-label="Pages">
        <a href={info?.hasPreviousPage ? nav({ before: info.startCursor }) : undefined} aria-disabled={!info?.hasPreviousPage}>← Newer</a>
        <a href={info?.hasNextPage ? nav({ after: info.endCursor }) : undefined} aria-disabled={!info?.hasNextPage}>Older →</a>
      </nav>
    </section>
  );
}
