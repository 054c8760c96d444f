#!/usr/bin/env node
'use strict';
// Load generator for the release benchmark and the cutover test: C concurrent clients, each
// sending one request after the other through nginx (keep-alive connections, as CloudFront
// keeps them to the origin) on endpoints that write and read the database:
//   POST /api/items (201), GET /api/items (200), GET /api/items/:id of an item it created (200).
// A request failed when it got anything but that status (nginx's 502/504 included), a
// connection error (reset, refused) or no answer within the timeout. Loopback only, bounded in
// count and time: it stops at --max-requests, after --max-seconds, or when --stop-file appears,
// whichever is first, then prints one JSON summary on stdout.
//
//   node loadgen.js --url http://127.0.0.1:PORT --header X-Origin-Verify=SECRET --clients 20
//        [--max-requests 1000000] [--max-seconds 600] [--stop-file PATH] [--timeout-ms 10000]
const fs = require('node:fs');
const http = require('node:http');

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const url = new URL(args.url);
if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname) && !url.hostname.startsWith('127.')) {
  console.error('loadgen: loopback targets only');
  process.exit(2);
}
const clients = Number(args.clients || 20);
const maxRequests = Number(args['max-requests'] || 1_000_000);
const maxMs = Number(args['max-seconds'] || 600) * 1000;
const timeoutMs = Number(args['timeout-ms'] || 10000);
const [headerName, headerValue] = (args.header || '').split('=');
const stopFile = args['stop-file'];

const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
const latencies = [];
const failures = {};
const unanswered = [];
const socketUses = new WeakMap();
const USES = Symbol('uses');
// Names unique to this run, so a check in the database cannot match an earlier run's writes.
const run = `${process.pid}-${Date.now()}`;
let sent = 0;
let stopping = false;
const started = Date.now();

function once(method, path, body, expected) {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers = { [headerName]: headerValue };
    if (payload) Object.assign(headers, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
    const done = (outcome, data) => {
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (outcome !== 'ok') failures[outcome] = (failures[outcome] || 0) + 1;
      resolve(outcome === 'ok' ? data : null);
    };
    let answered = false;
    const req = http.request({ host: url.hostname, port: url.port, method, path, headers, agent, timeout: timeoutMs }, (res) => {
      answered = true;
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        if (res.statusCode !== expected) return done(`status ${res.statusCode}`);
        try {
          done('ok', JSON.parse(Buffer.concat(chunks)));
        } catch {
          done('bad body');
        }
      });
      res.on('error', (err) => done(err.code || 'response error'));
    });
    // Whether the request went out on a connection an earlier request used: Node sets
    // req.reusedSocket only when the request takes a free socket, not when a socket that just
    // finished a response is handed to a queued request, so count the requests per socket.
    req.on('socket', (socket) => {
      req[USES] = (socketUses.get(socket) || 0) + 1;
      socketUses.set(socket, req[USES]);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'timeout' })));
    // A connection error is named by when it happened. "reused idle keep-alive connection": the
    // request went out on a connection the server had just closed as idle (a reload does that)
    // and got no byte of response; the server never read it. "new connection" and "during the
    // response" are failures with no such excuse. Writes that got no answer are listed by name
    // (unanswered), so a test can check in the database that none was applied.
    req.on('error', (err) => {
      const reused = req.reusedSocket || req[USES] > 1;
      const kind = answered ? 'during the response' : reused ? 'reused idle keep-alive connection' : 'new connection';
      if (!answered && method === 'POST' && unanswered.length < 1000) unanswered.push(body.name);
      if (process.env.LOADGEN_DEBUG) console.error('loadgen:', JSON.stringify({ code: err.code, message: err.message, method, path, kind, ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
      done(`${err.code || err.message} (${kind})`);
    });
    req.end(payload);
  });
}

async function client(n) {
  const mine = [];
  let i = 0;
  while (!stopping) {
    if (sent >= maxRequests || Date.now() - started > maxMs) break;
    sent++;
    const op = (i++ + n) % 5;
    if (op < 2 || mine.length === 0) {
      const item = await once('POST', '/api/items', { name: `load ${run} ${n}-${i}`, description: 'bench' }, 201);
      if (item) mine.push(item.id);
      if (mine.length > 50) mine.shift();
    } else if (op < 4) {
      await once('GET', '/api/items', undefined, 200);
    } else {
      await once('GET', `/api/items/${mine[i % mine.length]}`, undefined, 200);
    }
  }
}

const watch = setInterval(() => {
  if (stopFile && fs.existsSync(stopFile)) stopping = true;
}, 50);

Promise.all(Array.from({ length: clients }, (_, n) => client(n))).then(() => {
  clearInterval(watch);
  agent.destroy();
  const sorted = latencies.sort((a, b) => a - b);
  const p99 = sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)] : 0;
  const failed = Object.values(failures).reduce((a, b) => a + b, 0);
  console.log(JSON.stringify({ requests: sorted.length, failed, p99: Math.round(p99), clients, failures, unanswered, seconds: (Date.now() - started) / 1000 }));
});
