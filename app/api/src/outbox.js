'use strict';
const { isDatabaseUnavailable } = require('./dberrors');
const { setTimeout: sleep } = require('node:timers/promises');
const { SendMessageCommand } = require('@aws-sdk/client-sqs');

// The transactional outbox's relay. The API inserts a job and its outbox row in one statement
// (so one transaction), then sends the message and marks the row; a crash or an SQS failure
// between the commit and the mark leaves the row unsent, and this relay (in the worker process)
// sends it. Rows are claimed with FOR UPDATE SKIP LOCKED, so several relays never send the same
// row at once. A row can still be sent twice (the API sent it and died before marking it): the
// worker's handler is idempotent, a job completes once however many messages it gets.
class OutboxRelay {
  constructor({ pool, sqs, queueUrl, log, intervalSeconds, batch = 25 }) {
    Object.assign(this, { pool, sqs, queueUrl, log, intervalSeconds, batch });
    this.abort = new AbortController();
    this.done = null;
  }

  start() {
    this.done = this.loop();
    return this.done;
  }

  async stop() {
    this.abort.abort();
    await this.done;
  }

  async loop() {
    let failures = 0;
    while (!this.abort.signal.aborted) {
      // Normally every interval; after failures (database or SQS down) back off up to 60 s.
      const waitMs = Math.min(60_000, this.intervalSeconds * 1000 * 2 ** failures);
      try {
        await sleep(waitMs, undefined, { signal: this.abort.signal });
      } catch {
        break; // stopped
      }
      try {
        const sent = await this.relayOnce();
        if (sent > 0) this.log.info({ sent }, 'outbox: sent messages the API had not sent');
        failures = 0;
      } catch (err) {
        failures = Math.min(failures + 1, 10);
        this.log.warn({ err: err.message, failures }, 'outbox relay failed; backing off');
      }
    }
  }

  // Sends unsent rows older than the interval (younger ones are the API's to send); returns how
  // many it sent. Also prunes rows sent more than a day ago.
  async relayOnce() {
    const client = await this.pool.connect();
    let failed;
    let sent = [];
    try {
      await client.query('BEGIN');
      const { rows } = await client.query(
        `SELECT id, body FROM outbox
          WHERE sent_at IS NULL AND created_at < now() - make_interval(secs => $1)
          ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED`,
        [this.intervalSeconds, this.batch],
      );
      let failure;
      for (const row of rows) {
        try {
          await this.sqs.send(new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: JSON.stringify(row.body) }));
          sent.push(row.id);
        } catch (err) {
          failure = err;
          break;
        }
      }
      if (sent.length > 0) {
        await client.query('UPDATE outbox SET sent_at = now(), sends = sends + 1 WHERE id = ANY($1)', [sent]);
      }
      await client.query("DELETE FROM outbox WHERE sent_at < now() - interval '1 day'");
      await client.query('COMMIT');
      if (failure) throw failure;
      return sent.length;
    } catch (err) {
      failed = err;
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release(isDatabaseUnavailable(failed) ? failed : undefined);
    }
  }
}

module.exports = { OutboxRelay };
