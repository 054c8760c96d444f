'use strict';
// The migration runner against real Postgres, as the application's own role: the destructive-
// statement guard (Postgres's grammar through libpg_query, not a regular expression), the
// contract flag, and the release's one-off `node src/migrate.js`.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const h = require('./helpers');
const { createPool, migrate } = require('../src/db');
const migrations = require('../src/migrations');
const { destructiveStatements } = migrations;
const { createLogger } = require('../src/logger');

const log = createLogger('silent', 'test');
let pg, db, pool;

before(async () => {
  pg = await h.startPostgres();
  db = await h.createDatabase(pg, 'migrate_test');
  pool = createPool(db, log);
  await migrate(pool, log);
  await pool.query(`CREATE TABLE guarded (
    id int4 PRIMARY KEY, code varchar(20) NOT NULL DEFAULT '', amount numeric(10,2), note text, small int2)`);
  await pool.query("INSERT INTO guarded VALUES (1, 'abc', 12.5, 'kept', 3)");
});

after(async () => {
  await pool?.end();
  await pg?.stop();
});

const columns = async (table) =>
  (await pool.query('SELECT column_name, data_type, character_maximum_length AS len FROM information_schema.columns WHERE table_name = $1 ORDER BY column_name', [table])).rows;
const versions = async () => (await pool.query('SELECT version FROM schema_migrations ORDER BY 1')).rows.map((r) => r.version);
let next = 100;
const m = (sql, extra = {}) => ({ version: next++, name: `test ${next}`, sql, ...extra });

test('destructive statements are refused without contract: true, and nothing of the run is applied', async () => {
  const before = await columns('guarded');
  const destructive = [
    ['ALTER TABLE guarded DROP COLUMN note', /DROP COLUMN: ALTER TABLE guarded DROP COLUMN note/],
    ['DROP TABLE guarded', /DROP TABLE/],
    ['drop   table if exists guarded cascade', /DROP TABLE/],
    ['ALTER TABLE guarded RENAME COLUMN note TO remark', /RENAME COLUMN/],
    ['ALTER TABLE guarded RENAME TO kept', /RENAME TABLE/],
    ['ALTER TABLE guarded ALTER COLUMN code TYPE varchar(5)', /varchar\(20\) -> varchar\(5\) is not a widening/],
    ['ALTER TABLE guarded ALTER COLUMN id TYPE int2', /int4 -> int2 is not a widening/],
    ['ALTER TABLE guarded ALTER COLUMN amount TYPE numeric(6,2)', /numeric\(10,2\) -> numeric\(6,2\)/],
    ['ALTER TABLE guarded ALTER COLUMN note TYPE varchar(10)', /text -> varchar\(10\)/],
    ['TRUNCATE guarded', /TRUNCATE/],
    ["DO $$ BEGIN EXECUTE 'DROP TABLE guarded'; END $$", /DO block/],
    // hidden after a harmless statement, in one string, behind a comment: the parser sees it
    ['CREATE TABLE harmless (a int); /* tidy up */ ALTER TABLE guarded ADD COLUMN extra int, DROP COLUMN small', /DROP COLUMN/],
  ];
  for (const [sql, reason] of destructive) {
    const mig = m(sql);
    await assert.rejects(migrate(pool, log, [mig]), (err) => {
      assert.equal(err.code, 'SLIPWAY_DESTRUCTIVE_MIGRATION', sql);
      assert.match(err.message, reason);
      assert.match(err.message, new RegExp(`migration ${mig.version} \\(`));
      assert.match(err.message, /contract: true/);
      return true;
    });
  }
  assert.deepEqual(await columns('guarded'), before);
  assert.equal((await pool.query("SELECT to_regclass('harmless') AS t")).rows[0].t, null, 'the refused run applied nothing');
  assert.deepEqual(await versions(), migrations.map((x) => x.version));
});

test('no false alarms: expand steps, widenings, index drops, and words in strings or comments', async () => {
  const safe = [
    'ALTER TABLE guarded ADD COLUMN label text',
    'ALTER TABLE guarded ALTER COLUMN code TYPE varchar(40)', // wider
    'ALTER TABLE guarded ALTER COLUMN small TYPE int8', // wider
    'ALTER TABLE guarded ALTER COLUMN amount TYPE numeric(14,3)',
    'CREATE INDEX guarded_code_idx ON guarded (code); DROP INDEX guarded_code_idx',
    "COMMENT ON TABLE guarded IS 'we never DROP TABLE guarded'; -- DROP COLUMN note",
    "UPDATE guarded SET note = 'ALTER TABLE x RENAME TO y' WHERE id = 1",
    // a column the same migration creates may change type: no running version reads it yet
    'ALTER TABLE guarded ADD COLUMN fresh text; ALTER TABLE guarded ALTER COLUMN fresh TYPE varchar(3)',
  ];
  const list = safe.map((sql) => m(sql));
  assert.deepEqual(await migrate(pool, log, list), list.map((x) => x.version));
  const cols = Object.fromEntries((await columns('guarded')).map((c) => [c.column_name, c]));
  assert.equal(cols.code.len, 40);
  assert.equal(cols.small.data_type, 'bigint');
  assert.ok(cols.label);
});

test('the contract step (contract: true) runs the destructive statement', async () => {
  const mig = m('ALTER TABLE guarded DROP COLUMN note; ALTER TABLE guarded RENAME COLUMN label TO title', { contract: true });
  assert.deepEqual(await migrate(pool, log, [mig]), [mig.version]);
  const names = (await columns('guarded')).map((c) => c.column_name);
  assert.ok(!names.includes('note'));
  assert.ok(names.includes('title'));
  // a non-boolean flag is not a contract: loadMigrations refuses it (checked on the shipped list)
  assert.ok(migrations.every((x) => x.contract === undefined || typeof x.contract === 'boolean'));
});

test('the shipped migrations are expand steps: none but a contract step holds a destructive statement', async () => {
  await migrations.parserReady;
  assert.deepEqual(migrations.map((x) => x.file), ['0001-items-and-jobs.js', '0002-transactional-outbox.js']);
  for (const x of migrations.filter((y) => y.contract !== true)) assert.deepEqual(destructiveStatements(x.sql), [], x.file);
  assert.equal((await pool.query("SELECT to_regclass('outbox') IS NOT NULL AS t")).rows[0].t, true);
});

test('SQL that Postgres would not parse is refused before anything runs', async () => {
  await assert.rejects(migrate(pool, log, [m('ALTER TABLE guarded ADD COLUMN oops int; DROPP TABLE guarded')]), /syntax error/);
});

test('node src/migrate.js (the release step) migrates as the application role and reports errors', () => {
  const env = h.appEnv(db, { queueUrl: 'http://127.0.0.1:9/queue', endpoint: 'http://127.0.0.1:9' }, { LOG_LEVEL: 'info' });
  const run = (e) => spawnSync(process.execPath, [path.join(__dirname, '..', 'src', 'migrate.js')], { env: e, encoding: 'utf8' });
  const ok = run(env);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /schema up to date/);
  const bad = run({ ...env, DATABASE_PASSWORD: 'wrong-password' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /migration failed: password authentication failed for user "slipway"/);
});
