// One task: its DAG live, the critical path and bottlenecks, a timeline of
// attempts, a drawer per step, the audit trail, and the operator actions.
import { useEffect, useRef, useState } from 'react';
import { gql, subscribe } from '../lib/api.js';
import { href } from '../lib/route.js';
import { FINISHED_STEP, duration } from '../lib/timeline.js';
import { Action, Json, Problem, Status, When } from '../parts/common.jsx';
import { Dag } from '../parts/Dag.jsx';
import { Gantt } from '../parts/Gantt.jsx';

const TASK = `fragment Whole on Task {
  id namespace name version status executionStatus context initiator sourceSystem reason tags
  correlationId traceId createdAt updatedAt completedAt priority runAt queueReason concurrencyGroup
  parent { id name } children { id name status }
  transitions { from to at reason sequence }
  steps {
    id name handler kind status attempts maxAttempts retryable external condition config results
    error { message kind retryable } nextAttemptAt waitingFor startedAt completedAt durationMs
    mapIndex mapStepId childTasks { id status }
    dependsOn { name }
    transitions { from to at attempt reason sequence }
  }
  dependencyGraph {
    impactScore criticalityLevel
    criticalPath { steps estimatedDurationMs remainingDurationMs }
    bottleneckAnalysis { stepName severity score blockedDownstream reason }
  }
}`;

const TERMINAL = ['COMPLETE', 'ERROR', 'CANCELLED', 'RESOLVED_MANUALLY'];

function Transitions({ list, caption }) {
  return (
    <table className="transitions">
      <caption>{caption}</caption>
      <thead><tr><th>#</th><th>From</th><th>To</th><th>At</th><th>Attempt</th><th>Reason</th></tr></thead>
      <tbody>
        {list.map((t) => (
          <tr key={t.sequence}>
            <td>{t.sequence}</td><td>{t.from ?? '–'}</td><td>{t.to}</td><td><When at={t.at} /></td>
            <td>{t.attempt ?? ''}</td><td>{t.reason ?? ''}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function StepDrawer({ step, bottleneck, close, changed }) {
  const [results, setResults] = useState('{}');
  const [note, setNote] = useState('');
  const parsed = () => {
    try {
      return JSON.parse(results);
    } catch (e) {
      throw Object.assign(new Error(`results: ${e.message}`), { code: 'BAD_USER_INPUT' });
    }
  };
  const run = (query, variables) => () => gql(query, variables);
  return (
    <aside className="drawer" aria-label={`Step ${step.name}`}>
      <div className="row">
        <h2>{step.name}</h2>
        <button type="button" onClick={close} aria-label="Close step">×</button>
      </div>
      <p><Status value={step.status} /> {step.kind} · handler <code>{step.handler}</code>{step.external && ' (external)'}</p>
      {bottleneck && <p className="problem">Bottleneck ({bottleneck.severity}): {bottleneck.reason}</p>}
      <dl className="figures">
        <dt>Attempts</dt><dd>{step.attempts} of {step.maxAttempts}{step.retryable ? '' : ' (not retryable)'}</dd>
        <dt>Started</dt><dd><When at={step.startedAt} /></dd>
        <dt>Finished</dt><dd><When at={step.completedAt} /></dd>
        <dt>Duration</dt><dd>{duration(step.durationMs)}</dd>
        {step.nextAttemptAt && (<><dt>Next attempt</dt><dd><When at={step.nextAttemptAt} /></dd></>)}
        {step.waitingFor && (<><dt>Held back by</dt><dd>{step.waitingFor}</dd></>)}
        {step.condition && (<><dt>When</dt><dd><code>{step.condition}</code></dd></>)}
        {step.mapIndex != null && (<><dt>Map item</dt><dd>#{step.mapIndex}</dd></>)}
      </dl>
      {step.error && (
        <div className="problem"><code>{step.error.kind}</code> {step.error.message}{step.error.retryable ? ' (retryable)' : ''}</div>
      )}
      {step.childTasks.length > 0 && (
        <p>Child tasks: {step.childTasks.map((c) => <a key={c.id} href={href(`tasks/${c.id}`)}>{c.id.slice(0, 8)} ({c.status}) </a>)}</p>
      )}
      <Json label="Results" value={step.results} open={step.results != null} />
      <Json label="Config" value={step.config} />
      <div className="actions">
        {step.status === 'ERROR' && <Action label="Retry step" act={run('mutation($id: ID!) { retryStep(id: $id) { id } }', { id: step.id })} done={changed} />}
        {step.kind === 'APPROVAL' && step.status === 'WAITING' && (
          <>
            <label>Comment <input value={note} onChange={(e) => setNote(e.target.value)} /></label>
            <Action label="Approve" act={run('mutation($id: ID!, $c: String) { approveStep(id: $id, comment: $c) { id } }', { id: step.id, c: note || null })} done={changed} />
            <Action label="Reject" danger act={() => gql('mutation($id: ID!, $r: String!) { rejectStep(id: $id, reason: $r) { id } }', { id: step.id, r: note || 'rejected from the explorer' })} done={changed} />
          </>
        )}
        {!FINISHED_STEP.includes(step.status) || step.status === 'ERROR' ? (
          <details>
            <summary>Resolve by hand</summary>
            <label>Results (JSON) <textarea value={results} onChange={(e) => setResults(e.target.value)} rows="3" /></label>
            <Action label="Resolve manually" act={() => gql('mutation($id: ID!, $r: JSON) { resolveStepManually(id: $id, results: $r, reason: "resolved from the explorer") { id } }', { id: step.id, r: parsed() })} done={changed} />
          </details>
        ) : null}
      </div>
      <Transitions list={step.transitions} caption="Step transitions" />
    </aside>
  );
}

export function TaskDetail({ id, params }) {
  const [task, setTask] = useState(null);
  const [error, setError] = useState(null);
  const [traceUrl, setTraceUrl] = useState(null);
  const [selected, setSelected] = useState(params.get('step'));
  const [now, setNow] = useState(Date.now());
  // taskUpdated ends once the task finishes; an action (a retry) may start
  // it again, so every action opens a fresh subscription.
  const [generation, setGeneration] = useState(0);
  const changed = () => setGeneration((g) => g + 1);
  // The subscription's first message is the task as it is now; the query
  // only fills in until then (and reads the settings), so a slow answer
  // never overwrites a newer state.
  const fromSocket = useRef(false);
  useEffect(() => {
    fromSocket.current = false;
    gql(`query($id: ID!) { task(id: $id) { ...Whole } explorer { traceUrl } } ${TASK}`, { id })
      .then((d) => {
        setTraceUrl(d.explorer.traceUrl);
        if (!d.task) throw Object.assign(new Error(`no task ${id}`), { code: 'NOT_FOUND' });
        if (!fromSocket.current) setTask(d.task);
      })
      .catch(setError);
    const stop = subscribe(
      `subscription($id: ID!) { taskUpdated(id: $id) { ...Whole } } ${TASK}`,
      { id },
      (d) => {
        fromSocket.current = true;
        setTask(d.taskUpdated);
        setError(null);
      },
      setError,
    );
    const tick = setInterval(() => setNow(Date.now()), 1000);
    return () => {
      stop();
      clearInterval(tick);
    };
  }, [id, generation]);
  if (!task) return <section><h1>Task</h1><Problem error={error} />{!error && <p>Loading…</p>}</section>;
  const graph = task.dependencyGraph;
  const statuses = Object.fromEntries(task.steps.map((s) => [s.name, s.status]));
  const edges = task.steps.flatMap((s) => s.dependsOn.map((p) => ({ from: p.name, to: s.name })));
  const bottlenecks = graph.bottleneckAnalysis.map((b) => b.stepName);
  const step = task.steps.find((s) => s.name === selected);
  const live = !TERMINAL.includes(task.status);
  const trace = task.traceId && traceUrl ? traceUrl.replace('{trace_id}', task.traceId) : null;
  return (
    <section aria-labelledby="task-title" className={step ? 'with-drawer' : ''}>
      <div className="row">
        <h1 id="task-title">{task.namespace}/{task.name}@{task.version}</h1>
        <Status value={task.status} />
      </div>
      <Problem error={error} />
      <dl className="figures wide">
        <dt>Id</dt><dd className="mono">{task.id}</dd>
        <dt>Created</dt><dd><When at={task.createdAt} /></dd>
        <dt>Finished</dt><dd><When at={task.completedAt} /></dd>
        <dt>Execution</dt><dd>{task.executionStatus}{task.queueReason ? ` · ${task.queueReason}` : ''}</dd>
        <dt>Initiator</dt><dd>{task.initiator ?? '–'}{task.sourceSystem ? ` via ${task.sourceSystem}` : ''}</dd>
        <dt>Correlation id</dt><dd className="mono">{task.correlationId ?? '–'}</dd>
        <dt>Trace id</dt><dd className="mono">{trace ? <a href={trace} target="_blank" rel="noreferrer">{task.traceId}</a> : task.traceId ?? '–'}</dd>
        <dt>Priority</dt><dd>{task.priority}</dd>
        {task.tags.length > 0 && (<><dt>Tags</dt><dd>{task.tags.join(', ')}</dd></>)}
        {task.parent && (<><dt>Parent</dt><dd><a href={href(`tasks/${task.parent.id}`)}>{task.parent.name}</a></dd></>)}
        {task.children.length > 0 && (<><dt>Children</dt><dd>{task.children.map((c) => <a key={c.id} href={href(`tasks/${c.id}`)}>{c.name} ({c.status}) </a>)}</dd></>)}
      </dl>
      <div className="actions">
        {live && <Action label="Cancel task" danger act={() => gql('mutation($id: ID!) { cancelTask(id: $id, reason: "cancelled from the explorer") { id } }', { id })} done={changed} />}
        {task.status === 'ERROR' && <Action label="Retry task" act={() => gql('mutation($id: ID!) { retryTask(id: $id) { id } }', { id })} done={changed} />}
        <span className="muted">{live ? 'Updates live.' : 'Finished.'}</span>
      </div>
      <div className="panel">
        <h2>Graph</h2>
        <p className="muted">
          Critical path: {graph.criticalPath.steps.join(' → ') || '–'} ({duration(graph.criticalPath.estimatedDurationMs)}, {duration(graph.criticalPath.remainingDurationMs)} left) · impact {graph.impactScore.toFixed(1)} ({graph.criticalityLevel})
        </p>
        {graph.bottleneckAnalysis.length > 0 && (
          <ul className="bottlenecks" aria-label="Bottlenecks">
            {graph.bottleneckAnalysis.map((b) => (
              <li key={b.stepName}><button type="button" className="link" onClick={() => setSelected(b.stepName)}>{b.stepName}</button> ({b.severity}, blocks {b.blockedDownstream}): {b.reason}</li>
            ))}
          </ul>
        )}
        <Dag names={task.steps.map((s) => s.name)} edges={edges} statuses={statuses} critical={graph.criticalPath.steps} bottlenecks={bottlenecks} selected={selected} onSelect={setSelected} label="Task steps" />
      </div>
      <div className="panel">
        <h2>Timeline</h2>
        <Gantt steps={task.steps} createdAt={task.createdAt} now={live ? now : Date.parse(task.completedAt ?? task.updatedAt)} live={live} onSelect={setSelected} />
      </div>
      <Json label="Context" value={task.context} />
      <Transitions list={task.transitions} caption="Task transitions" />
      {step && <StepDrawer key={step.id} step={step} bottleneck={graph.bottleneckAnalysis.find((b) => b.stepName === step.name)} close={() => setSelected(null)} changed={changed} />}
    </section>
  );
}
