'use strict';
// Ordered, append-only schema migrations. Never edit one that has shipped; add a new version.
module.exports = [
  {
    version: 1,
    name: 'items and jobs',
    sql: `
      CREATE TABLE items (
        id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
        description text NOT NULL DEFAULT '' CHECK (char_length(description) <= 2000),
        created_at  timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX items_created_at_idx ON items (created_at DESC);

      CREATE TABLE jobs (
        id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        item_id    uuid NOT NULL REFERENCES items (id) ON DELETE CASCADE,
        status     text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'done', 'failed')),
        result     jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
    `,
  },
  {
    version: 2,
    name: 'transactional outbox for job messages',
    // A row per queue message, inserted in the same transaction as its job: a job is never
    // committed without the message that will run it. The API sends it at once and marks it;
    // the worker's relay sends what is still unsent (the API crashed, SQS was down).
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
  },
];
