// Vite builds the live view into dist/ui, which the hub serves (server/hub/static-files.ts).
// `npm run dev` serves it with HMR and forwards /api and /ws to a running mitmlab: set MITMLAB_TOKEN to the token
// from the printed "live view" URL (or <data-dir>/ui-token) and MITMLAB_UI to its origin (default
// http://127.0.0.1:8081). The dev server adds the token header and the hub's own Origin, which the hub requires.

import { fileURLToPath } from 'node:url';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'vite';

// The app's root is ui/src (index.html lives there), so ui/ itself holds no index.html that could be mistaken for
// the built app.
const root = fileURLToPath(new URL('./src', import.meta.url));
const hub = process.env.MITMLAB_UI ?? 'http://127.0.0.1:8081';
const token = process.env.MITMLAB_TOKEN ?? '';

export default defineConfig({
  root,
  base: '/',
  plugins: [svelte()],
  build: {
    outDir: fileURLToPath(new URL('../dist/ui', import.meta.url)),
    emptyOutDir: true,
    // The CSP forbids inline script; keep every asset a file (no data: URLs for scripts or fonts).
    assetsInlineLimit: 0,
    sourcemap: true,
    target: 'es2022',
  },
  server: {
    host: '127.0.0.1',
    port: 5173,
    strictPort: true,
    proxy: {
      '/api': { target: hub, changeOrigin: true, headers: { 'x-mitmlab-token': token } },
      '/ws': {
        target: hub.replace(/^http/, 'ws'),
        ws: true,
        changeOrigin: true,
        headers: { 'x-mitmlab-token': token },
        configure: (proxy) => {
          proxy.on('proxyReqWs', (proxyReq) => proxyReq.setHeader('origin', hub));
        },
      },
    },
  },
});
