import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

// Built into the Nest package (libs/nestjs/dist/dashboard), whose api role serves it at <api path>/dashboard.
// No React plugin: Vite 8's Oxc compiles TSX with the automatic runtime; Fast Refresh is all we would add.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/dashboard/',
  oxc: { jsx: { runtime: 'automatic' } },
  build: {
    outDir: fileURLToPath(new URL('../../libs/nestjs/dist/dashboard', import.meta.url)),
    emptyOutDir: true,
    // The polyfill would be an inline script, which the CSP (script-src 'self') refuses; evergreen browsers need none.
    modulePreload: { polyfill: false },
    // No source maps in what ships: they would serve the sources to anyone who asks.
    sourcemap: false,
  },
  server: {
    // `npx vite apps/dashboard` for development: the API calls go to an orchestrator on :3000.
    proxy: { '/v1': 'http://127.0.0.1:3000' },
  },
});
