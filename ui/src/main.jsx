// Tasker's task explorer: a shell with navigation and the credential form,
// and a page per route.
import { StrictMode, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { credential } from './lib/api.js';
import { href, useRoute } from './lib/route.js';
import { Dashboard } from './pages/Dashboard.jsx';
import { TaskDetail } from './pages/TaskDetail.jsx';
import { Tasks } from './pages/Tasks.jsx';
import { Schedules } from './pages/Schedules.jsx';
import { Templates } from './pages/Templates.jsx';
import './style.css';

function Credential() {
  const [value, setValue] = useState(credential.get());
  const [open, setOpen] = useState(false);
  const save = (e) => {
    e.preventDefault();
    credential.set(value.trim());
    window.location.reload();
  };
  return (
    <div className="credential">
      <button type="button" aria-expanded={open} onClick={() => setOpen(!open)}>
        {credential.get() ? 'Signed in' : 'Token'}
      </button>
      {open && (
        <form onSubmit={save}>
          <label htmlFor="credential">Token or API key</label>
          <input id="credential" type="password" autoComplete="off" value={value} onChange={(e) => setValue(e.target.value)} />
          <button type="submit">Use</button>
          <button type="button" onClick={() => { credential.set(''); window.location.reload(); }}>Forget</button>
          <p className="muted">Kept in this tab's session storage only.</p>
        </form>
      )}
    </div>
  );
}

function App() {
  const route = useRoute();
  const nav = [
    ['dashboard', 'Dashboard'],
    ['tasks', 'Tasks'],
    ['templates', 'Templates'],
    ['schedules', 'Schedules'],
  ];
  let page;
  if (route.page === 'tasks' && route.parts[0]) page = <TaskDetail key={route.parts[0]} id={route.parts[0]} params={route.params} />;
  else if (route.page === 'tasks') page = <Tasks params={route.params} />;
  else if (route.page === 'templates') page = <Templates parts={route.parts} />;
  else if (route.page === 'schedules') page = <Schedules />;
  else page = <Dashboard />;
  return (
    <>
      <a className="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>Skip to content</a>
      <header>
        <span className="brand">Tasker</span>
        <nav aria-label="Main">
          {nav.map(([key, label]) => (
            <a key={key} href={href(key === 'dashboard' ? '' : key)} aria-current={route.page === key ? 'page' : undefined}>{label}</a>
          ))}
          <a href="./playground/">Playground</a>
          <a href="./docs/">REST API</a>
        </nav>
        <Credential />
      </header>
      <main id="main" tabIndex="-1">{page}</main>
    </>
  );
}

createRoot(document.getElementById('app')).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
