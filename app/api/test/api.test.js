'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const path = require('node:path');
const { Pool } = require('pg');
const { ReceiveMessageCommand } = require('@aws-sdk/client-sqs');
const h = require('./helpers');
const { buildApp } = require('../src/app');
const { createPool, migrate, LATEST_VERSION } = require('../src/db');
const { createSqsClient } = require('../src/queue');
const { createLogger } = require('../src/logger');
const { loadConfig } = require('../src/config');

// Static dummy credentials for the local SQS server; keeps the SDK off the instance-metadata lookup.
process.env.AWS_ACCESS_KEY_ID = 'test';
process.env.AWS_SECRET_ACCESS_KEY = 'test';

const SERVER = path.join(__dirname, '..', 'src', 'server.js');
const log = createLogger('silent', 'test');
let pg, sqsServer, db, pool, sqs, app, base;

before(async () => {
  [pg, sqsServer] = await Promise.all([h.startPostgres(), h.startSqs()]);
  db = await h.createDatabase(pg, 'api_test');
  pool = createPool(db, log);
  await migrate(pool, log);
  sqs = createSqsClient({ region: 'us-east-1', endpoint: sqsServer.endpoint });
  app = buildApp({ pool, sqs, queueUrl: sqsServer.queueUrl, logger: log });
  await app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${app.server.address().port}`;
});

after(async () => {
  await app?.close();
  await pool?.end();
  sqs?.destroy();
  await Promise.all([pg?.stop(), sqsServer?.stop()]);
});

const post = (url, body, headers = { 'content-type': 'application/json' }) =>
  fetch(base + url, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
const count = async (table) => Number((await pool.query(`SELECT count(*) FROM ${table}`)).rows[0].count);

test('config: missing and malformed variables are named, secrets are not echoed', () => {
  assert.throws(() => loadConfig({}), /DATABASE_HOST is required.*DATABASE_NAME is required.*DATABASE_USER is required.*DATABASE_PASSWORD is required.*QUEUE_URL is required.*AWS_REGION is required/);
  const env = { DATABASE_HOST: 'h', DATABASE_NAME: 'n', DATABASE_USER: 'u', DATABASE_PASSWORD: 's3cret', QUEUE_URL: 'http://q', AWS_REGION: 'r' };
  assert.equal(loadConfig(env).port, 3000);
  assert.equal(loadConfig(env).jobTimeoutSeconds, 30);
  assert.throws(() => loadConfig({ ...env, PORT: 'eighty' }), /PORT must be an integer between 1 and 65535 \(got "eighty"\)/);
  assert.throws(() => loadConfig({ ...env, WORKER_JOB_TIMEOUT_SECONDS: '0' }), /WORKER_JOB_TIMEOUT_SECONDS/);
  assert.throws(() => loadConfig({ ...env, QUEUE_URL: 'not a url' }), /QUEUE_URL must be an absolute URL/);
  try {
    loadConfig({ ...env, LOG_LEVEL: 'loud' });
    assert.fail('expected an error');
  } catch (err) {
    assert.match(err.message, /LOG_LEVEL must be one of/);
    assert.doesNotMatch(err.message, /s3cret/);
  }
});

test('server exits at start with a clear error when config is missing', async () => {
  const child = h.start(process.execPath, [SERVER], { env: { PATH: process.env.PATH, DATABASE_PASSWORD: 'hunter2' } });
  const { code } = await child.exited;
  assert.equal(code, 78);
  assert.match(child.output, /DATABASE_HOST is required/);
  assert.doesNotMatch(child.output, /hunter2/);
});

test('GET /healthz and /readyz', async () => {
  const health = await fetch(`${base}/healthz`);
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { status: 'ok' });
  const ready = await fetch(`${base}/readyz`);
  assert.equal(ready.status, 200);
  assert.deepEqual(await ready.json(), { status: 'ready' });
});

test('/readyz is 503 on an unmigrated database and on an unreachable one', async () => {
  const fresh = new Pool(await h.createDatabase(pg, 'unmigrated'));
  const unreachable = new Pool({ ...db, port: await h.freePort(), connectionTimeoutMillis: 1000 });
  for (const [p, reason] of [[fresh, 'schema not migrated'], [unreachable, 'database unreachable']]) {
    const a = buildApp({ pool: p, sqs, queueUrl: sqsServer.queueUrl, logger: log });
    const res = await a.inject({ url: '/readyz' });
    assert.equal(res.statusCode, 503);
    assert.equal(res.json().reason, reason);
    await a.close();
    await p.end();
  }
});

test('items: create, list, get', async () => {
  const res = await post('/api/items', { name: 'Hull plate', description: 'steel, 12 mm' });
  assert.equal(res.status, 201);
  const item = await res.json();
  assert.match(item.id, /^[0-9a-f-]{36}$/);
  assert.equal(item.name, 'Hull plate');
  assert.equal(res.headers.get('location'), `/api/items/${item.id}`);

  const list = await (await fetch(`${base}/api/items`)).json();
  assert.ok(list.items.some((i) => i.id === item.id));

  const one = await fetch(`${base}/api/items/${item.id}`);
  assert.equal(one.status, 200);
  assert.deepEqual(await one.json(), item);

  const missing = await fetch(`${base}/api/items/00000000-0000-4000-8000-000000000000`);
  assert.equal(missing.status, 404);
  assert.equal((await missing.json()).message, 'item not found');

  const badId = await fetch(`${base}/api/items/not-a-uuid`);
  assert.equal(badId.status, 400);
});

test('bad inputs get 400/413/415 as JSON and write nothing', async () => {
  const before = await count('items');
  const cases = [
    ['{"name": "x"', 400, 'invalid JSON'],
    ['', 400, 'empty body'],
    [{ name: 5 }, 400, 'wrong type'],
    [{ name: ['a'] }, 400, 'array for string'],
    [{}, 400, 'missing name'],
    [{ name: '   ' }, 400, 'blank name'],
    [{ name: 'x'.repeat(201) }, 400, 'name too long'],
    [{ name: 'ok', extra: true }, 400, 'unknown field'],
    [{ name: 'ok', description: 7 }, 400, 'wrong description type'],
    [{ name: 'x'.repeat(20 * 1024) }, 413, 'oversize body'],
  ];
  for (const [body, status, why] of cases) {
    const res = await post('/api/items', body);
    assert.equal(res.status, status, why);
    assert.match(res.headers.get('content-type'), /application\/json/, why);
    const json = await res.json();
    assert.equal(json.statusCode, status, why);
    assert.ok(json.message, why);
  }
  const wrongType = await post('/api/items', 'name=x', { 'content-type': 'application/x-www-form-urlencoded' });
  assert.equal(wrongType.status, 415);
  assert.equal(await count('items'), before);

  const jobsBefore = await count('jobs');
  assert.equal((await post('/api/jobs', { itemId: 'nope' })).status, 400);
  assert.equal((await post('/api/jobs', { itemId: 12 })).status, 400);
  assert.equal((await post('/api/jobs', '{')).status, 400);
  assert.equal(await count('jobs'), jobsBefore);
});

test('unknown /api path is a JSON 404', async () => {
  const res = await fetch(`${base}/api/does-not-exist`);
  assert.equal(res.status, 404);
  assert.match(res.headers.get('content-type'), /application\/json/);
  assert.equal((await res.json()).statusCode, 404);
});

test('POST /api/jobs records the job and enqueues it (SQS: fauxqs)', async () => {
  const item = await (await post('/api/items', { name: 'Keel' })).json();
  const res = await post('/api/jobs', { itemId: item.id });
  assert.equal(res.status, 202);
  const job = await res.json();
  assert.equal(job.status, 'queued');
  assert.equal(job.itemId, item.id);

  const got = await (await fetch(`${base}/api/jobs/${job.id}`)).json();
  assert.equal(got.status, 'queued');

  const msg = await sqs.send(new ReceiveMessageCommand({ QueueUrl: sqsServer.queueUrl, WaitTimeSeconds: 1 }));
  assert.deepEqual(JSON.parse(msg.Messages[0].Body), { jobId: job.id });

  const unknownItem = await post('/api/jobs', { itemId: '00000000-0000-4000-8000-000000000000' });
  assert.equal(unknownItem.status, 404);
  assert.equal((await fetch(`${base}/api/jobs/00000000-0000-4000-8000-000000000000`)).status, 404);
});

test('the API speaks SQS JSON (AWS JSON 1.0) to fauxqs, and nothing else', () => {
  // fauxqs logged every SQS request it answered: the queue setup, the API's SendMessage and
  // the test's ReceiveMessage. An SQS query-protocol client would not even reach fauxqs's SQS.
  const requests = sqsServer.requests();
  assert.ok(requests.some((r) => r.target === 'AmazonSQS.SendMessage'), JSON.stringify(requests));
  assert.ok(requests.some((r) => r.target === 'AmazonSQS.ReceiveMessage'), JSON.stringify(requests));
  for (const r of requests) assert.equal(r.protocol, 'json', JSON.stringify(r));
});

test('POST /api/jobs answers 503 and marks the job failed when the queue is down', async () => {
  const deadSqs = createSqsClient({ region: 'us-east-1', endpoint: `http://127.0.0.1:${await h.freePort()}` });
  deadSqs.config.maxAttempts = async () => 1;
  const a = buildApp({ pool, sqs: deadSqs, queueUrl: sqsServer.queueUrl, logger: log });
  const item = await (await post('/api/items', { name: 'Mast' })).json();
  const res = await a.inject({ method: 'POST', url: '/api/jobs', payload: { itemId: item.id } });
  assert.equal(res.statusCode, 503);
  const { rows } = await pool.query('SELECT status FROM jobs WHERE item_id = $1', [item.id]);
  assert.deepEqual(rows, [{ status: 'failed' }]);
  await a.close();
  deadSqs.destroy();
});

test('migrations are idempotent and safe when several processes start at once', async () => {
  await migrate(pool, log); // again, on an up-to-date schema
  assert.equal(await count('schema_migrations'), 1);

  // Two real API processes and three more migrators race on a fresh database.
  const fresh = await h.createDatabase(pg, 'concurrent');
  const ports = [await h.freePort(), await h.freePort()];
  const servers = ports.map((port) =>
    h.start(process.execPath, [SERVER], { env: h.appEnv(fresh, sqsServer, { PORT: String(port) }) }),
  );
  const pools = [1, 2, 3].map(() => new Pool(fresh));
  try {
    await Promise.all(pools.map((p) => migrate(p, log)));
    for (const [i, port] of ports.entries()) {
      await h.waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, `server ${i}\n${servers[i].output}`);
    }
    const { rows } = await pools[0].query('SELECT version FROM schema_migrations');
    assert.deepEqual(rows, [{ version: LATEST_VERSION }]);
  } finally {
    await Promise.all(servers.map((s) => h.stop(s)));
    await Promise.all(pools.map((p) => p.end()));
  }
});

test('SIGTERM: an in-flight request completes, then the process exits 0', async () => {
  const port = await h.freePort();
  const server = h.start(process.execPath, [SERVER], { env: h.appEnv(db, sqsServer, { PORT: String(port) }) });
  try {
    await h.waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok, `server\n${server.output}`);
    const body = JSON.stringify({ name: 'Rudder' });
    const response = new Promise((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port, method: 'POST', path: '/api/items', headers: { 'content-type': 'application/json', 'content-length': body.length } },
        (res) => {
          let data = '';
          res.on('data', (d) => (data += d));
          res.on('end', () => resolve({ status: res.statusCode, data }));
        },
      );
      req.on('error', reject);
      req.write(body.slice(0, 5)); // the request is in flight: headers and part of the body sent
      setTimeout(() => {
        server.kill('SIGTERM');
        setTimeout(() => req.end(body.slice(5)), 300);
      }, 200);
    });
    const res = await response;
    assert.equal(res.status, 201);
    assert.equal(JSON.parse(res.data).name, 'Rudder');
    const { code } = await server.exited;
    assert.equal(code, 0);
    assert.match(server.output, /shutdown complete/);
    // JSON logs on stdout, and the database password never appears in them.
    const lines = server.output.trim().split('\n').filter((l) => l.startsWith('{'));
    assert.ok(lines.length > 0);
    for (const l of lines) JSON.parse(l);
    assert.ok(!server.output.includes(db.password));
  } finally {
    await h.stop(server);
  }
});

test('dd-trace is loaded only when DD_TRACE_ENABLED=true', () => {
  const probe = `require(${JSON.stringify(path.join(__dirname, '..', 'src', 'tracing.js'))});
    console.log(Object.keys(require.cache).some((k) => k.includes('${path.sep}dd-trace${path.sep}')));`;
  const run = (extra) =>
    require('node:child_process')
      .execFileSync(process.execPath, ['-e', probe], { env: { PATH: process.env.PATH, DD_TRACE_AGENT_URL: 'http://127.0.0.1:9', DD_TRACE_STARTUP_LOGS: 'false', ...extra } })
      .toString()
      .trim();
  assert.equal(run({}), 'false');
  assert.equal(run({ DD_TRACE_ENABLED: 'true' }), 'true');
});
