// Small pieces every page uses: status badges, errors with their code,
// collapsible and copyable JSON, times, and a loading hook.
import { useCallback, useEffect, useRef, useState } from 'react';

export const Status = ({ value }) => <span className={`status s-${value}`}>{value}</span>;

export function Problem({ error }) {
  if (!error) return null;
  return (
    <div className="problem" role="alert">
      <code>{error.code ?? 'ERROR'}</code> {error.message}
    </div>
  );
}

export function Json({ value, label, open = false }) {
  const text = JSON.stringify(value ?? null, null, 2);
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setCopied(true);
      setTimeout(() => setCopied(false), 1500);
    } catch {
      setCopied(false);
    }
  };
  return (
    <details className="json" open={open}>
      <summary>
        {label} <span className="muted">({text.length} chars)</span>
      </summary>
      <button type="button" className="small" onClick={copy}>
        {copied ? 'Copied' : 'Copy'}
      </button>
      <pre tabIndex="0" aria-label={label}>{text}</pre>
    </details>
  );
}

export function When({ at }) {
  if (!at) return <span className="muted">–</span>;
  const date = new Date(at);
  return <time dateTime={at} title={date.toISOString()}>{date.toLocaleString()}</time>;
}

/** Run `load` now and whenever `deps` change; `reload` runs it again. */
export function useLoad(load, deps) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const latest = useRef(0);
  const reload = useCallback(async () => {
    const mine = ++latest.current;
    try {
      const data = await load();
      if (mine === latest.current) setState({ data, error: null, loading: false });
    } catch (error) {
      if (mine === latest.current) setState((s) => ({ data: s.data, error, loading: false }));
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  useEffect(() => {
    reload();
  }, [reload]);
  return { ...state, reload };
}

/** Call `fn` at most once per `ms`, the last call winning. */
export function useDebounced(fn, ms) {
  const timer = useRef(null);
  const saved = useRef(fn);
  saved.current = fn;
  useEffect(() => () => clearTimeout(timer.current), []);
  return useCallback(() => {
    clearTimeout(timer.current);
    timer.current = setTimeout(() => saved.current(), ms);
  }, [ms]);
}

/** An action button: runs `act`, shows its error with its code. */
export function Action({ label, act, done, danger, disabled }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const run = async () => {
    setBusy(true);
    setError(null);
    try {
      await act();
      done?.();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <span className="action">
      <button type="button" className={danger ? 'danger' : ''} onClick={run} disabled={busy || disabled}>
        {busy ? '…' : label}
      </button>
      <Problem error={error} />
    </span>
  );
}
