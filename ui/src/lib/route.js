// Routes live in the hash (#/tasks/ID), so the server serves one page and the
// explorer works under any prefix.
import { useEffect, useState } from 'react';

export function parse(hash) {
  const [path, query = ''] = hash.replace(/^#/, '').split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { page: parts[0] ?? 'dashboard', parts: parts.slice(1), params: new URLSearchParams(query) };
}

export const href = (path, params) => {
  const query = params ? new URLSearchParams(params).toString() : '';
  return `#/${path}${query ? `?${query}` : ''}`;
};

export function useRoute() {
  const [route, setRoute] = useState(() => parse(window.location.hash));
  useEffect(() => {
    const changed = () => setRoute(parse(window.location.hash));
    window.addEventListener('hashchange', changed);
    return () => window.removeEventListener('hashchange', changed);
  }, []);
  return route;
}
