'use strict';
// Shipped: never edit; add a new file with the next version.
module.exports = {
  version: 2,
  name: 'transactional outbox for job messages',
  // A row per queue message, inserted in the same transaction as its job: a job is never
  // committed without the message that will run it. The API sends it at once and marks it;
  // the worker's relay sends what is still unsent (the API crashed, SQS was down).
  // Expand only: a new table and its indexes, which the previous version never reads.
  sql: `
    CREATE TABLE outbox (
      id         bigserial PRIMARY KEY,
      job_id     uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
      body       jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      sent_at    timestamptz,
      sends      integer NOT NULL DEFAULT 0
    );
    CREATE INDEX outbox_unsent_idx ON outbox (id) WHERE sent_at IS NULL;
    CREATE INDEX outbox_job_idx ON outbox (job_id);
  `,
};
