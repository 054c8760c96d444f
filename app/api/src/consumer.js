'use strict';
const fs = require('node:fs');
const { setTimeout: sleep } = require('node:timers/promises');
const { ReceiveMessageCommand, DeleteMessageCommand, ChangeMessageVisibilityCommand } = require('@aws-sdk/client-sqs');
const { processMessage, markFailed } = require('./jobs');
const { HEARTBEAT_FILE } = require('./heartbeat');
const { isDatabaseUnavailable } = require('./dberrors');
const { retryDelaySeconds, databaseProbeDelayMs } = require('./backoff');

// Long-polls the queue one message at a time until stop() is called.
//
// retry (config.js, backoff.js): a failed job's message is hidden for an exponentially growing,
// jittered time per receive (ChangeMessageVisibility), and while the database is unreachable the
// loop stops receiving and probes it with back-off, so an outage spends no receives of the
// messages still queued. retry.baseSeconds 0 disables both (the outage drill's control run).
// maxReceiveCount (the queue's redrive policy, when known): on the last allowed receive a job
// that still fails for a reason other than the database is marked failed, so nobody waits on it;
// its message goes on to the dead-letter queue for inspection.
class Consumer {
  constructor({ pool, sqs, queueUrl, log, timeoutSeconds, waitSeconds = 20, heartbeatFile = HEARTBEAT_FILE, retry = { baseSeconds: 0, maxSeconds: 1 }, maxReceiveCount = Infinity }) {
    Object.assign(this, { pool, sqs, queueUrl, log, timeoutSeconds, waitSeconds, heartbeatFile, retry, maxReceiveCount });
    this.backoff = retry.baseSeconds > 0;
    this.stopping = false;
    this.databaseDown = false;
    this.abort = new AbortController();
    this.done = null;
    this.stats = { receives: 0, processed: 0, failed: 0, probes: 0 };
  }

  start() {
    this.done = this.loop();
    return this.done;
  }

  // Stops polling (aborting a pending long poll or pause), waits for the message in hand to finish.
  async stop() {
    this.stopping = true;
    this.abort.abort();
    await this.done;
  }

  async pause(ms) {
    try {
      await sleep(ms, undefined, { signal: this.abort.signal });
    } catch {
      // stopped
    }
  }

  async loop() {
    let receiveFailures = 0;
    while (!this.stopping) {
      if (this.databaseDown) {
        await this.waitForDatabase();
        continue;
      }
      let messages;
      try {
        const res = await this.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: this.queueUrl,
            MaxNumberOfMessages: 1,
            WaitTimeSeconds: this.waitSeconds,
            MessageSystemAttributeNames: ['ApproximateReceiveCount'],
          }),
          { abortSignal: this.abort.signal },
        );
        messages = res.Messages ?? [];
        receiveFailures = 0;
      } catch (err) {
        if (this.stopping) break;
        receiveFailures = Math.min(receiveFailures + 1, 5);
        this.log.error({ err }, 'receive failed');
        await this.pause(1000 * 2 ** receiveFailures); // SQS unreachable: 2 s doubling to 32 s
        continue;
      }
      this.stats.receives += messages.length;
      this.heartbeat();
      for (const msg of messages) await this.handle(msg);
    }
  }

  // The database is unreachable: no receives until it answers again. The heartbeat goes on (the
  // process is healthy and doing what it should; restarting it would not help).
  async waitForDatabase() {
    this.log.warn('database unavailable: receiving paused until it answers');
    for (let k = 0; !this.stopping; k++) {
      this.heartbeat();
      await this.pause(databaseProbeDelayMs(k, this.retry));
      if (this.stopping) return;
      this.stats.probes++;
      try {
        await this.pool.query('SELECT 1');
        this.databaseDown = false;
        this.log.info({ probes: k + 1 }, 'database answers again: receiving resumed');
        return;
      } catch (err) {
        if (!isDatabaseUnavailable(err)) {
          this.databaseDown = false; // something else is wrong; let the jobs report it
          return;
        }
      }
    }
  }

  async handle(msg) {
    const attempt = Number(msg.Attributes?.ApproximateReceiveCount ?? 1);
    try {
      const outcome = await processMessage(this.pool, msg.Body, this.timeoutSeconds);
      await this.sqs.send(new DeleteMessageCommand({ QueueUrl: this.queueUrl, ReceiptHandle: msg.ReceiptHandle }));
      this.stats.processed++;
      this.log.info({ messageId: msg.MessageId, attempt, ...outcome }, 'job processed');
    } catch (err) {
      this.stats.failed++;
      const unavailable = isDatabaseUnavailable(err);
      if (!this.backoff) {
        // Not deleted: visible again after the queue's visibility timeout; the redrive policy
        // dead-letters it after maxReceiveCount receives.
        this.log.warn({ messageId: msg.MessageId, attempt, err: err.message }, 'job failed, message left on queue');
        return;
      }
      if (unavailable) this.databaseDown = true;
      if (attempt >= this.maxReceiveCount && !unavailable) {
        await markFailed(this.pool, msg.Body).catch(() => {});
        this.log.error({ messageId: msg.MessageId, attempt, err: err.message }, 'job failed on its last receive: marked failed, message goes to the dead-letter queue');
        return;
      }
      const delay = retryDelaySeconds(attempt, this.retry);
      try {
        await this.sqs.send(
          new ChangeMessageVisibilityCommand({ QueueUrl: this.queueUrl, ReceiptHandle: msg.ReceiptHandle, VisibilityTimeout: delay }),
        );
      } catch (e) {
        this.log.warn({ messageId: msg.MessageId, err: e.message }, 'could not delay the message; the queue visibility timeout applies');
      }
      this.log.warn({ messageId: msg.MessageId, attempt, retryInSeconds: delay, databaseUnavailable: unavailable, err: err.message }, 'job failed, retry later');
    }
  }

  heartbeat() {
    const now = new Date();
    try {
      fs.utimesSync(this.heartbeatFile, now, now);
    } catch {
      fs.writeFileSync(this.heartbeatFile, '');
    }
  }
}

module.exports = { Consumer };
