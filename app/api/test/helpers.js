'use strict';
// Real servers for the tests, on 127.0.0.1 and free ports, in temporary directories:
// PostgreSQL (initdb + postgres, as the postgres user when running as root, since Postgres
// refuses to run as root), locked down by the db image's init script, and fauxqs, an SQS emulator
// that speaks SQS's JSON protocol. Modules are resolved from the api package (this file's), so
// the e2e package can reuse this file.
const { spawn, spawnSync, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const isRoot = process.getuid() === 0;

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(check, what, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  let lastErr;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      lastErr = err;
    }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}${lastErr ? `: ${lastErr.message}` : ''}`);
}

// Starts a child process; its output is kept (and printed if the test fails via dump()).
function start(cmd, args, opts = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  child.output = '';
  const keep = (d) => {
    child.output += d;
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return child;
}

async function stop(child, signal = 'SIGTERM') {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
  await child.exited;
  clearTimeout(timer);
}

function pgBinDir() {
  if (process.env.PG_BINDIR) return process.env.PG_BINDIR;
  const base = '/usr/lib/postgresql';
  const versions = fs.readdirSync(base).filter((v) => /^\d+$/.test(v)).sort((a, b) => b - a);
  if (versions.length === 0) throw new Error('no PostgreSQL under /usr/lib/postgresql; set PG_BINDIR');
  return path.join(base, versions[0], 'bin');
}

// Postgres refuses to run as root: when we are root, its programs run as the postgres user
// (spawn's uid/gid, so signals reach postgres itself and not an intermediate runuser).
function pgOptions() {
  if (!isRoot) return {};
  const id = (flag) => Number(execFileSync('id', [flag, 'postgres']).toString());
  return { uid: id('-u'), gid: id('-g') };
}
const pgBin = (name) => path.join(pgBinDir(), name);

const DB_INIT_SCRIPT = path.join(__dirname, '..', '..', 'db', 'initdb.d', '10-slipway-app-role.sh');
const APP_ROLE = 'slipway';

// A throwaway cluster set up the way the official Postgres image sets one up (superuser
// "postgres" with the password it is given, initdb's trust lines plus "host all all all
// scram-sha-256"), then locked down by the db image's own init script, run unchanged
// (app/db/initdb.d): the application's role owns its database, the superuser is reachable on the
// Unix socket only. createDatabase() runs that script for each database the tests need.
async function startPostgres() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-pg-'));
  const data = path.join(dir, 'data');
  const superuser = 'postgres';
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  fs.writeFileSync(path.join(dir, 'pw'), password);
  const as = pgOptions();
  if (isRoot) {
    fs.chownSync(dir, as.uid, as.gid);
    fs.chownSync(path.join(dir, 'pw'), as.uid, as.gid);
  }
  const initArgs = ['-D', data, '-U', superuser, `--pwfile=${path.join(dir, 'pw')}`, '-E', 'UTF8', '--no-sync'];
  execFileSync(pgBin('initdb'), initArgs, { stdio: 'pipe', cwd: dir, ...as });
  fs.appendFileSync(path.join(data, 'pg_hba.conf'), '\nhost all all all scram-sha-256\n'); // as the image does
  const port = await freePort();
  const args = ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off'];
  const pg = { host: '127.0.0.1', port, superuser, appUser: APP_ROLE, password, dir, data };
  const launch = async () => {
    pg.proc = start(pgBin('postgres'), args, { cwd: dir, ...as });
    await waitFor(() => {
      execFileSync(pgBin('pg_isready'), ['-h', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
      return true;
    }, `postgres on ${port}\n${pg.proc.output}`);
  };
  await launch();
  // An outage: halt() stops the server (fast shutdown: clients are disconnected), resume()
  // starts it again on the same data directory and port.
  pg.halt = () => stop(pg.proc, 'SIGINT');
  pg.resume = launch;
  pg.stop = async () => {
    await stop(pg.proc, 'SIGINT'); // fast shutdown
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return pg;
}

// Runs the db image's init script against the cluster, as the image would (the postgres OS user,
// the superuser on the socket), with the container's environment; returns its result.
function runDbInit(pg, env) {
  return spawnSync('bash', [DB_INIT_SCRIPT], {
    cwd: pg.dir,
    encoding: 'utf8',
    env: {
      PATH: `${pgBinDir()}:${process.env.PATH}`,
      PGHOST: pg.dir, // the socket directory (/var/run/postgresql in the image)
      PGPORT: String(pg.port),
      PGDATA: pg.data,
      POSTGRES_USER: pg.superuser,
      POSTGRES_PASSWORD: pg.password,
      DATABASE_USER: pg.appUser,
      ...env,
    },
    ...pgOptions(),
  });
}

// Creates the application's database through the init script; returns the DATABASE_* settings
// the API would get: the application's role, never the superuser.
async function createDatabase(pg, name) {
  const r = runDbInit(pg, { DATABASE_NAME: name });
  if (r.status !== 0) throw new Error(`db init for ${name} failed (${r.status}):\n${r.stdout}${r.stderr}`);
  return { host: pg.host, port: pg.port, user: pg.appUser, password: pg.password, database: name };
}

// The superuser, as the release reaches it: on the socket, inside the "container".
function superuserClient(pg, database = 'postgres') {
  const { Client } = require('pg'); // resolved from the api package
  return new Client({ host: pg.dir, port: pg.port, user: pg.superuser, database });
}

const FAUXQS_SERVER = path.join(__dirname, 'fauxqs-server.mjs');

// fauxqs (npm, pinned in package.json's devDependencies), an SQS emulator that speaks only SQS's
// JSON protocol, with a work queue whose redrive policy dead-letters after maxReceiveCount
// receives, created the way infra/queue.go creates the real pair (dead-letter queue first, its
// ARN in the work queue's RedrivePolicy), and a short visibility timeout so redelivery happens
// within a test. Announces itself on stdout: which emulator, which version, which protocol.
async function startSqs({ visibilityTimeout = 1, maxReceiveCount = 2 } = {}) {
  const { SQSClient, CreateQueueCommand, GetQueueAttributesCommand } = require('@aws-sdk/client-sqs');
  const port = await freePort();
  const proc = start(process.execPath, [FAUXQS_SERVER, String(port)], { cwd: __dirname });
  const endpoint = `http://127.0.0.1:${port}`;
  const banner = await waitFor(() => /fauxqs (\S+) listening on /.exec(proc.output), `fauxqs on ${port}\n${proc.output}`);
  // Only fauxqs has this inspection endpoint: the server that answers is the one we started.
  const inspect = await (await fetch(`${endpoint}/_fauxqs/queues`)).json();
  if (!Array.isArray(inspect)) throw new Error(`not fauxqs on ${port}: ${JSON.stringify(inspect)}`);

  const sqs = new SQSClient({ region: 'us-east-1', endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  const dlqUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'jobs-dlq' }))).QueueUrl;
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }));
  const queueUrl = (
    await sqs.send(
      new CreateQueueCommand({
        QueueName: 'jobs',
        Attributes: {
          VisibilityTimeout: String(visibilityTimeout),
          RedrivePolicy: JSON.stringify({ deadLetterTargetArn: Attributes.QueueArn, maxReceiveCount }),
        },
      }),
    )
  ).QueueUrl;
  sqs.destroy();
  const server = { name: 'fauxqs', version: banner[1], endpoint, queueUrl, dlqUrl, proc };
  console.log(`SQS emulator: fauxqs ${server.version} (SQS JSON protocol only) at ${endpoint}`);
  // The SQS requests fauxqs saw, in order: { protocol: 'json' | 'query' | ..., target }.
  server.requests = () =>
    [...proc.output.matchAll(/^fauxqs (\S+) (\S+)$/gm)].map(([, protocol, target]) => ({ protocol, target }));
  server.stop = () => stop(proc);
  return server;
}

// The environment the API and worker read, as the release would render it.
function appEnv(db, sqs, extra = {}) {
  return {
    PATH: process.env.PATH,
    HOST: '127.0.0.1',
    DATABASE_HOST: db.host,
    DATABASE_PORT: String(db.port),
    DATABASE_NAME: db.database,
    DATABASE_USER: db.user,
    DATABASE_PASSWORD: db.password,
    QUEUE_URL: sqs.queueUrl,
    AWS_REGION: 'us-east-1',
    SQS_ENDPOINT: sqs.endpoint,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    LOG_LEVEL: 'info',
    ...extra,
  };
}

module.exports = { freePort, sleep, waitFor, start, stop, startPostgres, runDbInit, createDatabase, pgBin, superuserClient, startSqs, appEnv, isRoot };
