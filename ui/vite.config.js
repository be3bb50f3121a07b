// Builds the task explorer into dist/, which the tasker binary embeds and
// serves at /. Everything the page needs is in the bundle: no CDN, no web
// font, nothing fetched but from the server that serves it.
import { defineConfig } from 'vite';

export default defineConfig({
  // Relative asset URLs, so the page works behind a proxy under a prefix.
  base: './',
  esbuild: { jsx: 'automatic' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // One file per build: no inline script or style, for the page's CSP.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
});
