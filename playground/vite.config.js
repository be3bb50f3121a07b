// Builds the playground into dist/, which the tasker binary embeds and serves
// at /playground/. Everything the page needs is in the bundle: no CDN, no
// web font, nothing fetched from anywhere but the server that serves it.
import { defineConfig } from 'vite';

export default defineConfig({
  // Relative asset URLs, so the page works under /playground/ (or behind a
  // proxy that mounts Tasker under a prefix).
  base: './',
  esbuild: { jsx: 'automatic' },
  // The monaco-graphql worker uses code splitting, which IIFE workers cannot.
  worker: { format: 'es' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // The editor is large by nature; the warning would say nothing new.
    chunkSizeWarningLimit: 4096,
    rollupOptions: {
      onwarn(warning, warn) {
        // React's "use client" directives mean nothing in a bundle.
        if (warning.code === 'MODULE_LEVEL_DIRECTIVE') return;
        warn(warning);
      },
    },
  },
});
