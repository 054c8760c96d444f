'use strict';
// Real servers for the tests, on 127.0.0.1 and free ports, in temporary directories:
// PostgreSQL (initdb + postgres, as the postgres user when running as root, since Postgres
// refuses to run as root) and goaws, an SQS-compatible server. Built-ins only, so the e2e
// package can reuse this file.
const { spawn, execFileSync } = require('node:child_process');
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

// A throwaway cluster with password (scram) authentication, so the app's password is exercised.
async function startPostgres() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-pg-'));
  const data = path.join(dir, 'data');
  const user = 'slipway';
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  fs.writeFileSync(path.join(dir, 'pw'), password);
  const as = pgOptions();
  if (isRoot) {
    fs.chownSync(dir, as.uid, as.gid);
    fs.chownSync(path.join(dir, 'pw'), as.uid, as.gid);
  }
  const initArgs = ['-D', data, '-U', user, `--pwfile=${path.join(dir, 'pw')}`, '-A', 'scram-sha-256', '-E', 'UTF8', '--no-sync'];
  execFileSync(pgBin('initdb'), initArgs, { stdio: 'pipe', cwd: dir, ...as });
  const port = await freePort();
  const args = ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off'];
  const proc = start(pgBin('postgres'), args, { cwd: dir, ...as });
  const pg = { host: '127.0.0.1', port, user, password, dir, proc };
  await waitFor(() => {
    execFileSync(pgBin('pg_isready'), ['-h', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
    return true;
  }, `postgres on ${port}\n${proc.output}`);
  pg.stop = async () => {
    await stop(proc, 'SIGINT'); // fast shutdown
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return pg;
}

// Creates an empty database in the cluster; returns the DATABASE_* settings for it.
async function createDatabase(pg, name) {
  const { Client } = require('pg'); // resolved from the api package
  const client = new Client({ host: pg.host, port: pg.port, user: pg.user, password: pg.password, database: 'postgres' });
  await client.connect();
  await client.query(`CREATE DATABASE ${name}`);
  await client.end();
  return { host: pg.host, port: pg.port, user: pg.user, password: pg.password, database: name };
}

function goawsBin() {
  if (process.env.GOAWS_BIN) return process.env.GOAWS_BIN;
  const gopath = execFileSync('go', ['env', 'GOPATH']).toString().trim();
  return path.join(gopath, 'bin', 'cmd'); // goaws's main package is app/cmd, so the binary is "cmd"
}

// goaws with a work queue whose redrive policy dead-letters after two receives, and a short
// visibility timeout so redelivery happens within a test.
async function startGoaws({ visibilityTimeout = 1, maxReceiveCount = 2 } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-sqs-'));
  const port = await freePort();
  const account = '100010001000';
  fs.writeFileSync(
    path.join(dir, 'goaws.yaml'),
    `Local:
  Host: 127.0.0.1
  Port: ${port}
  Region: us-east-1
  AccountId: "${account}"
  LogToFile: false
  QueueAttributeDefaults:
    VisibilityTimeout: ${visibilityTimeout}
    ReceiveMessageWaitTimeSeconds: 0
  Queues:
    - Name: jobs
      RedrivePolicy: '{"maxReceiveCount": ${maxReceiveCount}, "deadLetterTargetArn": "arn:aws:sqs:us-east-1:${account}:jobs-dlq"}'
    - Name: jobs-dlq
`,
  );
  const proc = start(goawsBin(), ['-config', path.join(dir, 'goaws.yaml')]);
  const endpoint = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${endpoint}/?Action=ListQueues`)).ok, `goaws on ${port}\n${proc.output}`);
  return {
    endpoint,
    queueUrl: `${endpoint}/${account}/jobs`,
    dlqUrl: `${endpoint}/${account}/jobs-dlq`,
    proc,
    stop: async () => {
      await stop(proc);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
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
    SQS_PROTOCOL: 'query',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    LOG_LEVEL: 'info',
    ...extra,
  };
}

module.exports = { freePort, sleep, waitFor, start, stop, startPostgres, createDatabase, startGoaws, appEnv, isRoot };
