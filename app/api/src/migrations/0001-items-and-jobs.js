'use strict';
// Shipped: never edit; add a new file with the next version.
module.exports = {
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
};
