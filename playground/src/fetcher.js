// GraphiQL's fetcher for Tasker: queries and mutations over HTTP POST to
// /graphql, subscriptions over graphql-ws at /graphql/ws.
//
// The headers editor's contents go with every HTTP request (GraphiQL's own
// behaviour) and also into the graphql-ws `connection_init` payload, which is
// where a websocket carries credentials. A change of headers therefore opens a
// new socket; sockets close on their own once their subscriptions end.
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import { createClient } from 'graphql-ws';

/** The GraphQL endpoints next to the page: /playground/ → /graphql, /graphql/ws. */
export function endpointsFor(pageUrl) {
  const http = new URL('../graphql', pageUrl);
  const ws = new URL('../graphql/ws', pageUrl);
  ws.protocol = http.protocol === 'https:' ? 'wss:' : 'ws:';
  return { http: http.href, ws: ws.href };
}

export function createTaskerFetcher({ http, ws }) {
  const sockets = new Map();
  const socketFor = (headers) => {
    const params = headers && typeof headers === 'object' ? headers : {};
    const key = JSON.stringify(params);
    let client = sockets.get(key);
    if (!client) {
      client = createClient({ url: ws, lazy: true, connectionParams: params, retryAttempts: 3 });
      sockets.set(key, client);
    }
    return client;
  };
  return (params, options) =>
    createGraphiQLFetcher({ url: http, wsClient: socketFor(options?.headers) })(params, options);
}
