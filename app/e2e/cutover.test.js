'use strict';
// The release's cutover (infra/hostfiles/slipway-cutover.sh, run unchanged) on a host without
// Docker: real Postgres, the real nginx with the shipped template, real API processes; the
// Docker engine and compose are stood in for (release-harness.js, standin/docker.js say how).
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const h = require('../api/test/helpers');
const { startHost, SLOTS } = require('./release-harness');

let host, imageA, imageB;

before(async () => {
  host = await startHost({ sqs: true });
  imageA = host.image();
  imageB = host.image();
});

after(async () => {
  if (process.exitCode && host) console.error(`--- standin log\n${host.standinLog()}\n--- nginx\n${host.nginx.output.slice(-4000)}`);
  await host?.stop();
});

// A short load run through nginx while fn() runs: resolves fn's result and the summary.
async function underLoad(fn, clients = 8) {
  const stopFile = path.join(host.dir, `stop-${Date.now()}`);
  const gen = spawn(process.execPath, [path.join(__dirname, 'loadgen.js'), '--url', host.base, '--header', `${host.header}=${host.secret}`,
    '--clients', String(clients), '--max-seconds', '120', '--stop-file', stopFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  gen.stdout.on('data', (d) => (out += d));
  const exited = new Promise((r) => gen.on('exit', r));
  await h.sleep(300);
  try {
    const result = await fn();
    await h.sleep(300);
    return { result, load: (fs.writeFileSync(stopFile, ''), await exited, JSON.parse(out)) };
  } finally {
    fs.writeFileSync(stopFile, '');
  }
}

const greenFlag = () => path.join(host.dir, 'proxy', 'slot', 'green');
const slotPid = (slot) => host.container(`api-${slot}`)?.pid;
let releaseA, releaseB;

test('first release: migrated, api-blue serves through nginx, IMDS for blue only', async () => {
  releaseA = host.release(imageA);
  const r = await host.cutover(releaseA, null);
  assert.equal(r.code, 0, r.output);
  assert.equal(host.activeSlot(), 'blue');
  assert.ok(!fs.existsSync(greenFlag()), 'nginx sends traffic to api-blue');
  const res = await host.request('/api/items', { method: 'POST', body: JSON.stringify({ name: 'before the cutover' }) });
  assert.equal(res.status, 201);
  assert.match(host.standinLog(), /run api-blue node src\/migrate\.js/);
  assert.deepEqual(host.imds().slice(-1), [`allow ${SLOTS.blue}`]);
});

test('API release under load: no failed request, old slot drained and stopped, nginx and Postgres keep running', async () => {
  const nginxMaster = host.nginxMaster();
  const pgPid = host.pg.proc.pid;
  const blue = slotPid('blue');
  releaseB = host.release(imageB);
  const { result: r, load } = await underLoad(() => host.cutover(releaseB, releaseA));
  assert.equal(r.code, 0, r.output);
  assert.equal(load.failed, 0, JSON.stringify(load));
  assert.ok(load.requests > 50, JSON.stringify(load));
  assert.equal(host.activeSlot(), 'green');
  assert.ok(fs.existsSync(greenFlag()), 'nginx sends traffic to api-green');
  assert.ok(host.alive(slotPid('green')));
  assert.ok(!host.alive(blue), 'the old slot is stopped');
  assert.equal(host.nginxMaster(), nginxMaster, 'nginx kept running');
  assert.ok(host.alive(nginxMaster) && host.alive(pgPid));
  // Order: healthy first, traffic, then the old slot's SIGTERM.
  const log = host.standinLog();
  const at = (s) => log.lastIndexOf(s);
  assert.ok(at(`stop api-blue pid ${blue}`) > 0, log);
  const healthy = log.indexOf('api-green healthy', at('start api-green'));
  assert.ok(at('start api-green') < healthy && healthy < at(`stop api-blue pid ${blue}`), log);
  assert.ok(r.output.indexOf('starting api-green') < r.output.indexOf('traffic on api-green'), r.output);
  assert.doesNotMatch(log.slice(at('start api-green')), /slipway-proxy-reload/, 'an API release needs no nginx reload');
  // IMDS: both slots while they overlap, then the new one only.
  assert.deepEqual(host.imds().slice(-2), [`allow ${SLOTS.blue} ${SLOTS.green}`, `allow ${SLOTS.green}`]);
  assert.equal((await host.request('/api/items')).status, 200);
  // Each slot is the other's backup: routed to the stopped api-blue (flag removed for a moment),
  // a request, a POST included, reaches api-green instead of failing.
  fs.renameSync(greenFlag(), `${greenFlag()}.aside`);
  try {
    for (let i = 0; i < 5; i++) {
      assert.equal((await host.request('/api/items')).status, 200);
      assert.equal((await host.request('/api/items', { method: 'POST', body: JSON.stringify({ name: `backup ${i}` }) })).status, 201);
    }
  } finally {
    fs.renameSync(`${greenFlag()}.aside`, greenFlag());
  }
});

test('a new nginx template is a graceful reload: same master, no 5xx, no timeout, no request lost', async () => {
  const master = host.nginxMaster();
  const template = fs
    .readFileSync(path.join(__dirname, '..', 'proxy', 'templates', 'default.conf.template'), 'utf8')
    .replace('server_tokens off;', 'server_tokens off;\n  add_header X-Template-Test rev3 always;');
  const rel = host.release(imageA, { template });
  const { result: r, load } = await underLoad(() => host.cutover(rel, releaseB));
  assert.equal(r.code, 0, r.output);
  // No 5xx, no timeout, no response cut short. What a reload cannot avoid: nginx closes its old
  // workers' idle client keep-alive connections at once, and a client that sends its next
  // request on one at that instant is reset before any byte of response (HTTP/1.1's keep-alive
  // race). nginx never read such a request: every write that got no answer must be absent from
  // the database below, so a client may send it again. A reset on a new connection, any other
  // failure, or a write applied but never answered fails the test.
  const excused = /^(ECONNRESET|EPIPE) \(reused idle keep-alive connection\)$/;
  const other = Object.entries(load.failures).filter(([k]) => !excused.test(k));
  assert.deepEqual(other, [], JSON.stringify(load));
  // At most one per connection (an old worker closes each once; the client's next connection
  // reaches a new worker), and the loadgen's agent holds at most one connection per client.
  assert.ok(load.failed <= load.clients, JSON.stringify(load));
  const db = h.superuserClient(host.pg, host.db.database);
  await db.connect();
  try {
    const { rows } = await db.query('SELECT name FROM items WHERE name = ANY($1)', [load.unanswered]);
    assert.deepEqual(rows, [], `writes that got no answer were applied: ${JSON.stringify(rows)}`);
  } finally {
    await db.end();
  }
  assert.equal((await host.request('/api/items')).headers.get('x-template-test'), 'rev3');
  assert.equal(host.nginxMaster(), master);
  assert.match(host.standinLog(), /exec proxy slipway-proxy-reload\n.*exec proxy exited 0/);
  assert.equal(host.activeSlot(), 'blue');
  releaseA = rel;
});

async function failsAndOldServes(rel, reason) {
  const slot = host.activeSlot();
  const pid = slotPid(slot);
  const flag = fs.existsSync(greenFlag());
  const { result: r, load } = await underLoad(() => host.cutover(rel, releaseA), 4);
  assert.notEqual(r.code, 0, r.output);
  assert.match(r.output.trim().split('\n').pop(), reason, r.output);
  assert.equal(load.failed, 0, JSON.stringify(load));
  assert.equal(host.activeSlot(), slot);
  assert.ok(host.alive(pid), 'the old slot still runs');
  assert.equal(fs.existsSync(greenFlag()), flag, 'traffic stays on the old slot');
  assert.equal((await host.request('/api/items')).status, 200);
  return r;
}

test('a worker release lets the job in hand finish (stop_grace_period), then the new worker runs', async () => {
  const { Client } = require('../api/node_modules/pg');
  const { SQSClient, SendMessageCommand } = require('../api/node_modules/@aws-sdk/client-sqs');
  const withWorker = host.release(imageB, { worker: true });
  let r = await host.cutover(withWorker, releaseA);
  assert.equal(r.code, 0, r.output);
  const oldWorker = host.container('worker').pid;
  assert.ok(host.alive(oldWorker));

  // A job in hand: its row locked by this test, so the worker holding the message waits.
  const item = await (await host.request('/api/items', { method: 'POST', body: JSON.stringify({ name: 'in hand' }) })).json();
  const c = new Client(host.db);
  await c.connect();
  const sqs = new SQSClient({ region: 'us-east-1', endpoint: host.sqs.endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  try {
    const { rows: [job] } = await c.query('INSERT INTO jobs (item_id) VALUES ($1) RETURNING id', [item.id]);
    await c.query('BEGIN');
    await c.query('SELECT 1 FROM jobs WHERE id = $1 FOR UPDATE', [job.id]);
    await sqs.send(new SendMessageCommand({ QueueUrl: host.sqs.queueUrl, MessageBody: JSON.stringify({ jobId: job.id }) }));
    const other = new Client(host.db);
    await other.connect();
    await h.waitFor(async () => (await other.query("SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'")).rowCount > 0, 'the worker waiting on the job');
    await other.end();

    const next = host.release(imageA, { worker: true });
    const cut = host.cutover(next, withWorker);
    await h.waitFor(() => host.standinLog().includes(`stop worker pid ${oldWorker}`), 'the worker release', 60000);
    await h.sleep(1500);
    assert.ok(host.alive(oldWorker), 'SIGTERM: the old worker is still finishing the job in hand');
    await c.query('COMMIT'); // the job can go on
    r = await cut;
    assert.equal(r.code, 0, r.output);
    const log = host.standinLog();
    assert.match(log, new RegExp(`stopped worker pid ${oldWorker}`));
    assert.doesNotMatch(log, new RegExp(`kill worker pid ${oldWorker}`), 'it finished within stop_grace_period');
    assert.equal((await c.query('SELECT status FROM jobs WHERE id = $1', [job.id])).rows[0].status, 'done');
    const newWorker = host.container('worker').pid;
    assert.ok(newWorker !== oldWorker && host.alive(newWorker));
    // the worker reaches IMDS beside the serving slot
    assert.match(host.imds().at(-1), new RegExp(`^allow .*${SLOTS.worker.replace(/\./g, '\\.')}`));
    releaseA = next;
  } finally {
    await c.end();
    sqs.destroy();
  }
});

test('a failing migration: the release fails with the migration error, the old version keeps serving', async () => {
  const broken = host.image({
    '0003-owner.js': "module.exports = { version: 3, name: 'owner', sql: 'ALTER TABLE items ADD COLUMN owner uuid REFERENCES nobody (id)' };",
  });
  const r = await failsAndOldServes(host.release(broken), /migration failed: relation "nobody" does not exist; still serving the previous release/);
  // Exit 3: the migration failed, no application service was touched; the release script puts
  // this last line (the migration's error) in the receipt's reason, and the migration's output in
  // its log lines (infra's TestReleaseScriptReportsTheMigrationsError).
  assert.equal(r.code, 3, r.output);
  assert.match(r.output, /^migration failed: relation "nobody" does not exist$/m, 'the migration\'s own output is on stderr');
  assert.doesNotMatch(r.output, /starting api-/, 'the new slot was never started');
  // the shipped migrations (the outbox, 2, the last) and not the failing 3
  assert.equal((await pgQuery('SELECT max(version) AS v FROM schema_migrations')).rows[0].v, 2);
});

test('a destructive migration without contract: true is refused by the release', async () => {
  const destructive = host.image({
    '0003-drop-description.js': "module.exports = { version: 3, name: 'drop description', sql: 'ALTER TABLE items DROP COLUMN description' };",
  });
  const r = await failsAndOldServes(host.release(destructive), /migration failed: migration 3 \(drop description\) is destructive and not marked as the contract step/);
  assert.equal(r.code, 3, r.output);
  const cols = (await pgQuery("SELECT column_name FROM information_schema.columns WHERE table_name = 'items'")).rows.map((x) => x.column_name);
  assert.ok(cols.includes('description'));
});

test('an unhealthy new API or a template nginx refuses: the release fails, the old version keeps serving', async () => {
  const crashing = host.image({}, { 'src/server.js': "console.error('boom'); process.exit(1);\n" });
  await failsAndOldServes(host.release(crashing), /api-(blue|green) is not healthy; still serving the previous release/);
  const bad = host.release(imageB, { template: 'server { this is not nginx }\n' });
  await failsAndOldServes(bad, /nginx did not take the new configuration/);
  // the template on the host is the one that serves, not the refused one
  assert.doesNotMatch(fs.readFileSync(path.join(host.dir, 'proxy', 'templates', 'default.conf.template'), 'utf8'), /this is not nginx/);
});

async function pgQuery(sql) {
  const { Client } = require('../api/node_modules/pg');
  const c = new Client(host.db);
  await c.connect();
  try {
    return await c.query(sql);
  } finally {
    await c.end();
  }
}

test('the first release with slots on a host that runs the single api: api-green first, no failed request, the old api removed', async () => {
  const old = await startHost();
  try {
    const legacy = old.release(old.image(), { legacy: true });
    const first = await old.recreate(legacy, 'api'); // what slipway-release did: compose up --wait
    assert.equal(first.code, 0, first.output);
    assert.equal((await old.request('/api/items')).status, 200, 'nginx reaches the old api on api-blue\'s address');
    const oldApi = old.container('api').pid;
    const slots = old.release(old.image());
    const stopFile = path.join(old.dir, 'stop');
    const gen = spawn(process.execPath, [path.join(__dirname, 'loadgen.js'), '--url', old.base, '--header', `${old.header}=${old.secret}`,
      '--clients', '4', '--max-seconds', '120', '--stop-file', stopFile], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    gen.stdout.on('data', (d) => (out += d));
    const exited = new Promise((r) => gen.on('exit', r));
    await h.sleep(300);
    const r = await old.cutover(slots, legacy);
    await h.sleep(300);
    fs.writeFileSync(stopFile, '');
    await exited;
    const load = JSON.parse(out);
    assert.equal(r.code, 0, r.output);
    assert.equal(load.failed, 0, JSON.stringify(load));
    assert.equal(old.activeSlot(), 'green');
    assert.ok(!old.alive(oldApi), 'the old api is stopped');
    assert.equal(old.container('api'), null, 'and removed as an orphan');
    assert.match(old.standinLog(), /removed orphan api/);
    assert.equal((await old.request('/api/items')).status, 200);
  } finally {
    await old.stop();
  }
});
