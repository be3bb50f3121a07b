// Every step's attempts on one time axis: running, queued, backoff between
// retries and waits each in their own colour.
import { duration, segments, span } from '../lib/timeline.js';

export function Gantt({ steps, createdAt, now, live, onSelect }) {
  const rows = steps.map((s) => segments(s.transitions, now));
  const { start, end } = span(rows, Date.parse(createdAt), now);
  const width = 640;
  const x = (t) => ((t - start) / (end - start)) * width;
  return (
    <div className="gantt">
      <p className="muted">
        {duration(end - start)} from creation to {live ? 'now' : 'the last transition'} ·{' '}
        <span className="key running">running</span> <span className="key queued">queued</span>{' '}
        <span className="key backoff">backoff</span> <span className="key waiting">waiting</span>
      </p>
      <table>
        <tbody>
          {steps.map((s, i) => (
            <tr key={s.id}>
              <th scope="row">
                <button type="button" className="link" onClick={() => onSelect(s.name)}>
                  {s.name}
                </button>
              </th>
              <td>
                <svg width={width} height="16" role="img" aria-label={`${s.name}: ${s.attempts} attempt(s), ${s.status}`}>
                  {rows[i].map((seg) => (
                    <rect
                      key={`${seg.start}-${seg.kind}`}
                      className={`seg ${seg.kind}`}
                      x={x(seg.start)}
                      width={Math.max(1, x(seg.end) - x(seg.start))}
                      y="2"
                      height="12"
                    >
                      <title>{`${seg.kind}, attempt ${seg.attempt}: ${duration(seg.end - seg.start)}`}</title>
                    </rect>
                  ))}
                </svg>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
