'use strict';
const { isDatabaseUnavailable } = require('./dberrors');
const { Pool } = require('pg');
const migrations = require('./migrations');
const { destructiveStatements, isWidening, parserReady } = migrations;

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

// The type a column has now, as { name, mods } like migrations.js reads a TypeName, or null
// when there is no such column (one the same migration creates is no concern of the running
// version).
async function currentType(client, { schema, table, column }) {
  const { rows } = await client.query(
    `SELECT t.typname, a.atttypmod FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
      WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND NOT a.attisdropped`,
    [schema ? `"${schema}"."${table}"` : `"${table}"`, column],
  );
  if (rows.length === 0) return null;
  const { typname: name, atttypmod: mod } = rows[0];
  if (mod < 0) return { name, mods: [] };
  if (name === 'numeric') return { name, mods: [((mod - 4) >> 16) & 0xffff, (mod - 4) & 0xffff] };
  if (name === 'varchar' || name === 'bpchar') return { name, mods: [mod - 4] };
  return { name, mods: [mod] };
}

// Refuses a migration the running version may not survive unless it says it is the contract
// step (see migrations.js): the error names the migration, the statement and why.
async function guard(client, m) {
  const found = [];
  for (const s of destructiveStatements(m.sql)) {
    if (s.typeChange) {
      const from = await currentType(client, s);
      if (!from || isWidening(from, s.typeChange)) continue;
      s.reason = `ALTER COLUMN TYPE ${from.name}${from.mods.length ? `(${from.mods})` : ''} -> ${s.typeChange.name}${s.typeChange.mods.length ? `(${s.typeChange.mods})` : ''} is not a widening`;
    }
    found.push(s);
  }
  if (found.length > 0 && m.contract !== true) {
    const list = found.map((s) => `${s.reason}: ${s.statement.replace(/\s+/g, ' ')}`).join('; ');
    const err = new Error(
      `migration ${m.version} (${m.name}) is destructive and not marked as the contract step (contract: true): ${list}`,
    );
    err.code = 'SLIPWAY_DESTRUCTIVE_MIGRATION';
    throw err;
  }
  return found;
}

// Applies pending migrations in one transaction under a transaction-scoped advisory lock:
// a second process blocks on the lock, then finds nothing left to do. Each migration is parsed
// (Postgres's grammar) and checked by guard() first; a refused or failing migration rolls the
// whole run back, so the schema stays what the running version knows.
async function migrate(pool, log, list = migrations) {
  await parserReady;
  const client = await pool.connect();
  const applied = [];
  let failed;
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version    integer PRIMARY KEY,
      name       text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query('SELECT version FROM schema_migrations');
    const done = new Set(rows.map((r) => r.version));
    for (const m of list.filter((x) => !done.has(x.version))) {
      const destructive = await guard(client, m);
      await client.query(m.sql);
      await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      log.info({ version: m.version, name: m.name, contract: destructive.length > 0 }, 'migration applied');
      applied.push(m.version);
    }
    await client.query('COMMIT');
    return applied;
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
