'use strict';
const { isDatabaseUnavailable } = require('./dberrors');

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// Processes one queue message. Idempotent: the job row is locked, a job already done is left
// alone, so a redelivered message (SQS is at-least-once) changes nothing. Throws on anything it
// cannot process; the caller then leaves the message on the queue, and the queue's redrive
// policy moves it to the dead-letter queue after maxReceiveCount attempts.
function jobIdOf(body) {
  let jobId;
  try {
    jobId = JSON.parse(body).jobId;
  } catch {
    throw new Error('message body is not JSON');
  }
  if (typeof jobId !== 'string' || !UUID.test(jobId)) throw new Error('message has no valid jobId');
  return jobId;
}

// A job is done once: a job already done is left alone (however many messages it gets), any
// other status (queued; failed, when an operator redrives a dead-lettered message) is processed.
async function processMessage(pool, body, timeoutSeconds) {
  const jobId = jobIdOf(body);

  const client = await pool.connect();
  let failed;
  try {
    await client.query('BEGIN');
    // The processing budget: no statement (including waiting for the row lock) may outlast it.
    await client.query(`SET LOCAL statement_timeout = ${timeoutSeconds * 1000}`);
    const { rows } = await client.query(
      `SELECT j.status, i.name, i.description
         FROM jobs j JOIN items i ON i.id = j.item_id
        WHERE j.id = $1 FOR UPDATE OF j`,
      [jobId],
    );
    if (rows.length === 0) throw new Error(`job ${jobId} does not exist`);
    if (rows[0].status === 'done') {
      await client.query('COMMIT');
      return { jobId, alreadyDone: true };
    }
    const text = `${rows[0].name} ${rows[0].description}`.trim();
    const result = { characters: text.length, words: text.split(/\s+/).filter(Boolean).length };
    await client.query("UPDATE jobs SET status = 'done', result = $2, updated_at = now() WHERE id = $1", [jobId, result]);
    await client.query('COMMIT');
    return { jobId, alreadyDone: false, result };
  } catch (err) {
    failed = err;
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release(isDatabaseUnavailable(failed) ? failed : undefined);
  }
}

// Gives up on a job (its last receive failed): the SPA stops waiting for it. Never undoes done.
async function markFailed(pool, body) {
  const jobId = jobIdOf(body);
  await pool.query("UPDATE jobs SET status = 'failed', updated_at = now() WHERE id = $1 AND status = 'queued'", [jobId]);
}

module.exports = { processMessage, markFailed };
