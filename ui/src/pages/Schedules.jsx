// Cron schedules: when each fires next, what its last fires did, and pause,
// resume or delete.
import { gql } from '../lib/api.js';
import { href } from '../lib/route.js';
import { Action, Problem, When, useLoad } from '../parts/common.jsx';

const LIST = `{ schedules { id namespace name version cron timezone paused source overlap catchUp
  nextFireTimes fired missed recentFires { fireAt outcome taskId } } }`;

export function Schedules() {
  const { data, error, reload } = useLoad(() => gql(LIST), []);
  const list = data?.schedules ?? [];
  const act = (mutation, id) => () => gql(mutation, { id });
  return (
    <section aria-labelledby="schedules-title">
      <h1 id="schedules-title">Schedules</h1>
      <Problem error={error} />
      {data && !list.length && <p className="muted">No schedule. Create one with createSchedule or a template's schedules.</p>}
      <div className="scroll">
        <table>
          <thead>
            <tr><th>Template</th><th>Cron</th><th>Next fires</th><th>Fired / missed</th><th>Latest fires</th><th>Actions</th></tr>
          </thead>
          <tbody>
            {list.map((s) => (
              <tr key={s.id} data-schedule={s.id}>
                <td>
                  <a href={href('tasks', { namespace: s.namespace, name: s.name })}>{s.namespace}/{s.name}{s.version ? `@${s.version}` : ''}</a>
                  {s.source && <div className="muted">{s.source}</div>}
                </td>
                <td><code>{s.cron}</code> <span className="muted">{s.timezone}</span>{s.paused && <div className="bad">paused</div>}</td>
                <td>{s.nextFireTimes.slice(0, 2).map((t) => <div key={t}><When at={t} /></div>)}</td>
                <td>{s.fired} / {s.missed}</td>
                <td>
                  {s.recentFires.slice(0, 3).map((f) => (
                    <div key={f.fireAt}>
                      <When at={f.fireAt} /> {f.taskId ? <a href={href(`tasks/${f.taskId}`)}>{f.outcome}</a> : f.outcome}
                    </div>
                  ))}
                </td>
                <td className="actions">
                  {s.paused ? (
                    <Action label="Resume" act={act('mutation($id: ID!) { resumeSchedule(id: $id) { id } }', s.id)} done={reload} />
                  ) : (
                    <Action label="Pause" act={act('mutation($id: ID!) { pauseSchedule(id: $id) { id } }', s.id)} done={reload} />
                  )}
                  <Action label="Delete" danger act={act('mutation($id: ID!) { deleteSchedule(id: $id) }', s.id)} done={reload} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
