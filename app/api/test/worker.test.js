'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { SendMessageCommand, ReceiveMessageCommand, DeleteMessageCommand, GetQueueAttributesCommand } = require('@aws-sdk/client-sqs');
const h = require('./helpers');
const { createPool, migrate } = require('../src/db');
const { createSqsClient } = require('../src/queue');
const { createLogger } = require('../src/logger');
const { Consumer } = require('../src/consumer');
const { processMessage } = require('../src/jobs');
const { retryDelaySeconds, guaranteedSpanSeconds, databaseProbeDelayMs } = require('../src/backoff');
const { loadConfig } = require('../src/config');

process.env.AWS_ACCESS_KEY_ID = 'test';
process.env.AWS_SECRET_ACCESS_KEY = 'test';

const log = createLogger('silent', 'test');
const heartbeatFile = path.join(os.tmpdir(), `slipway-heartbeat-test-${process.pid}`);
let pg, sqsServer, pool, sqs, consumer;

before(async () => {
  [pg, sqsServer] = await Promise.all([h.startPostgres(), h.startSqs({ visibilityTimeout: 1, maxReceiveCount: 2 })]);
  pool = createPool(await h.createDatabase(pg, 'worker_test'), log);
  await migrate(pool, log);
  sqs = createSqsClient({ region: 'us-east-1', endpoint: sqsServer.endpoint });
  consumer = new Consumer({ pool, sqs, queueUrl: sqsServer.queueUrl, log, timeoutSeconds: 5, waitSeconds: 1, heartbeatFile });
  consumer.start();
});

after(async () => {
  await consumer?.stop();
  await pool?.end();
  sqs?.destroy();
  fs.rmSync(heartbeatFile, { force: true });
  await Promise.all([pg?.stop(), sqsServer?.stop()]);
});

const visible = async (QueueUrl) => {
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['All'] }));
  return Number(Attributes.ApproximateNumberOfMessages) + Number(Attributes.ApproximateNumberOfMessagesNotVisible);
};

async function newJob(name) {
  const item = (await pool.query('INSERT INTO items (name, description) VALUES ($1, $2) RETURNING id', [name, 'two words'])).rows[0];
  return (await pool.query('INSERT INTO jobs (item_id) VALUES ($1) RETURNING id', [item.id])).rows[0].id;
}

test('a job goes queued -> done and its message is deleted', async () => {
  const jobId = await newJob('Bowsprit');
  await sqs.send(new SendMessageCommand({ QueueUrl: sqsServer.queueUrl, MessageBody: JSON.stringify({ jobId }) }));
  const row = await h.waitFor(async () => {
    const { rows } = await pool.query('SELECT status, result FROM jobs WHERE id = $1', [jobId]);
    return rows[0].status === 'done' && rows[0];
  }, 'job done');
  assert.deepEqual(row.result, { characters: 18, words: 3 });
  await h.waitFor(async () => (await visible(sqsServer.queueUrl)) === 0, 'queue empty');
  assert.ok(fs.existsSync(heartbeatFile), 'heartbeat written after a poll');
});

test('processing is idempotent: a redelivered message changes nothing', async () => {
  const jobId = await newJob('Jib');
  const body = JSON.stringify({ jobId });
  const first = await processMessage(pool, body, 5);
  assert.equal(first.alreadyDone, false);
  const { rows: [before] } = await pool.query('SELECT result, updated_at FROM jobs WHERE id = $1', [jobId]);
  const second = await processMessage(pool, body, 5);
  assert.equal(second.alreadyDone, true);
  const { rows: [after] } = await pool.query('SELECT result, updated_at FROM jobs WHERE id = $1', [jobId]);
  assert.deepEqual(after, before);
});

test('a poison message ends in the dead-letter queue through the redrive policy (SQS: fauxqs)', async () => {
  for (const body of ['not json', JSON.stringify({ jobId: '00000000-0000-4000-8000-000000000000' })]) {
    await sqs.send(new SendMessageCommand({ QueueUrl: sqsServer.queueUrl, MessageBody: body }));
    const dead = await h.waitFor(async () => {
      const res = await sqs.send(new ReceiveMessageCommand({ QueueUrl: sqsServer.dlqUrl, WaitTimeSeconds: 1 }));
      return res.Messages?.[0];
    }, `dead-lettered: ${body}`, 30000);
    assert.equal(dead.Body, body);
    await sqs.send(new DeleteMessageCommand({ QueueUrl: sqsServer.dlqUrl, ReceiptHandle: dead.ReceiptHandle }));
    assert.equal(await visible(sqsServer.queueUrl), 0);
  }
  // The consumer's calls reached fauxqs in SQS's JSON protocol.
  const targets = new Set(sqsServer.requests().map((r) => `${r.protocol} ${r.target}`));
  for (const op of ['ReceiveMessage', 'DeleteMessage', 'SendMessage', 'GetQueueAttributes']) {
    assert.ok(targets.has(`json AmazonSQS.${op}`), `${op} in ${[...targets]}`);
  }
  assert.ok([...targets].every((t) => t.startsWith('json ')), [...targets].join(', '));
});

test('stop() ends a pending long poll promptly', async () => {
  const c = new Consumer({ pool, sqs, queueUrl: sqsServer.dlqUrl, log, timeoutSeconds: 5, waitSeconds: 20, heartbeatFile });
  c.start();
  await h.sleep(300);
  const t0 = Date.now();
  await c.stop();
  assert.ok(Date.now() - t0 < 2000, `stop took ${Date.now() - t0} ms`);
});

test('back-off arithmetic: with maxReceiveCount 5 a 5-minute outage cannot exhaust the receives', () => {
  const prod = loadConfig({ DATABASE_HOST: 'h', DATABASE_NAME: 'n', DATABASE_USER: 'u', DATABASE_PASSWORD: 'p', QUEUE_URL: 'http://q', AWS_REGION: 'r' }).retry;
  assert.deepEqual(prod, { baseSeconds: 60, maxSeconds: 3600 });
  // Equal jitter: each delay lies in [d/2, d], d = min(max, base * 2^(n-1)).
  assert.deepEqual([1, 2, 3, 4, 5].map((n) => retryDelaySeconds(n, prod, () => 0)), [30, 60, 120, 240, 480]);
  assert.deepEqual([1, 2, 3, 4, 5].map((n) => retryDelaySeconds(n, prod, () => 0.999999)), [60, 120, 240, 480, 960]);
  assert.equal(retryDelaySeconds(12, prod, () => 1), 3600, 'capped at WORKER_RETRY_MAX_SECONDS');
  assert.equal(retryDelaySeconds(30, { baseSeconds: 3600, maxSeconds: 43200 }, () => 1), 43200, 'never above SQS 12 h');
  // Receives 1..5 are allowed, the 6th dead-letters: receive 5 comes at least 30+60+120+240 s
  // after receive 1, so a message failing on its first receive at the start of a 300 s outage
  // is received a 5th time only after the database is back.
  assert.equal(guaranteedSpanSeconds(5, prod), 450);
  assert.ok(guaranteedSpanSeconds(5, prod) > 300);
  // The drill scales the base with the outage (base = outage / 5): the span stays 1.5 outages.
  for (const outage of [20, 30, 300]) assert.ok(guaranteedSpanSeconds(5, { baseSeconds: outage / 5, maxSeconds: 3600 }) >= 1.5 * outage);
  // The receive loop's pause while the database is down: 0.5 s doubling, at most min(30 s, base).
  assert.deepEqual([0, 1, 2, 3, 10].map((k) => databaseProbeDelayMs(k, prod, () => 0.999999)), [500, 1000, 2000, 4000, 30000]);
  assert.equal(databaseProbeDelayMs(10, { baseSeconds: 4 }, () => 1), 4000);
});

test('a job re-sent several times completes once', async () => {
  const jobId = await newJob('Gaff');
  for (let i = 0; i < 3; i++) await sqs.send(new SendMessageCommand({ QueueUrl: sqsServer.queueUrl, MessageBody: JSON.stringify({ jobId }) }));
  const first = await h.waitFor(async () => {
    const { rows } = await pool.query('SELECT status, updated_at FROM jobs WHERE id = $1', [jobId]);
    return rows[0].status === 'done' && rows[0];
  }, 'job done');
  await h.waitFor(async () => (await visible(sqsServer.queueUrl)) === 0, 'all three messages deleted');
  const { rows: [last] } = await pool.query('SELECT status, updated_at FROM jobs WHERE id = $1', [jobId]);
  assert.deepEqual(last, first, 'the second and third message changed nothing');
});

// Its own queue pair (maxReceiveCount 5, as in production) and consumers, so the counts are theirs.
test('database down: with back-off the worker stops receiving and the jobs complete when it returns; without, it spins', async () => {
  const q = await h.startSqs({ visibilityTimeout: 1, maxReceiveCount: 5 });
  const sqs = createSqsClient({ region: 'us-east-1', endpoint: q.endpoint });
  const opts = { pool, sqs, queueUrl: q.queueUrl, log, timeoutSeconds: 5, waitSeconds: 1, heartbeatFile };
  const ids = [];
  try {
    for (let i = 0; i < 3; i++) ids.push(await newJob(`Outage ${i}`));
    for (const jobId of ids) await sqs.send(new SendMessageCommand({ QueueUrl: q.queueUrl, MessageBody: JSON.stringify({ jobId }) }));
    await pg.halt();

    // Without back-off (the old loop): every receive fails and counts, ~1 per second per message
    // (for 2 s only: the messages must keep receives for the rest of the test; maxReceiveCount 5).
    const spinning = new Consumer({ ...opts, retry: { baseSeconds: 0, maxSeconds: 1 } });
    spinning.start();
    await h.sleep(2000);
    await spinning.stop();

    const patient = new Consumer({ ...opts, retry: { baseSeconds: 4, maxSeconds: 60 }, maxReceiveCount: 5 });
    const before = patient.stats.receives;
    patient.start();
    await h.sleep(4000);
    const duringOutage = patient.stats.receives - before;
    console.log(`database down: without back-off ${spinning.stats.receives} receives in 2 s; with back-off ${duringOutage} in 4 s (${patient.stats.probes} database probes)`);
    assert.ok(spinning.stats.receives >= 4, `without back-off: ${spinning.stats.receives} receives in 2 s`);
    assert.ok(duringOutage <= 1, `with back-off: ${duringOutage} receives in 4 s of outage (the message in hand only)`);
    assert.ok(patient.stats.probes >= 2, 'probed the database instead of receiving');

    await pg.resume();
    try {
      await h.waitFor(async () => {
        const { rows } = await pool.query("SELECT count(*)::int AS n FROM jobs WHERE id = ANY($1) AND status = 'done'", [ids]);
        return rows[0].n === ids.length;
      }, 'every job done after the outage', 60000);
    } finally {
      await patient.stop();
    }
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: q.dlqUrl, AttributeNames: ['ApproximateNumberOfMessages'] }));
    assert.equal(Attributes.ApproximateNumberOfMessages, '0', 'nothing dead-lettered');
  } finally {
    if (pg.proc.exitCode !== null || pg.proc.signalCode !== null) await pg.resume();
    sqs.destroy();
    await q.stop();
  }
});

test('a job that still fails on its last receive is marked failed (the SPA stops waiting) and dead-lettered', async () => {
  const q = await h.startSqs({ visibilityTimeout: 1, maxReceiveCount: 1 });
  const sqs = createSqsClient({ region: 'us-east-1', endpoint: q.endpoint });
  const jobId = await newJob('Locked');
  // Another transaction holds the job's row: the worker's statement_timeout (1 s) cancels it,
  // an error that is not the database being unavailable.
  const locker = await pool.connect();
  await locker.query('BEGIN');
  await locker.query('SELECT 1 FROM jobs WHERE id = $1 FOR UPDATE', [jobId]);
  const c = new Consumer({ pool, sqs, queueUrl: q.queueUrl, log, timeoutSeconds: 1, waitSeconds: 1, heartbeatFile, retry: { baseSeconds: 1, maxSeconds: 2 }, maxReceiveCount: 1 });
  try {
    await sqs.send(new SendMessageCommand({ QueueUrl: q.queueUrl, MessageBody: JSON.stringify({ jobId }) }));
    c.start();
    await h.waitFor(() => c.stats.failed >= 1, 'the job failed once');
    await locker.query('ROLLBACK');
    await h.waitFor(async () => (await pool.query('SELECT status FROM jobs WHERE id = $1', [jobId])).rows[0].status === 'failed', 'job marked failed');
    await h.waitFor(async () => {
      const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: q.dlqUrl, AttributeNames: ['ApproximateNumberOfMessages'] }));
      return Attributes.ApproximateNumberOfMessages === '1';
    }, 'dead-lettered', 15000);
  } finally {
    locker.release();
    await c.stop();
    sqs.destroy();
    await q.stop();
  }
});

test('a failing job is hidden for its back-off (ChangeMessageVisibility), not the queue visibility timeout, then completes', async () => {
  const q = await h.startSqs({ visibilityTimeout: 1, maxReceiveCount: 5 });
  const sqs = createSqsClient({ region: 'us-east-1', endpoint: q.endpoint });
  const jobId = await newJob('Backed off');
  const failures = [];
  const rec = { info() {}, error() {}, warn(obj, msg) { if (msg === 'job failed, retry later') failures.push({ at: Date.now(), ...obj }); } };
  // The row is locked: the job's statement_timeout (1 s) fails it, a failure of the job itself.
  const locker = await pool.connect();
  await locker.query('BEGIN');
  await locker.query('SELECT 1 FROM jobs WHERE id = $1 FOR UPDATE', [jobId]);
  const c = new Consumer({ pool, sqs, queueUrl: q.queueUrl, log: rec, timeoutSeconds: 1, waitSeconds: 1, heartbeatFile, retry: { baseSeconds: 6, maxSeconds: 60 }, maxReceiveCount: 5 });
  try {
    await sqs.send(new SendMessageCommand({ QueueUrl: q.queueUrl, MessageBody: JSON.stringify({ jobId }) }));
    c.start();
    await h.waitFor(() => failures.length >= 2, 'two failed receives', 30000);
    await locker.query('ROLLBACK');
    // Receive 1 failed -> hidden 3..6 s; receive 2 came after that (plus its own 1 s timeout),
    // not after the queue's 1 s visibility timeout (that would be a gap of about 2 s).
    assert.equal(failures[0].attempt, 1);
    assert.ok(failures[0].retryInSeconds >= 3 && failures[0].retryInSeconds <= 6, JSON.stringify(failures[0]));
    assert.equal(failures[1].attempt, 2);
    const gap = (failures[1].at - failures[0].at) / 1000;
    assert.ok(gap >= failures[0].retryInSeconds, `second failure ${gap} s after the first, back-off ${failures[0].retryInSeconds} s`);
    await h.waitFor(async () => (await pool.query('SELECT status FROM jobs WHERE id = $1', [jobId])).rows[0].status === 'done', 'done after its back-off', 30000);
  } finally {
    locker.release();
    await c.stop();
    sqs.destroy();
    await q.stop();
  }
});
