'use strict';
require('./tracing'); // first: instruments what follows when Datadog is on
const { loadConfig } = require('./config');
const { createLogger } = require('./logger');
const { createPool, migrate } = require('./db');
const { createSqsClient } = require('./queue');
const { Consumer } = require('./consumer');
const { exitOnConfigError, onShutdown } = require('./process');

async function main() {
  const config = exitOnConfigError(loadConfig, 'worker');
  const log = createLogger(config.logLevel, 'worker');
  const pool = createPool(config.database, log);
  const sqs = createSqsClient(config.queue);
  // Safe to run beside the API: migrations serialise on an advisory lock.
  await migrate(pool, log);

  const consumer = new Consumer({ pool, sqs, queueUrl: config.queue.url, log, timeoutSeconds: config.jobTimeoutSeconds });
  // The message in hand may take up to its budget; compose's stop_grace_period is above this.
  const graceMs = (config.jobTimeoutSeconds + 10) * 1000;
  onShutdown(
    log,
    async () => {
      await consumer.stop();
      await pool.end();
      sqs.destroy();
    },
    graceMs,
  );
  log.info('worker polling');
  await consumer.start();
}

main().catch((err) => {
  console.error(JSON.stringify({ level: 'fatal', service: 'worker', msg: 'startup failed', err: err.message }));
  process.exit(1);
});
