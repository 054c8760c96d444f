'use strict';
// Container health check without curl in the slim image.
//   node src/healthcheck.js         -> the API answers GET /healthz
//   node src/healthcheck.js worker  -> the worker polled within the last 90 s
const fs = require('node:fs');
const http = require('node:http');
const { HEARTBEAT_FILE } = require('./heartbeat');

if (process.argv[2] === 'worker') {
  try {
    const age = Date.now() - fs.statSync(HEARTBEAT_FILE).mtimeMs;
    process.exit(age < 90_000 ? 0 : 1);
  } catch {
    process.exit(1);
  }
} else {
  const req = http.get({ host: '127.0.0.1', port: process.env.PORT || 3000, path: '/healthz', timeout: 3000 }, (res) =>
    process.exit(res.statusCode === 200 ? 0 : 1),
  );
  req.on('timeout', () => req.destroy());
  req.on('error', () => process.exit(1));
}
