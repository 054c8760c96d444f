'use strict';
// The application's Postgres role, against real Postgres locked down by the db image's own init
// script (app/db/initdb.d/10-slipway-app-role.sh, run unchanged by helpers.js): the role runs the
// migrations and the API's work, and can do nothing a superuser could — so an SQL injection in
// the API stays inside the application's own database.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const { Client } = require('pg');
const h = require('./helpers');
const { buildApp } = require('../src/app');
const { createPool, migrate, isMigrated } = require('../src/db');
const { createLogger } = require('../src/logger');

const log = createLogger('silent', 'test');
let pg, db, pool, app;

before(async () => {
  pg = await h.startPostgres();
  // Another application's database, there before the init script ran, and one created after it
  // (by an operator, say): both made by the superuser.
  const su = h.superuserClient(pg);
  await su.connect();
  await su.query('CREATE DATABASE other_app');
  db = await h.createDatabase(pg, 'slipway_app');
  await su.query('CREATE DATABASE later_app');
  await su.end();
  for (const name of ['other_app', 'later_app']) {
    const other = h.superuserClient(pg, name);
    await other.connect();
    await other.query("CREATE TABLE secrets AS SELECT 'not yours' AS value");
    await other.end();
  }
  pool = createPool(db, log);
});

after(async () => {
  await app?.close();
  await pool?.end();
  await pg?.stop();
});

// The error a statement gets as the application's role (null if it succeeds).
async function refusal(sql) {
  const c = new Client(db);
  await c.connect();
  try {
    await c.query(sql);
    return null;
  } catch (err) {
    return err;
  } finally {
    await c.end();
  }
}

async function connectError(settings) {
  const c = new Client({ connectionTimeoutMillis: 3000, ...settings });
  try {
    await c.connect();
    await c.end();
    return null;
  } catch (err) {
    return err;
  }
}

test('the application role is an ordinary login role that owns only its database', async () => {
  const c = new Client(db);
  await c.connect();
  const { rows: [me] } = await c.query(`SELECT current_user AS name, r.rolsuper, r.rolcreatedb, r.rolcreaterole,
      r.rolreplication, r.rolbypassrls, r.rolcanlogin
    FROM pg_roles r WHERE r.rolname = current_user`);
  assert.deepEqual(me, { name: 'slipway', rolsuper: false, rolcreatedb: false, rolcreaterole: false, rolreplication: false, rolbypassrls: false, rolcanlogin: true });
  const { rows: owned } = await c.query('SELECT datname FROM pg_database WHERE datdba = (SELECT oid FROM pg_roles WHERE rolname = current_user)');
  assert.deepEqual(owned.map((r) => r.datname), ['slipway_app']);
  // Member of no role (pg_execute_server_program, pg_read_server_files, ... included).
  const { rows: member } = await c.query("SELECT count(*)::int AS n FROM pg_auth_members WHERE member = (SELECT oid FROM pg_roles WHERE rolname = current_user)");
  assert.equal(member[0].n, 0);
  await c.end();
});

test('the application role runs the migrations and the API work', async () => {
  await migrate(pool, log);
  assert.equal(await isMigrated(pool), true);
  app = buildApp({ pool, sqs: null, queueUrl: 'http://unused', logger: log });
  const created = await app.inject({ method: 'POST', url: '/api/items', payload: { name: 'Capstan' } });
  assert.equal(created.statusCode, 201);
  const list = await app.inject({ url: '/api/items' });
  assert.ok(list.json().items.some((i) => i.name === 'Capstan'));
  assert.equal((await app.inject({ url: '/readyz' })).statusCode, 200);
  const { rows } = await pool.query("SELECT tableowner FROM pg_tables WHERE tablename IN ('items', 'jobs', 'schema_migrations') ORDER BY 1");
  assert.deepEqual(rows.map((r) => r.tableowner), ['slipway', 'slipway', 'slipway']);
});

test('the application role cannot run programs, read server files or gain rights', async () => {
  const cases = [
    ["COPY (SELECT 1) TO PROGRAM 'id'", /permission denied|must be superuser/],
    ["CREATE TEMP TABLE t (x text); COPY t FROM PROGRAM 'id'", /permission denied|must be superuser/],
    ["SELECT pg_read_file('/etc/passwd')", /permission denied/],
    ["COPY (SELECT 1) TO '/tmp/slipway-escape'", /permission denied|must be superuser/],
    ['CREATE ROLE intruder LOGIN', /permission denied/],
    ['CREATE DATABASE intruder', /permission denied/],
    ['ALTER ROLE slipway SUPERUSER', /permission denied|must be superuser/],
    ['ALTER ROLE slipway CREATEDB', /permission denied|must have CREATEDB/],
    ['CREATE EXTENSION dblink', /permission denied|not available|could not open extension control file/],
    ["ALTER SYSTEM SET listen_addresses = '*'", /permission denied/],
    ['SET ROLE postgres', /permission denied/],
  ];
  for (const [sql, want] of cases) {
    const err = await refusal(sql);
    assert.ok(err, `${sql}: succeeded`);
    assert.match(err.message, want, sql);
  }
});

test('the application role cannot connect to any other database', async () => {
  for (const database of ['postgres', 'other_app', 'later_app', 'template1']) {
    const err = await connectError({ ...db, database });
    assert.ok(err, `connected to ${database}`);
    assert.match(err.message, /no pg_hba\.conf entry|permission denied for database/, database);
  }
  // pg_hba.conf admits it to its own databases only. Besides, the init script revoked CONNECT from
  // PUBLIC on every other database there was; a database created later has the default grant
  // (CONNECT to PUBLIC), and pg_hba.conf alone keeps the role out of it.
  const su = h.superuserClient(pg);
  await su.connect();
  const { rows } = await su.query(`SELECT datname, has_database_privilege('slipway', datname, 'CONNECT') AS can
    FROM pg_database WHERE datallowconn ORDER BY datname`);
  await su.end();
  assert.deepEqual(rows, [
    { datname: 'later_app', can: true },
    { datname: 'other_app', can: false },
    { datname: 'postgres', can: false },
    { datname: 'slipway_app', can: true },
    { datname: 'template1', can: false },
  ]);
});

test('the superuser cannot log in over TCP, with or without the password initdb gave it', async () => {
  for (const password of [pg.password, undefined]) {
    const err = await connectError({ host: '127.0.0.1', port: pg.port, user: 'postgres', password, database: 'postgres' });
    assert.ok(err, 'superuser logged in over TCP');
    assert.match(err.message, /no pg_hba\.conf entry|password authentication failed/);
  }
  // The image's health check (pg_isready over TCP as POSTGRES_USER) still sees a running server.
  execFileSync(h.pgBin('pg_isready'), ['-h', '127.0.0.1', '-p', String(pg.port), '-U', 'postgres', '-d', 'slipway_app']);
});

test('on the socket the superuser rotates the application password (the release does this)', async () => {
  const su = h.superuserClient(pg);
  await su.connect();
  const next = `rotated-${Math.random().toString(36).slice(2)}`;
  await su.query(`ALTER ROLE slipway WITH PASSWORD '${next}'`);
  await su.end();
  assert.ok(await connectError(db), 'the old password still works');
  assert.equal(await connectError({ ...db, password: next }), null);
  // And the init script, run again, converges back to POSTGRES_PASSWORD (idempotent).
  const r = h.runDbInit(pg, { DATABASE_NAME: 'slipway_app' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(await connectError(db), null);
  assert.ok(await connectError({ ...db, password: next }));
});

test('the init script refuses the superuser, reserved and malformed names', () => {
  const cases = [
    [{ DATABASE_USER: 'postgres', DATABASE_NAME: 'x' }, /DATABASE_USER 'postgres' is reserved/],
    [{ DATABASE_USER: 'pg_app', DATABASE_NAME: 'x' }, /DATABASE_USER 'pg_app' is reserved/],
    [{ DATABASE_USER: 'Robert"; DROP', DATABASE_NAME: 'x' }, /not a Postgres identifier/],
    [{ DATABASE_USER: 'app', DATABASE_NAME: 'template1' }, /one of Postgres's own databases/],
    [{ DATABASE_USER: 'app', DATABASE_NAME: 'x', POSTGRES_PASSWORD: '' }, /POSTGRES_PASSWORD/],
  ];
  for (const [env, want] of cases) {
    const r = h.runDbInit(pg, env);
    assert.notEqual(r.status, 0, JSON.stringify(env));
    assert.match(r.stderr, want);
  }
});
