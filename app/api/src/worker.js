'use strict';
require('./tracing'); // first: instruments what follows when Datadog is on
const { GetQueueAttributesCommand } = require('@aws-sdk/client-sqs');
const { loadConfig } = require('./config');
const { createLogger } = require('./logger');
const { createPool, migrate } = require('./db');
const { createSqsClient } = require('./queue');
const { Consumer } = require('./consumer');
const { OutboxRelay } = require('./outbox');
const { guaranteedSpanSeconds } = require('./backoff');
const { exitOnConfigError, onShutdown } = require('./process');

// The queue's maxReceiveCount, from its redrive policy; Infinity when it cannot be read.
async function maxReceiveCount(sqs, queueUrl, log) {
  try {
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['RedrivePolicy'] }));
    const n = Number(JSON.parse(Attributes?.RedrivePolicy ?? '{}').maxReceiveCount);
    if (Number.isInteger(n) && n > 0) return n;
  } catch (err) {
    log.warn({ err: err.message }, 'could not read the queue redrive policy');
  }
  return Infinity;
}

async function main() {
  const config = exitOnConfigError(loadConfig, 'worker');
  const log = createLogger(config.logLevel, 'worker');
  const pool = createPool(config.database, log);
  const sqs = createSqsClient(config.queue);
  // Safe to run beside the API: migrations serialise on an advisory lock.
  await migrate(pool, log);

  const receives = await maxReceiveCount(sqs, config.queue.url, log);
  const consumer = new Consumer({
    pool, sqs, queueUrl: config.queue.url, log, timeoutSeconds: config.jobTimeoutSeconds, retry: config.retry, maxReceiveCount: receives,
  });
  const relay = new OutboxRelay({ pool, sqs, queueUrl: config.queue.url, log, intervalSeconds: config.outboxRelaySeconds });
  // The message in hand may take up to its budget; compose's stop_grace_period is above this.
  const graceMs = (config.jobTimeoutSeconds + 10) * 1000;
  onShutdown(
    log,
    async () => {
      await Promise.all([consumer.stop(), relay.stop()]);
      await pool.end();
      sqs.destroy();
    },
    graceMs,
  );
  log.info(
    {
      retry: config.retry,
      maxReceiveCount: receives,
      // The least time a failing message stays on the queue before it is dead-lettered.
      guaranteedRetrySpanSeconds: config.retry.baseSeconds > 0 && Number.isFinite(receives) ? guaranteedSpanSeconds(receives, config.retry) : null,
    },
    'worker polling',
  );
  relay.start();
  await consumer.start();
}

main().catch((err) => {
  console.error(JSON.stringify({ level: 'fatal', service: 'worker', msg: 'startup failed', err: err.message }));
  process.exit(1);
});
