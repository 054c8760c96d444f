'use strict';
const fs = require('node:fs');
const { ReceiveMessageCommand, DeleteMessageCommand } = require('@aws-sdk/client-sqs');
const { processMessage } = require('./jobs');
const { HEARTBEAT_FILE } = require('./heartbeat');

// Long-polls the queue one message at a time until stop() is called.
class Consumer {
  constructor({ pool, sqs, queueUrl, log, timeoutSeconds, waitSeconds = 20, heartbeatFile = HEARTBEAT_FILE }) {
    Object.assign(this, { pool, sqs, queueUrl, log, timeoutSeconds, waitSeconds, heartbeatFile });
    this.stopping = false;
    this.abort = new AbortController();
    this.done = null;
  }

  start() {
    this.done = this.loop();
    return this.done;
  }

  // Stops polling (aborting a pending long poll), waits for the message in hand to finish.
  async stop() {
    this.stopping = true;
    this.abort.abort();
    await this.done;
  }

  async loop() {
    while (!this.stopping) {
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
      } catch (err) {
        if (this.stopping) break;
        this.log.error({ err }, 'receive failed');
        await new Promise((r) => setTimeout(r, 2000));
        continue;
      }
      this.heartbeat();
      for (const msg of messages) await this.handle(msg);
    }
  }

  async handle(msg) {
    const attempt = Number(msg.Attributes?.ApproximateReceiveCount ?? 1);
    try {
      const outcome = await processMessage(this.pool, msg.Body, this.timeoutSeconds);
      await this.sqs.send(new DeleteMessageCommand({ QueueUrl: this.queueUrl, ReceiptHandle: msg.ReceiptHandle }));
      this.log.info({ messageId: msg.MessageId, attempt, ...outcome }, 'job processed');
    } catch (err) {
      // Not deleted: it becomes visible again after the visibility timeout and the queue's
      // redrive policy dead-letters it after maxReceiveCount receives.
      this.log.warn({ messageId: msg.MessageId, attempt, err: err.message }, 'job failed, message left on queue');
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
