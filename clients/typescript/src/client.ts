// A small runtime around the generated documents: queries and mutations over
// HTTP POST /graphql, subscriptions over graphql-ws at /graphql/ws. Every call
// is typed by the document it is given, so a field that is not in the schema
// (or a variable of the wrong type) fails at compile time.
import type { DocumentTypeDecoration } from '@graphql-typed-document-node/core';
import { type Client as SocketClient, createClient } from 'graphql-ws';

export interface TaskerClientOptions {
  /** The server, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /**
   * Sent with every HTTP request, and as the graphql-ws `connection_init`
   * payload of the subscription socket (where a websocket carries credentials).
   */
  headers?: Record<string, string>;
  /** `fetch` to use (default: the global one). */
  fetch?: typeof fetch;
  /**
   * A WebSocket constructor for subscriptions (default: the global one).
   * Node.js before 22 has none: pass `WebSocket` from the `ws` package.
   */
  webSocketImpl?: unknown;
}

/** A GraphQL error as the server reports it; `extensions.code` is the contract. */
export interface GraphQLErrorItem {
  message: string;
  path?: ReadonlyArray<string | number>;
  extensions?: { code?: string; [key: string]: unknown };
}

/**
 * A failed call. `code` is the first error's `extensions.code` (see the
 * server's docs/errors.md), or `NETWORK_ERROR` / `HTTP_<status>` when no
 * GraphQL answer came back.
 */
export class TaskerError extends Error {
  readonly code: string;
  readonly errors: readonly GraphQLErrorItem[];

  constructor(code: string, message: string, errors: readonly GraphQLErrorItem[] = []) {
    super(message);
    this.name = 'TaskerError';
    this.code = code;
    this.errors = errors;
  }

  static from(errors: readonly GraphQLErrorItem[]): TaskerError {
    const first = errors[0];
    const code = first?.extensions?.code ?? 'INTERNAL';
    const message = errors.map((e) => e.message).join('; ') || 'GraphQL error';
    return new TaskerError(code, message, errors);
  }
}

type Variables<V> = V extends Record<string, never> ? [variables?: V] : [variables: V];

export class TaskerClient {
  readonly url: string;
  private readonly headers: Record<string, string>;
  private readonly fetchImpl: typeof fetch;
  private readonly webSocketImpl: unknown;
  private socket: SocketClient | undefined;

  constructor(options: TaskerClientOptions) {
    this.url = options.url.replace(/\/+$/, '');
    this.headers = options.headers ?? {};
    this.fetchImpl = options.fetch ?? globalThis.fetch;
    this.webSocketImpl = options.webSocketImpl ?? (globalThis as { WebSocket?: unknown }).WebSocket;
  }

  /** Run a query or mutation; its typed `data`, or a `TaskerError`. */
  async request<R, V>(document: DocumentTypeDecoration<R, V>, ...[variables]: Variables<V>): Promise<R> {
    let response: Response;
    try {
      response = await this.fetchImpl(`${this.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', ...this.headers },
        body: JSON.stringify({ query: document.toString(), variables: variables ?? {} }),
      });
    } catch (error) {
      throw new TaskerError('NETWORK_ERROR', `cannot reach ${this.url}: ${String(error)}`);
    }
    let body: { data?: R | null; errors?: GraphQLErrorItem[] };
    try {
      body = (await response.json()) as typeof body;
    } catch {
      throw new TaskerError(`HTTP_${response.status}`, `${this.url}/graphql answered ${response.status} without JSON`);
    }
    if (body.errors?.length) throw TaskerError.from(body.errors);
    if (body.data == null) {
      throw new TaskerError(`HTTP_${response.status}`, `${this.url}/graphql answered ${response.status} without data`);
    }
    return body.data;
  }

  /**
   * Subscribe; each message's typed `data`. Ends when the server completes the
   * stream; throws a `TaskerError` on a GraphQL error. Leaving the loop early
   * unsubscribes.
   */
  async *subscribe<R, V>(document: DocumentTypeDecoration<R, V>, ...[variables]: Variables<V>): AsyncGenerator<R> {
    const results = this.sockets().iterate<R>({
      query: document.toString(),
      variables: (variables ?? {}) as Record<string, unknown>,
    });
    for await (const result of results) {
      if (result.errors?.length) throw TaskerError.from(result.errors as GraphQLErrorItem[]);
      if (result.data != null) yield result.data;
    }
  }

  /** Close the subscription socket, ending every subscription. */
  async close(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    await socket?.dispose();
  }

  private sockets(): SocketClient {
    if (!this.webSocketImpl) {
      throw new TaskerError('NO_WEBSOCKET', 'no WebSocket implementation: pass webSocketImpl (e.g. from the ws package)');
    }
    this.socket ??= createClient({
      url: `${this.url.replace(/^http/, 'ws')}/graphql/ws`,
      webSocketImpl: this.webSocketImpl,
      connectionParams: this.headers,
      lazy: true,
      // Reconnect (and resubscribe) through server restarts and network loss;
      // graphql-ws still gives up on fatal close codes such as a refused auth.
      retryAttempts: Infinity,
    });
    return this.socket;
  }
}
