'use strict';
const { STATUS_CODES } = require('node:http');
const Fastify = require('fastify');
const { SendMessageCommand } = require('@aws-sdk/client-sqs');
const { isMigrated } = require('./db');
const { isDatabaseUnavailable, isWriteRefused } = require('./dberrors');

const BODY_LIMIT = 16 * 1024; // bytes; larger bodies get 413 before any handler runs
// Seconds a client should wait after a 503 because the database could not take the request.
const RETRY_AFTER_SECONDS = 30;

const uuid = { type: 'string', format: 'uuid' };
const idParams = { type: 'object', required: ['id'], properties: { id: uuid } };
const itemBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 200, pattern: '\\S' },
    description: { type: 'string', maxLength: 2000 },
  },
};
const jobBody = {
  type: 'object',
  additionalProperties: false,
  required: ['itemId'],
  properties: { itemId: uuid },
};

const itemColumns = 'id, name, description, created_at AS "createdAt"';
const jobColumns = 'id, item_id AS "itemId", status, result, created_at AS "createdAt", updated_at AS "updatedAt"';

// Builds the HTTP API; the caller owns the pool and the SQS client and closes them.
// fault: 'none' everywhere but the outage drill (config.js, SLIPWAY_FAULT).
function buildApp({ pool, sqs, queueUrl, logger, fault = 'none' }) {
  const app = Fastify({
    loggerInstance: logger,
    bodyLimit: BODY_LIMIT,
    // One proxy hop (nginx) sets X-Forwarded-For to the client address it trusts.
    trustProxy: 1,
    // Wrong JSON types are errors, not something to coerce ("5" is not a name of 5).
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  });

  // 4xx keep Fastify's JSON shape; 5xx never leak internals to the client.
  // A database that refuses the request (unreachable, disk full, read-only) is a 503 with
  // Retry-After, not a 500: the client may retry, the process keeps serving what it can (reads,
  // when only writes are refused).
  app.setErrorHandler((err, req, reply) => {
    if (isDatabaseUnavailable(err)) {
      const writes = isWriteRefused(err);
      req.log.warn({ code: err.code, err: err.message }, writes ? 'database refused a write' : 'database unavailable');
      return reply
        .code(503)
        .header('retry-after', String(RETRY_AFTER_SECONDS))
        .send({
          statusCode: 503,
          error: 'Service Unavailable',
          message: writes ? 'the database is not accepting writes; retry later' : 'the database is unavailable; retry later',
        });
    }
    const status = err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) {
      req.log.error({ err }, 'request failed');
      return reply.code(500).send({ statusCode: 500, error: 'Internal Server Error', message: 'internal error' });
    }
    return reply.code(status).send({
      statusCode: status,
      code: err.code,
      error: STATUS_CODES[status],
      message: err.message,
    });
  });

  // Responses finished during shutdown close their connection, so close() need not wait for
  // the keep-alive timeout of connections that were busy when it started.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (req, reply) => {
    if (closing) reply.header('connection', 'close');
  });

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (req, reply) => {
    try {
      if (await isMigrated(pool)) return { status: 'ready' };
      return reply.code(503).send({ status: 'not ready', reason: 'schema not migrated' });
    } catch (err) {
      req.log.warn({ err }, 'readiness check failed');
      return reply.code(503).send({ status: 'not ready', reason: 'database unreachable' });
    }
  });

  app.get('/api/items', async () => {
    const { rows } = await pool.query(`SELECT ${itemColumns} FROM items ORDER BY created_at DESC, id LIMIT 100`);
    return { items: rows };
  });

  app.post('/api/items', { schema: { body: itemBody } }, async (req, reply) => {
    const { name, description = '' } = req.body;
    const { rows } = await pool.query(
      `INSERT INTO items (name, description) VALUES ($1, $2) RETURNING ${itemColumns}`,
      [name, description],
    );
    return reply.code(201).header('location', `/api/items/${rows[0].id}`).send(rows[0]);
  });

  app.get('/api/items/:id', { schema: { params: idParams } }, async (req, reply) => {
    const { rows } = await pool.query(`SELECT ${itemColumns} FROM items WHERE id = $1`, [req.params.id]);
    if (rows.length === 0) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: 'item not found' });
    return rows[0];
  });

  // Records the job and its outbox row in one statement (one transaction), then sends the
  // message and marks the row sent. If the process dies or SQS fails in between, the row stays
  // unsent and the worker's outbox relay sends it (outbox.js): a committed job always gets its
  // message, at least once. So the answer is 202 whenever the job is recorded.
  app.post('/api/jobs', { schema: { body: jobBody } }, async (req, reply) => {
    const { itemId } = req.body;
    const { rows } = await pool.query(
      `WITH job AS (
         INSERT INTO jobs (item_id) SELECT id FROM items WHERE id = $1 RETURNING ${jobColumns}
       ), msg AS (
         INSERT INTO outbox (job_id, body) SELECT id, json_build_object('jobId', id) FROM job RETURNING id
       )
       SELECT job.*, msg.id AS "outboxId" FROM job, msg`,
      [itemId],
    );
    if (rows.length === 0) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: 'item not found' });
    const { outboxId, ...job } = rows[0];
    if (fault === 'crash-after-insert') {
      // The drill's crash between INSERT and SendMessage (inert unless SLIPWAY_FAULT says so).
      req.log.warn({ jobId: job.id }, 'fault injection: crash after insert');
      process.kill(process.pid, 'SIGKILL');
    }
    try {
      await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify({ jobId: job.id }) }));
      await pool.query('UPDATE outbox SET sent_at = now(), sends = sends + 1 WHERE id = $1', [outboxId]);
      req.log.info({ jobId: job.id }, 'job enqueued');
    } catch (err) {
      // Sent or not, the relay has it: at worst the message goes twice, and the job runs once.
      req.log.warn({ err: err.message, jobId: job.id }, 'enqueue deferred to the outbox relay');
    }
    return reply.code(202).header('location', `/api/jobs/${job.id}`).send(job);
  });

  app.get('/api/jobs/:id', { schema: { params: idParams } }, async (req, reply) => {
    const { rows } = await pool.query(`SELECT ${jobColumns} FROM jobs WHERE id = $1`, [req.params.id]);
    if (rows.length === 0) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: 'job not found' });
    return rows[0];
  });

  return app;
}

module.exports = { buildApp, BODY_LIMIT, RETRY_AFTER_SECONDS };
