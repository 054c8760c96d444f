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
