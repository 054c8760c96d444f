import { defineConfig } from 'vite';

// In development the dev server forwards API calls to nginx and adds the origin header, the
// way CloudFront does in production, so the SPA always calls relative /api/... URLs.
const target = process.env.API_PROXY_TARGET ?? 'http://127.0.0.1:8080';
const headers: Record<string, string> = {};
if (process.env.ORIGIN_HEADER_NAME && process.env.ORIGIN_HEADER_VALUE) {
  headers[process.env.ORIGIN_HEADER_NAME] = process.env.ORIGIN_HEADER_VALUE;
}

export default defineConfig({
  build: {
    outDir: 'dist',
    assetsDir: 'assets', // content-hashed names: cached forever by CloudFront
    assetsInlineLimit: 0, // no data: URLs for assets; everything is a file under 'self'
  },
  server: {
    proxy: {
      '/api': { target, headers },
      '/healthz': { target, headers },
      '/readyz': { target, headers },
    },
  },
});
