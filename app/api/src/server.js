'use strict';
require('./tracing'); // first: instruments what follows when Datadog is on
const { loadConfig } = require('./config');
const { createLogger } = require('./logger');
const { createPool, migrate } = require('./db');
const { createSqsClient } = require('./queue');
const { buildApp } = require('./app');
const { exitOnConfigError, onShutdown } = require('./process');

async function main() {
  const config = exitOnConfigError(loadConfig, 'api');
  const log = createLogger(config.logLevel, 'api');
  const pool = createPool(config.database, log);
  const sqs = createSqsClient(config.queue);
  await migrate(pool, log);

  const app = buildApp({ pool, sqs, queueUrl: config.queue.url, logger: log, fault: config.fault });
  await app.listen({ host: config.host, port: config.port });

  // SIGTERM: stop accepting, let in-flight requests finish (Fastify's close), then close the pool.
  onShutdown(log, async () => {
    await app.close();
    await pool.end();
    sqs.destroy();
  });
}

main().catch((err) => {
  // Config errors exit inside exitOnConfigError; anything here is a startup failure.
  console.error(JSON.stringify({ level: 'fatal', service: 'api', msg: 'startup failed', err: err.message }));
  process.exit(1);
});
