// Headless Chromium for the page tests (playground, explorer), recording what
// a page fetches and what it logs as an error. Each caller passes its own
// playwright-core `chromium`, resolved from its own node_modules. Any host
// but loopback fails to resolve, so a CDN dependency would break a page here
// even if the request check missed it.

const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** A browser, one page, and what the page requested and logged as errors;
 * `options` go to the browser context (viewport, colorScheme, bypassCSP …). */
export async function openBrowser(chromium, options = {}) {
  const browser = await chromium.launch({
    executablePath,
    args: ['--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'],
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, ...options });
  const requested = [];
  const problems = [];
  context.on('request', (request) => requested.push(request.url()));
  const page = await context.newPage();
  page.on('websocket', (socket) => requested.push(socket.url()));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(String(error)));
  return { browser, context, page, requested, problems };
}

/** The requested URLs that went anywhere but 127.0.0.1. */
export const elsewhere = (requested) =>
  requested.filter((url) => {
    const { protocol, hostname } = new URL(url);
    return !['data:', 'blob:'].includes(protocol) && hostname !== '127.0.0.1';
  });
