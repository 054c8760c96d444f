'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const fs = require('node:fs');
const os = require('node:os');
const { execFileSync } = require('node:child_process');
const path = require('node:path');
const { Pool } = require('pg');
const { ReceiveMessageCommand } = require('@aws-sdk/client-sqs');
const h = require('./helpers');
const { buildApp, RETRY_AFTER_SECONDS } = require('../src/app');
const { OutboxRelay } = require('../src/outbox');
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

test('POST /api/jobs with SQS down: 202, the job stays queued, the outbox relay sends it later (SQS: fauxqs)', async () => {
  const deadSqs = createSqsClient({ region: 'us-east-1', endpoint: `http://127.0.0.1:${await h.freePort()}` });
  deadSqs.config.maxAttempts = async () => 1;
  const a = buildApp({ pool, sqs: deadSqs, queueUrl: sqsServer.queueUrl, logger: log });
  const item = await (await post('/api/items', { name: 'Mast' })).json();
  const res = await a.inject({ method: 'POST', url: '/api/jobs', payload: { itemId: item.id } });
  assert.equal(res.statusCode, 202);
  const job = res.json();
  assert.equal(job.status, 'queued');
  assert.equal(job.outboxId, undefined);
  const unsent = await pool.query('SELECT sent_at FROM outbox WHERE job_id = $1', [job.id]);
  assert.deepEqual(unsent.rows, [{ sent_at: null }], 'job and outbox row were committed together');
  await a.close();
  deadSqs.destroy();

  // The relay takes rows older than its interval (younger ones are the API's own to send).
  const relay = new OutboxRelay({ pool, sqs, queueUrl: sqsServer.queueUrl, log, intervalSeconds: 1 });
  assert.equal(await relay.relayOnce() >= 0, true);
  await h.sleep(1100);
  assert.equal(await relay.relayOnce(), 1);
  assert.equal(await relay.relayOnce(), 0, 'a sent row is not sent again');
  const { rows } = await pool.query('SELECT sent_at IS NOT NULL AS sent, sends FROM outbox WHERE job_id = $1', [job.id]);
  assert.deepEqual(rows, [{ sent: true, sends: 1 }]);
  const msg = await sqs.send(new ReceiveMessageCommand({ QueueUrl: sqsServer.queueUrl, WaitTimeSeconds: 1 }));
  assert.deepEqual(JSON.parse(msg.Messages[0].Body), { jobId: job.id });
});

test('the outbox row is written in the job\'s transaction: no item, neither row', async () => {
  const jobs = await count('jobs');
  const outbox = await count('outbox');
  assert.equal((await post('/api/jobs', { itemId: '00000000-0000-4000-8000-00000000000a' })).status, 404);
  assert.equal(await count('jobs'), jobs);
  assert.equal(await count('outbox'), outbox);
  // Every job the API recorded has exactly one outbox row.
  const { rows } = await pool.query('SELECT count(*)::int AS n FROM jobs j WHERE (SELECT count(*) FROM outbox o WHERE o.job_id = j.id) <> 1');
  assert.equal(rows[0].n, 0);
});

// A database of its own, migrated, then changed by the superuser; an app on a fresh pool.
async function appOn(name, prepare) {
  const d = await h.createDatabase(pg, name);
  const p = createPool(d, log);
  await migrate(p, log);
  await p.end();
  const su = h.superuserClient(pg, name);
  await su.connect();
  try {
    await prepare(su);
  } finally {
    await su.end();
  }
  const fresh = createPool(d, log);
  return { pool: fresh, app: buildApp({ pool: fresh, sqs, queueUrl: sqsServer.queueUrl, logger: log }) };
}

async function assertWritesRefused(a, p, why) {
  for (const [url, payload] of [['/api/items', { name: 'Boom' }]]) {
    const res = await a.inject({ method: 'POST', url, payload });
    assert.equal(res.statusCode, 503, `${why}: ${res.body}`);
    assert.equal(res.headers['retry-after'], String(RETRY_AFTER_SECONDS));
    assert.match(res.headers['content-type'], /application\/json/);
    assert.deepEqual(res.json(), { statusCode: 503, error: 'Service Unavailable', message: 'the database is not accepting writes; retry later' });
  }
  // Reads keep working.
  const list = await a.inject({ url: '/api/items' });
  assert.equal(list.statusCode, 200, why);
  assert.ok(list.json().items.length >= 1, why);
  const item = list.json().items[0];
  assert.equal((await a.inject({ url: `/api/items/${item.id}` })).statusCode, 200, why);
  assert.equal((await a.inject({ url: '/readyz' })).statusCode, 200, why);
  const job = await a.inject({ method: 'POST', url: '/api/jobs', payload: { itemId: item.id } });
  assert.equal(job.statusCode, 503, why);
  assert.equal(await p.query('SELECT 1').then(() => 'alive'), 'alive', 'the pool survived');
}

test('a read-only database (SQLSTATE 25006): writes 503 with Retry-After, reads work', async () => {
  const { pool: p, app: a } = await appOn('readonly', async (su) => {
    await su.query("INSERT INTO items (name) VALUES ('before read-only')");
    await su.query('ALTER DATABASE readonly SET default_transaction_read_only = on');
  });
  try {
    await assertWritesRefused(a, p, 'read-only');
  } finally {
    await a.close();
    await p.end();
  }
});

test('a full disk (SQLSTATE 53100, the tables on a 1 MiB tmpfs tablespace): writes 503, reads work', async (t) => {
  if (!h.isRoot) return t.skip('needs root to mount a tmpfs');
  const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', mnt]);
  execFileSync('chown', ['postgres:postgres', mnt]);
  let a, p;
  try {
    ({ pool: p, app: a } = await appOn('diskfull', async (su) => {
      await su.query(`CREATE TABLESPACE tiny LOCATION '${mnt}'`);
      for (const table of ['items', 'jobs', 'outbox']) await su.query(`ALTER TABLE ${table} SET TABLESPACE tiny`);
      await su.query('ALTER TABLE items SET (autovacuum_enabled = false)');
      await su.query("INSERT INTO items (name) VALUES ('before the disk filled')");
      // Fill the tablespace with incompressible rows until Postgres refuses: ENOSPC -> 53100.
      let code;
      for (let i = 0; i < 200 && !code; i++) {
        await su
          .query("INSERT INTO items (name, description) SELECT 'filler', (SELECT string_agg(md5(random()::text || g), '') FROM generate_series(1, 60) g) FROM generate_series(1, 50)")
          .catch((err) => (code = err.code));
      }
      assert.equal(code, '53100', 'the tablespace filled up');
      // Then the last free bytes of its pages, with rows the size of the API's write below
      // (no autovacuum to hand the failed batches' space back meanwhile).
      code = undefined;
      for (let i = 0; i < 20000 && !code; i++) {
        await su.query("INSERT INTO items (name) VALUES ('Boom')").catch((err) => (code = err.code));
      }
      assert.equal(code, '53100', 'the tablespace is full to the last byte');
    }));
    await assertWritesRefused(a, p, 'disk full');
  } finally {
    await a?.close();
    await p?.end();
    const su = h.superuserClient(pg);
    await su.connect();
    await su.query('DROP DATABASE IF EXISTS diskfull');
    await su.query('DROP TABLESPACE IF EXISTS tiny');
    await su.end();
    execFileSync('umount', [mnt]);
    fs.rmdirSync(mnt);
  }
});

test('an unreachable database: 503 with Retry-After, JSON, nothing leaked', async () => {
  const unreachable = new Pool({ ...db, port: await h.freePort(), connectionTimeoutMillis: 1000 });
  const a = buildApp({ pool: unreachable, sqs, queueUrl: sqsServer.queueUrl, logger: log });
  for (const [method, url, payload] of [['GET', '/api/items'], ['POST', '/api/items', { name: 'x' }], ['GET', '/api/jobs/00000000-0000-4000-8000-000000000000']]) {
    const res = await a.inject({ method, url, payload });
    assert.equal(res.statusCode, 503, url);
    assert.equal(res.headers['retry-after'], String(RETRY_AFTER_SECONDS));
    assert.equal(res.json().message, 'the database is unavailable; retry later');
    assert.doesNotMatch(res.body, /ECONNREFUSED|127\.0\.0\.1/);
  }
  await a.close();
  await unreachable.end();
});

test('migrations are idempotent and safe when several processes start at once', async () => {
  await migrate(pool, log); // again, on an up-to-date schema
  assert.equal(await count('schema_migrations'), LATEST_VERSION);

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
    assert.deepEqual(rows.map((r) => r.version).sort(), Array.from({ length: LATEST_VERSION }, (_, i) => i + 1));
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
