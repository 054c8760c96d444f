'use strict';
// The outage drill (scripts/drill-outage.sh runs it; app/test.sh runs a short one). Real
// processes on 127.0.0.1: Postgres (the app on its own role), fauxqs (SQS JSON protocol, with
// the production-shaped queue pair: dead-letter queue, RedrivePolicy maxReceiveCount 5), the API
// (src/server.js) and the worker (src/worker.js). For each run:
//   1. the API runs with SLIPWAY_FAULT=crash-after-insert: the first job it records kills it
//      (SIGKILL) between the INSERT's commit and SendMessage; the drill restarts it without
//      the fault and enqueues the remaining jobs through it;
//   2. the worker is frozen (SIGSTOP) while the jobs are enqueued, so they are all pending
//      when Postgres stops; Postgres stops (fast shutdown), the worker is thawed;
//   3. after the outage Postgres starts again on the same data directory; the drill waits until
//      nothing can change any more (no message visible or in flight, no unsent outbox row) or a
//      deadline, then counts rows and dead-lettered messages.
// Control: the worker with WORKER_RETRY_BASE_SECONDS=0 (back-off off), expected D > 0 (fauxqs
// dead-letters). Drill: the defaults scaled to the outage, expected D = 0, S = 0, C = J.
//
// Scaling, s = outage / 300 (the production case is outage 300 s, s = 1):
//   queue visibility timeout  outage / 6     (50 s; production's is 60 s: shorter is harsher)
//   WORKER_RETRY_BASE_SECONDS outage / 5     (60 s, the production default)
//   WORKER_RETRY_MAX_SECONDS  3600 * s       (3600 s, the production default)
//   OUTBOX_RELAY_SECONDS      5 * s, >= 1    (5 s, the production default)
// With maxReceiveCount 5 the back-off keeps a message at least 7.5 * base = 1.5 outages on the
// queue (backoff.js, guaranteedSpanSeconds), and the worker does not receive at all while the
// database is down.
//
// usage: node outage-drill.js [outageSeconds=300] [jobs=20]
const path = require('node:path');
const { SQSClient, GetQueueAttributesCommand } = require('@aws-sdk/client-sqs');
const { Pool } = require('pg');
const h = require('./helpers');
const { guaranteedSpanSeconds } = require('../src/backoff');

const SRC = path.join(__dirname, '..', 'src');
const outage = Number(process.argv[2] ?? process.env.OUTAGE_SECONDS ?? 300);
const jobs = Number(process.argv[3] ?? process.env.DRILL_JOBS ?? 20);
if (!Number.isInteger(outage) || outage < 12 || !Number.isInteger(jobs) || jobs < 2) {
  console.error('usage: outage-drill.js [outageSeconds >= 12] [jobs >= 2]');
  process.exit(2);
}
const s = outage / 300;
const MAX_RECEIVE_COUNT = 5;
const visibility = Math.max(1, Math.round(outage / 6));
const retry = { baseSeconds: Math.max(1, Math.round(outage / 5)), maxSeconds: Math.max(2, Math.round(3600 * s)) };
const relaySeconds = Math.max(1, Math.round(5 * s));
const note = (msg) => console.log(`  ${msg}`);

async function attrs(sqs, QueueUrl) {
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['All'] }));
  return Attributes;
}

async function run(pg, label, backoff) {
  const db = await h.createDatabase(pg, `outage_${label}`);
  const q = await h.startSqs({ visibilityTimeout: visibility, maxReceiveCount: MAX_RECEIVE_COUNT });
  const sqs = new SQSClient({ region: 'us-east-1', endpoint: q.endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  const pool = new Pool({ ...db, max: 2 });
  pool.on('error', () => {});
  const port = await h.freePort();
  const base = `http://127.0.0.1:${port}`;
  const env = h.appEnv(db, q, {
    PORT: String(port),
    WORKER_JOB_TIMEOUT_SECONDS: String(Math.max(1, Math.floor(visibility / 2))),
    WORKER_RETRY_BASE_SECONDS: String(backoff ? retry.baseSeconds : 0),
    WORKER_RETRY_MAX_SECONDS: String(retry.maxSeconds),
    OUTBOX_RELAY_SECONDS: String(relaySeconds),
  });
  const procs = [];
  const startApi = async (extra = {}) => {
    const p = h.start(process.execPath, [path.join(SRC, 'server.js')], { env: { ...env, ...extra } });
    procs.push(p);
    await h.waitFor(async () => (await fetch(`${base}/readyz`)).ok, `api\n${p.output}`);
    return p;
  };
  const post = (url, body) => fetch(base + url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  let worker;
  try {
    const crashing = await startApi({ SLIPWAY_FAULT: 'crash-after-insert' });
    worker = h.start(process.execPath, [path.join(SRC, 'worker.js')], { env });
    procs.push(worker);
    await h.waitFor(() => worker.output.includes('worker polling'), `worker\n${worker.output}`);
    const item = await (await post('/api/items', { name: 'Outage drill', description: 'count these words' })).json();

    worker.kill('SIGSTOP'); // the jobs must all be pending when the database goes away
    const crashed = await post('/api/jobs', { itemId: item.id }).then((r) => `HTTP ${r.status}`, (e) => e.cause?.code ?? e.message);
    const exit = await crashing.exited;
    if (exit.signal !== 'SIGKILL') throw new Error(`the API did not crash after the insert: ${JSON.stringify(exit)}\n${crashing.output}`);
    note(`${label}: the API died between INSERT and SendMessage (${exit.signal}; the client saw ${crashed}); restarted without the fault`);
    const api = await startApi();
    for (let i = 1; i < jobs; i++) {
      const r = await post('/api/jobs', { itemId: item.id });
      if (r.status !== 202) throw new Error(`POST /api/jobs: ${r.status} ${await r.text()}`);
    }
    const recorded = Number((await pool.query('SELECT count(*) FROM jobs')).rows[0].count);
    const unsent = Number((await pool.query('SELECT count(*) FROM outbox WHERE sent_at IS NULL')).rows[0].count);
    note(`${label}: ${recorded} jobs recorded, ${unsent} outbox row(s) unsent; Postgres stops for ${outage} s`);

    const receivesBefore = q.requests().filter((r) => r.target === 'AmazonSQS.ReceiveMessage').length;
    await pg.halt();
    const t0 = Date.now();
    worker.kill('SIGCONT');
    await h.sleep(Math.min(3000, outage * 250));
    const during = await Promise.all([
      fetch(`${base}/api/items`).then((r) => `${r.status} retry-after ${r.headers.get('retry-after')}`),
      post('/api/jobs', { itemId: item.id }).then((r) => String(r.status)),
    ]);
    note(`${label}: during the outage GET /api/items -> ${during[0]}, POST /api/jobs -> ${during[1]}`);
    await h.sleep(Math.max(0, t0 + outage * 1000 - Date.now()));
    const receivesDuring = q.requests().filter((r) => r.target === 'AmazonSQS.ReceiveMessage').length - receivesBefore;
    await pg.resume();
    note(`${label}: Postgres back after ${((Date.now() - t0) / 1000).toFixed(1)} s; ${receivesDuring} ReceiveMessage calls during the outage`);
    for (const p of [worker, api]) {
      if (p.exitCode !== null) throw new Error(`a process died during the outage: ${p.exitCode}\n${p.output}`);
    }

    // Settled: nothing visible or in flight, no unsent outbox row. The back-off's longest wait
    // after the outage is a message's delay for its second failure (2 * base) plus a probe.
    const deadline = Date.now() + (4 * retry.baseSeconds + 30) * 1000;
    let settled = false;
    while (Date.now() < deadline && !settled) {
      await h.sleep(500);
      const a = await attrs(sqs, q.queueUrl);
      const pending = Number(a.ApproximateNumberOfMessages) + Number(a.ApproximateNumberOfMessagesNotVisible) + Number(a.ApproximateNumberOfMessagesDelayed ?? 0);
      const left = await pool.query('SELECT count(*)::int AS n FROM outbox WHERE sent_at IS NULL').then((r) => r.rows[0].n, () => 1);
      settled = pending === 0 && left === 0;
    }
    const counts = (await pool.query(
      `SELECT count(*)::int AS j,
              count(*) FILTER (WHERE status = 'done')::int AS c,
              count(*) FILTER (WHERE status NOT IN ('done', 'failed'))::int AS s
         FROM jobs`,
    )).rows[0];
    const d = Number((await attrs(sqs, q.dlqUrl)).ApproximateNumberOfMessages);
    note(`${label}: ${settled ? 'settled' : 'deadline reached'} ${((Date.now() - t0) / 1000).toFixed(1)} s after the outage began`);
    return `outage ${label}: ${counts.j} jobs, ${d} dead-lettered, ${counts.c} completed, ${counts.s} stranded`;
  } catch (err) {
    for (const p of procs) console.error(`--- process output\n${p.output.slice(-4000)}`);
    throw err;
  } finally {
    worker?.kill('SIGCONT');
    await Promise.all(procs.map((p) => h.stop(p)));
    await pool.end();
    sqs.destroy();
    await q.stop();
  }
}

async function main() {
  console.log(
    `outage drill settings: outage ${outage} s, ${jobs} jobs, visibility ${visibility} s, maxReceiveCount ${MAX_RECEIVE_COUNT}, ` +
      `retry base ${retry.baseSeconds} s max ${retry.maxSeconds} s (guaranteed span ${guaranteedSpanSeconds(MAX_RECEIVE_COUNT, retry)} s), relay ${relaySeconds} s`,
  );
  const pg = await h.startPostgres();
  try {
    const lines = [];
    lines.push(await run(pg, 'control', false));
    console.log(lines[0]);
    lines.push(await run(pg, 'drill', true));
    console.log(lines[1]);
  } finally {
    await pg.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
