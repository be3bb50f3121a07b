// What an on-call engineer looks at first: what failed lately, what is
// stuck, how long work waits, and which replicas are alive.
import { useEffect, useState } from 'react';
import { gql, subscribe } from '../lib/api.js';
import { href } from '../lib/route.js';
import { duration } from '../lib/timeline.js';
import { Problem, Status, When, useDebounced, useLoad } from '../parts/common.jsx';

const QUERY = `query($w: OverviewWindow!) { overview(window: $w) {
  at bucketSeconds
  buckets { start total byStatus { status count } }
  tasksByStatus { status count }
  queues { tasksInProgress stepsReady stepsScheduled stepsWaiting leasesActive leasesExpired }
  oldestReadyStep { id name handler task { id namespace name } }
  oldestReadySince
  replicas { id thisOne lastSeenAt }
  replicasError
  leaseHolders { owner leases }
} }`;

const ORDER = ['PENDING', 'SCHEDULED', 'IN_PROGRESS', 'COMPLETE', 'ERROR', 'CANCELLED', 'RESOLVED_MANUALLY'];

function Bars({ buckets, bucketSeconds }) {
  const height = 120;
  const w = 24;
  const max = Math.max(1, ...buckets.map((b) => b.total));
  return (
    <svg className="chart" width={buckets.length * (w + 4)} height={height + 18} role="img" aria-label="Tasks created per bucket by status">
      {buckets.map((b, i) => {
        let y = height;
        const label = new Date(b.start).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
        return (
          <g key={b.start} transform={`translate(${i * (w + 4)},0)`}>
            <title>{`${label}: ${b.total} task(s) ${b.byStatus.map((s) => `${s.status} ${s.count}`).join(', ')}`}</title>
            {ORDER.flatMap((status) => {
              const c = b.byStatus.find((s) => s.status === status)?.count ?? 0;
              if (!c) return [];
              const h = (c / max) * height;
              y -= h;
              return [<rect key={status} className={`bar s-${status}`} x="0" y={y} width={w} height={h} />];
            })}
            {i % Math.ceil(buckets.length / 6) === 0 && (
              <text x="0" y={height + 14} className="tick">
                {label}
              </text>
            )}
          </g>
        );
      })}
      <desc>{`Each bar is ${bucketSeconds / 60} minutes.`}</desc>
    </svg>
  );
}

function failureRate(buckets) {
  return buckets.map((b) => {
    const count = (s) => b.byStatus.find((x) => x.status === s)?.count ?? 0;
    const finished = count('COMPLETE') + count('ERROR') + count('RESOLVED_MANUALLY');
    return finished ? count('ERROR') / finished : null;
  });
}

function Rate({ buckets }) {
  const rates = failureRate(buckets);
  const width = buckets.length * 28;
  const pts = rates.map((r, i) => (r == null ? null : `${i * 28 + 12},${80 - r * 76}`)).filter(Boolean);
  return (
    <svg className="chart" width={width} height="84" role="img" aria-label="Failure rate per bucket">
      <line x1="0" x2={width} y1="80" y2="80" className="axis" />
      <polyline className="rate" points={pts.join(' ')} />
      {rates.map((r, i) =>
        r == null ? null : (
          <circle key={buckets[i].start} cx={i * 28 + 12} cy={80 - r * 76} r="3" className="rate-dot">
            <title>{`${Math.round(r * 100)} % failed`}</title>
          </circle>
        ),
      )}
    </svg>
  );
}

export function Dashboard() {
  const [window, setWindow] = useState('HOUR');
  const { data, error, reload } = useLoad(() => gql(QUERY, { w: window }), [window]);
  const soon = useDebounced(reload, 500);
  useEffect(() => {
    const timer = setInterval(reload, 10_000);
    const stop = subscribe('subscription { events(names: ["task.*"]) { name } }', {}, soon, () => {});
    return () => {
      clearInterval(timer);
      stop();
    };
  }, [reload, soon]);
  const o = data?.overview;
  const since = o && o.oldestReadySince ? Date.parse(o.at) - Date.parse(o.oldestReadySince) : null;
  const windowStart = o?.buckets[0]?.start;
  return (
    <section aria-labelledby="dash-title">
      <div className="row">
        <h1 id="dash-title">Dashboard</h1>
        <div role="radiogroup" aria-label="Window" className="segmented">
          {['HOUR', 'DAY'].map((w) => (
            <button key={w} type="button" role="radio" aria-checked={window === w} onClick={() => setWindow(w)}>
              Last {w.toLowerCase()}
            </button>
          ))}
        </div>
      </div>
      <Problem error={error} />
      {o && (
        <>
          <div className="cards" aria-label="Tasks by status">
            {ORDER.map((status) => {
              const count = o.tasksByStatus.find((s) => s.status === status)?.count ?? 0;
              return (
                <a key={status} className={`card s-${status}`} href={href('tasks', { status, createdAfter: windowStart })}>
                  <span className="figure">{count}</span>
                  <Status value={status} />
                </a>
              );
            })}
          </div>
          <div className="panels">
            <div className="panel">
              <h2>Throughput</h2>
              <Bars buckets={o.buckets} bucketSeconds={o.bucketSeconds} />
            </div>
            <div className="panel">
              <h2>Failure rate</h2>
              <Rate buckets={o.buckets} />
              <p className="muted">ERROR among finished tasks, per bucket of creation.</p>
            </div>
            <div className="panel">
              <h2>Queues</h2>
              <dl className="figures">
                <dt>Tasks in progress</dt><dd>{o.queues.tasksInProgress}</dd>
                <dt>Steps ready</dt><dd>{o.queues.stepsReady}</dd>
                <dt>Steps scheduled</dt><dd>{o.queues.stepsScheduled}</dd>
                <dt>Steps waiting</dt><dd>{o.queues.stepsWaiting}</dd>
                <dt>Leases active</dt><dd>{o.queues.leasesActive}</dd>
                <dt>Leases expired</dt><dd className={o.queues.leasesExpired ? 'bad' : ''}>{o.queues.leasesExpired}</dd>
              </dl>
            </div>
            <div className="panel">
              <h2>Oldest ready step</h2>
              {o.oldestReadyStep ? (
                <p>
                  <a href={href(`tasks/${o.oldestReadyStep.task.id}`, { step: o.oldestReadyStep.name })}>
                    {o.oldestReadyStep.task.namespace}/{o.oldestReadyStep.task.name} · {o.oldestReadyStep.name}
                  </a>{' '}
                  ({o.oldestReadyStep.handler}) has waited <strong>{duration(since)}</strong> to be claimed.
                </p>
              ) : (
                <p className="muted">No step waits to be claimed.</p>
              )}
            </div>
            <div className="panel">
              <h2>Replicas</h2>
              <Problem error={o.replicasError ? { code: 'UNAVAILABLE', message: o.replicasError } : null} />
              <table>
                <thead><tr><th>Replica</th><th>Last seen</th></tr></thead>
                <tbody>
                  {o.replicas.map((r) => (
                    <tr key={r.id}>
                      <td>{r.id}{r.thisOne && <span className="muted"> (this one)</span>}</td>
                      <td><When at={r.lastSeenAt} /></td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <h3>Lease holders</h3>
              {o.leaseHolders.length ? (
                <ul>
                  {o.leaseHolders.map((h) => <li key={h.owner}>{h.owner}: {h.leases}</li>)}
                </ul>
              ) : (
                <p className="muted">No engine or worker holds a lease.</p>
              )}
            </div>
          </div>
          <p className="muted">Read at <When at={o.at} />; updates live.</p>
        </>
      )}
    </section>
  );
}
