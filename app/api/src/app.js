'use strict';
const { STATUS_CODES } = require('node:http');
const Fastify = require('fastify');
const { SendMessageCommand } = require('@aws-sdk/client-sqs');
const { isMigrated } = require('./db');

const BODY_LIMIT = 16 * 1024; // bytes; larger bodies get 413 before any handler runs

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
function buildApp({ pool, sqs, queueUrl, logger }) {
  const app = Fastify({
    loggerInstance: logger,
    bodyLimit: BODY_LIMIT,
    // One proxy hop (nginx) sets X-Forwarded-For to the client address it trusts.
    trustProxy: 1,
    // Wrong JSON types are errors, not something to coerce ("5" is not a name of 5).
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  });

  // 4xx keep Fastify's JSON shape; 5xx never leak internals to the client.
  app.setErrorHandler((err, req, reply) => {
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

  // Records the job first, then enqueues it: the worker never sees a message for a row that
  // is not committed. If the queue is unavailable the job is marked failed and the client told.
  app.post('/api/jobs', { schema: { body: jobBody } }, async (req, reply) => {
    const { itemId } = req.body;
    const { rows } = await pool.query(
      `INSERT INTO jobs (item_id) SELECT id FROM items WHERE id = $1 RETURNING ${jobColumns}`,
      [itemId],
    );
    if (rows.length === 0) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: 'item not found' });
    const job = rows[0];
    try {
      await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify({ jobId: job.id }) }));
    } catch (err) {
      req.log.error({ err, jobId: job.id }, 'enqueue failed');
      await pool.query("UPDATE jobs SET status = 'failed', updated_at = now() WHERE id = $1", [job.id]);
      return reply.code(503).send({ statusCode: 503, error: 'Service Unavailable', message: 'queue unavailable, job not started' });
    }
    req.log.info({ jobId: job.id }, 'job enqueued');
    return reply.code(202).header('location', `/api/jobs/${job.id}`).send(job);
  });

  app.get('/api/jobs/:id', { schema: { params: idParams } }, async (req, reply) => {
    const { rows } = await pool.query(`SELECT ${jobColumns} FROM jobs WHERE id = $1`, [req.params.id]);
    if (rows.length === 0) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: 'job not found' });
    return rows[0];
  });

  return app;
}

module.exports = { buildApp, BODY_LIMIT };
