import 'graphiql/setup-workers/vite';
import 'graphiql/style.css';
import '@graphiql/plugin-explorer/style.css';
import './page.css';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { GraphiQL } from 'graphiql';
import { explorerPlugin } from '@graphiql/plugin-explorer';
import { exampleTabs } from './examples.js';
import { createTaskerFetcher, endpointsFor } from './fetcher.js';

const page = new URL(window.location.href);
const fetcher = createTaskerFetcher(endpointsFor(page));
// A link may carry an operation (?query=…&variables=…), as GraphiQL links
// conventionally do; it opens in a tab of its own beside the examples.
const initialQuery = page.searchParams.get('query') ?? undefined;
const initialVariables = page.searchParams.get('variables') ?? undefined;

createRoot(document.getElementById('playground')).render(
  <StrictMode>
    <GraphiQL
      fetcher={fetcher}
      defaultTabs={exampleTabs}
      initialQuery={initialQuery}
      initialVariables={initialVariables}
      plugins={[explorerPlugin()]}
      isHeadersEditorEnabled
    />
  </StrictMode>,
);
