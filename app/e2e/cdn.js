'use strict';
// A stand-in for S3 + CloudFront, just enough for the browser test (production uses the real
// ones, configured by the infra code):
//  - /api/*, /healthz, /readyz go to the origin (nginx) with the secret origin header added
//    and the viewer address appended to X-Forwarded-For, as CloudFront does;
//  - other paths are files from the SPA build; a path with no file gets index.html with 200,
//    as CloudFront's custom error response does for client-side routes;
//  - every static response carries the Content-Security-Policy the response headers policy sets.
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

const CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'";
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.ico': 'image/x-icon' };
const ORIGIN_PATHS = /^\/(api\/|healthz$|readyz$)/;

function startCdn({ distDir, origin, headerName, headerValue }) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://cdn');
    if (ORIGIN_PATHS.test(url.pathname)) {
      const xff = [req.headers['x-forwarded-for'], req.socket.remoteAddress].filter(Boolean).join(', ');
      const headers = { ...req.headers, [headerName.toLowerCase()]: headerValue, 'x-forwarded-for': xff };
      const up = http.request({ ...origin, method: req.method, path: req.url, headers }, (upRes) => {
        res.writeHead(upRes.statusCode, upRes.headers);
        upRes.pipe(res);
      });
      up.on('error', () => res.writeHead(502).end());
      req.pipe(up);
      return;
    }
    let file = path.join(distDir, path.normalize(url.pathname));
    if (!file.startsWith(distDir) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      file = path.join(distDir, 'index.html');
    }
    res.writeHead(200, {
      'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
      'content-security-policy': CSP,
      'cache-control': file.includes(`${path.sep}assets${path.sep}`) ? 'public, max-age=31536000, immutable' : 'no-cache',
    });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

module.exports = { startCdn, CSP };
