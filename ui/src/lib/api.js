// The explorer's only way to the server: the public GraphQL API over HTTP
// (POST ./graphql) and graphql-ws (./graphql/ws), with the credential the
// user entered (kept in session storage, gone when the tab closes).
import { createClient } from 'graphql-ws';

const KEY = 'tasker.credential';

export const credential = {
  get: () => sessionStorage.getItem(KEY) ?? '',
  set(value) {
    if (value) sessionStorage.setItem(KEY, value);
    else sessionStorage.removeItem(KEY);
    socket?.dispose();
    socket = null;
  },
};

/** A JWT has three dot-separated parts; anything else is an API key. */
export function headersFor(value) {
  const v = value.trim();
  if (!v) return {};
  if (/^bearer\s/i.test(v)) return { Authorization: v };
  return v.split('.').length === 3 ? { Authorization: `Bearer ${v}` } : { 'X-API-Key': v };
}

/** An error the server answered with: its `extensions.code` and message. */
export class ApiError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

const endpoint = (path) => new URL(path, window.location.href.split('#')[0]);

export async function gql(query, variables = {}) {
  let response;
  try {
    response = await fetch(endpoint('graphql'), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...headersFor(credential.get()) },
      body: JSON.stringify({ query, variables }),
    });
  } catch (error) {
    throw new ApiError('NETWORK', `the server did not answer: ${error.message}`);
  }
  const body = await response.json().catch(() => null);
  if (!body) throw new ApiError(`HTTP_${response.status}`, `the server answered ${response.status}`);
  if (body.errors?.length) {
    const [first] = body.errors;
    throw new ApiError(first.extensions?.code ?? 'ERROR', first.message);
  }
  return body.data;
}

let socket = null;

function client() {
  if (!socket) {
    const url = endpoint('graphql/ws');
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const headers = headersFor(credential.get());
    const params = headers['X-API-Key'] ? { apiKey: headers['X-API-Key'] } : headers;
    socket = createClient({ url: url.href, connectionParams: params, lazy: true, retryAttempts: Infinity });
  }
  return socket;
}

/** Subscribe; `onData` gets each result's data. Returns the unsubscribe. */
export function subscribe(query, variables, onData, onError = () => {}) {
  return client().subscribe(
    { query, variables },
    {
      next: (result) => {
        if (result.errors?.length) {
          const [first] = result.errors;
          onError(new ApiError(first.extensions?.code ?? 'ERROR', first.message));
        } else onData(result.data);
      },
      error: (error) => onError(new ApiError('SUBSCRIPTION', error?.message ?? String(error?.reason ?? error))),
      complete: () => {},
    },
  );
}
