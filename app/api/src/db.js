'use strict';
const { isDatabaseUnavailable } = require('./dberrors');
const { Pool } = require('pg');
const migrations = require('./migrations');

// Arbitrary constant shared by every process of this app: the advisory lock that serialises
// migrations when the API and the worker (or two replicas) start at the same moment.
const MIGRATION_LOCK_KEY = 7281_4401;
const LATEST_VERSION = Math.max(...migrations.map((m) => m.version));

function createPool(database, log) {
  const pool = new Pool({ ...database, max: 10, connectionTimeoutMillis: 5000, idleTimeoutMillis: 30000 });
  // An idle client losing its connection (database restart) must not crash the process.
  pool.on('error', (err) => log.warn({ err }, 'idle database client error'));
  // Nor a checked-out one: between two queries of a transaction a client has no query to fail,
  // so its connection error is an 'error' event, fatal without a listener (the pool listens
  // only while the client is idle). Its next query fails instead, and release(err) discards it.
  pool.on('connect', (client) => client.on('error', (err) => log.warn({ err: err.message }, 'database connection lost')));
  return pool;
}

// Applies pending migrations in one transaction under a transaction-scoped advisory lock:
// a second process blocks on the lock, then finds nothing left to do.
async function migrate(pool, log) {
  const client = await pool.connect();
  let failed;
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version    integer PRIMARY KEY,
      name       text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query('SELECT version FROM schema_migrations');
    const applied = new Set(rows.map((r) => r.version));
    for (const m of migrations.filter((x) => !applied.has(x.version))) {
      await client.query(m.sql);
      await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      log.info({ version: m.version, name: m.name }, 'migration applied');
    }
    await client.query('COMMIT');
  } catch (err) {
    failed = err;
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release(isDatabaseUnavailable(failed) ? failed : undefined);
  }
}

// Ready means reachable and migrated to the version this code expects.
async function isMigrated(pool) {
  const { rows } = await pool.query(
    "SELECT to_regclass('schema_migrations') IS NOT NULL AS present",
  );
  if (!rows[0].present) return false;
  const res = await pool.query('SELECT coalesce(max(version), 0) AS v FROM schema_migrations');
  return res.rows[0].v >= LATEST_VERSION;
}

module.exports = { createPool, migrate, isMigrated, LATEST_VERSION };
