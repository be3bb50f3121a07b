// The REST API reference at /docs/: Swagger UI (swagger-ui-dist) reading the
// server's own /openapi.json. No bundler: the released files are copied into
// dist-docs/ under content-hashed names (so they can be cached forever), with a
// page and an initializer of ours (no inline script, for the page's CSP).
// Two runs give the same bytes, so CI can rebuild and compare.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

const from = new URL('./node_modules/swagger-ui-dist/', import.meta.url);
const out = new URL('./dist-docs/', import.meta.url);
rmSync(out, { recursive: true, force: true });
mkdirSync(new URL('assets/', out), { recursive: true });

/** Write `data` as assets/NAME.HASH.EXT; its path relative to the page. */
function asset(name, ext, data) {
  const hash = createHash('sha256').update(data).digest('hex').slice(0, 12);
  const path = `assets/${name}.${hash}.${ext}`;
  writeFileSync(new URL(path, out), data);
  return `./${path}`;
}

// The source maps are not shipped: drop the comments that would ask for them.
const withoutMap = (file) =>
  readFileSync(new URL(file, from), 'utf8').replace(/\n\/\*?# sourceMappingURL=\S+\s*(\*\/)?\s*$/, '\n');

const script = asset('swagger-ui-bundle', 'js', withoutMap('swagger-ui-bundle.js'));
const style = asset('swagger-ui', 'css', withoutMap('swagger-ui.css'));
const icon = asset('favicon', 'png', readFileSync(new URL('favicon-32x32.png', from)));
const init = asset(
  'init',
  'js',
  `// Tasker's REST API reference: the document this server serves, nothing from elsewhere.
window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  // Swagger UI would otherwise send the document to validator.swagger.io.
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
});
`,
);
writeFileSync(new URL('swagger-ui.LICENSE', out), readFileSync(new URL('LICENSE', from)));
writeFileSync(
  new URL('index.html', out),
  `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>Tasker REST API</title>
    <link rel="icon" type="image/png" href="${icon}" />
    <link rel="stylesheet" href="${style}" />
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="${script}"></script>
    <script src="${init}"></script>
  </body>
</html>
`,
);
