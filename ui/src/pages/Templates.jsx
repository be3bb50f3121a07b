// Namespaces, templates with every version, a template's DAG and YAML, the
// step handlers, and an editor that validates and registers a template.
import { useState } from 'react';
import { gql } from '../lib/api.js';
import { locate } from '../lib/locate.js';
import { href } from '../lib/route.js';
import { Action, Json, Problem, useLoad } from '../parts/common.jsx';
import { Dag } from '../parts/Dag.jsx';

const LIST = `{ namespaces { name taskTemplateCount } handlers { namespace name version fullName description available }
  stepHandlers { name namespace kind maxConcurrency rateLimit { limit per } } }`;
const ONE = `query($ns: String!, $n: String!, $v: String) { handler(namespace: $ns, name: $n, version: $v) {
  fullName description available contextSchema source updatedAt
  stepTemplates { name handler dependsOn }
  dependencyGraph { criticalPath { steps } edges { from to } }
} }`;

function Template({ ns, name, version }) {
  const { data, error } = useLoad(() => gql(ONE, { ns, n: name, v: version }), [ns, name, version]);
  const t = data?.handler;
  return (
    <div className="panel">
      <Problem error={error} />
      {t && (
        <>
          <h2>{t.fullName}</h2>
          <p>{t.description}</p>
          {!t.available && <p className="problem">Some step handler of this template is not available here.</p>}
          <Dag names={t.stepTemplates.map((s) => s.name)} edges={t.dependencyGraph.edges} critical={t.dependencyGraph.criticalPath.steps} label="Template steps" />
          <details open>
            <summary>YAML</summary>
            <pre className="yaml" tabIndex="0" aria-label="Template YAML">{t.source}</pre>
          </details>
          {t.contextSchema && <Json label="Context schema" value={t.contextSchema} />}
          <a href={href('tasks', { namespace: ns, name })}>Tasks of this template</a>
        </>
      )}
    </div>
  );
}

function Editor({ registered }) {
  const [text, setText] = useState('namespace: default\nname: my_task\nsteps:\n  - name: first\n    handler: noop\n');
  const [check, setCheck] = useState(null);
  const [replace, setReplace] = useState(false);
  const lines = text.split('\n');
  const validate = async () => {
    const d = await gql('query($y: String!) { validateTaskTemplate(yaml: $y) { valid fullName problems { path message line column } } }', { y: text });
    setCheck(d.validateTaskTemplate);
  };
  const register = async () => {
    const d = await gql('mutation($y: String!, $r: Boolean!) { registerTaskTemplate(yaml: $y, replace: $r) { fullName } }', { y: text, r: replace });
    setCheck({ valid: true, fullName: d.registerTaskTemplate.fullName, problems: [], registered: true });
    registered();
  };
  const marks = new Map((check?.problems ?? []).map((p) => [p.line ?? locate(text, p.path), p]));
  return (
    <div className="panel">
      <h2>Register a template</h2>
      <label htmlFor="template-yaml">Template (YAML or JSON)</label>
      <div className="editor">
        <ol className="gutter" aria-hidden="true">
          {lines.map((_, i) => <li key={i} className={marks.has(i + 1) ? 'marked' : ''}>{i + 1}</li>)}
        </ol>
        <textarea id="template-yaml" spellCheck="false" value={text} rows={Math.max(8, lines.length + 1)} onChange={(e) => { setText(e.target.value); setCheck(null); }} />
      </div>
      <div className="actions">
        <Action label="Validate" act={validate} />
        <label className="check"><input type="checkbox" checked={replace} onChange={(e) => setReplace(e.target.checked)} /> Replace the same version</label>
        <Action label="Register" act={register} />
      </div>
      {check && (check.valid ? (
        <p className="notice" role="status">{check.fullName} {check.registered ? 'is registered.' : 'is valid.'}</p>
      ) : (
        <ul className="problems" role="alert" aria-label="Template problems">
          {check.problems.map((p) => {
            const line = p.line ?? locate(text, p.path);
            return <li key={`${p.path}${p.message}`}><code>BAD_USER_INPUT</code> {line ? `line ${line}${p.column ? `:${p.column}` : ''}: ` : ''}{p.path && <code>{p.path}</code>} {p.message}</li>;
          })}
        </ul>
      ))}
    </div>
  );
}

export function Templates({ parts }) {
  const { data, error, reload } = useLoad(() => gql(LIST), []);
  const [ns, name, version] = parts;
  const byNs = new Map();
  for (const h of data?.handlers ?? []) byNs.set(h.namespace, [...(byNs.get(h.namespace) ?? []), h]);
  return (
    <section aria-labelledby="templates-title">
      <h1 id="templates-title">Templates</h1>
      <Problem error={error} />
      <div className="panels">
        <div className="panel">
          <h2>Namespaces</h2>
          {[...byNs].map(([namespace, list]) => (
            <div key={namespace}>
              <h3>{namespace}</h3>
              <ul>
                {list.map((h) => (
                  <li key={h.fullName}>
                    <a href={href(`templates/${h.namespace}/${h.name}/${h.version}`)} aria-current={h.namespace === ns && h.name === name && h.version === version ? 'page' : undefined}>
                      {h.name}@{h.version}
                    </a>
                    {!h.available && <span className="bad"> (unavailable)</span>}
                  </li>
                ))}
              </ul>
            </div>
          ))}
        </div>
        {ns && name && <Template ns={ns} name={name} version={version} />}
      </div>
      <Editor registered={reload} />
      <div className="panel">
        <h2>Step handlers</h2>
        <table>
          <thead><tr><th>Name</th><th>Kind</th><th>Namespace</th><th>Limits</th></tr></thead>
          <tbody>
            {(data?.stepHandlers ?? []).map((h) => (
              <tr key={`${h.namespace}/${h.name}`}>
                <td>{h.name}</td><td>{h.kind}</td><td>{h.namespace ?? 'any'}</td>
                <td>{[h.maxConcurrency && `≤ ${h.maxConcurrency} at once`, h.rateLimit && `${h.rateLimit.limit} per ${h.rateLimit.per}`].filter(Boolean).join(', ')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
