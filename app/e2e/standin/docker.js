#!/usr/bin/env node
'use strict';
// Stand-in for the Docker engine and `docker compose` (there is none on these machines), just
// enough for infra/hostfiles/slipway-cutover.sh and the recreate baseline, with REAL processes:
// a "container" of an application service is a real `node` process of that service's image
// (the image is the path of an API source tree), bound to the service's fixed address (a
// loopback one in the tests) with the env files' and `environment` variables, as compose would
// start it. Services marked "x-standin": "external" (Postgres, nginx) are started by the test
// harness and stay up; `up` leaves them alone and `exec` runs the command on the host with the
// service's environment (the real slipway-proxy-reload against the real nginx).
//
// What it models from compose: a service is recreated by `up` only when its configuration hash
// changed (or --force-recreate), recreating = stop (SIGTERM, then SIGKILL after
// stop_grace_period) then start, `--wait` = until the new process answers GET /readyz 200
// (standing in for the healthcheck) or --wait-timeout, `stop` as above, `run --rm` a one-off
// process of the service's image. The compose file is JSON (valid YAML), which this reads as is;
// `config --format json` prints it. State (pids, hashes) lives in $STANDIN_STATE.
const { spawn, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

const STATE = process.env.STANDIN_STATE;
if (!STATE) {
  console.error('standin docker: STANDIN_STATE is not set');
  process.exit(2);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const note = (msg) => fs.appendFileSync(path.join(STATE, 'log'), `${new Date().toISOString()} ${msg}\n`);

function project() {
  return JSON.parse(fs.readFileSync(path.join(process.cwd(), 'compose.yaml'), 'utf8'));
}

function envOf(svc) {
  const env = { PATH: process.env.PATH };
  for (const f of svc.env_file || []) {
    for (const line of fs.readFileSync(path.resolve(process.cwd(), f), 'utf8').split('\n')) {
      const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
      if (m) env[m[1]] = m[2].replace(/^'(.*)'$/, '$1');
    }
  }
  Object.assign(env, svc.environment || {});
  const addr = Object.values(svc.networks || {}).find((n) => n && n.ipv4_address)?.ipv4_address;
  if (addr) env.HOST = addr; // a container listens on all its interfaces; here on its address
  return env;
}

// A container's own /tmp (the worker's heartbeat file lives there), new with each container.
function containerEnv(svc, tmp) {
  return { ...envOf(svc), ...(tmp ? { TMPDIR: tmp } : {}) };
}

function hashOf(svc) {
  const h = crypto.createHash('sha256').update(JSON.stringify(svc));
  for (const f of svc.env_file || []) h.update(fs.readFileSync(path.resolve(process.cwd(), f)));
  return h.digest('hex').slice(0, 12);
}

const stateFile = (name) => path.join(STATE, `${name}.json`);
const readState = (name) => {
  try {
    return JSON.parse(fs.readFileSync(stateFile(name), 'utf8'));
  } catch {
    return null;
  }
};
function alive(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
function graceMs(svc) {
  const m = /^(\d+)(ms|s|m)?$/.exec(String(svc.stop_grace_period || '10s'));
  if (!m) return 10000;
  return Number(m[1]) * ({ ms: 1, s: 1000, m: 60000 }[m[2] || 's']);
}

async function stop(name, svc) {
  const st = readState(name);
  if (!st || !alive(st.pid)) return;
  note(`stop ${name} pid ${st.pid} (SIGTERM, grace ${graceMs(svc)}ms)`);
  process.kill(st.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs(svc);
  while (alive(st.pid) && Date.now() < deadline) await sleep(50);
  if (alive(st.pid)) {
    note(`kill ${name} pid ${st.pid} (grace over)`);
    process.kill(st.pid, 'SIGKILL');
    while (alive(st.pid)) await sleep(50);
  }
  note(`stopped ${name} pid ${st.pid}`);
}

// The service's own healthcheck command when it has one (run in the "container": its image
// directory and environment), else GET /readyz on its address.
function ready(env, svc) {
  const test = svc.healthcheck?.test;
  if (Array.isArray(test) && test[0] === 'CMD') {
    const r = spawnSync(test[1] === 'node' ? process.execPath : test[1], test.slice(2), { cwd: svc.image, env, stdio: 'ignore', timeout: 5000 });
    return Promise.resolve(r.status === 0);
  }
  return new Promise((resolve) => {
    const req = http.get({ host: env.HOST, port: env.PORT || 3000, path: '/readyz', timeout: 2000, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

async function start(name, svc) {
  const tmp = fs.mkdtempSync(path.join(STATE, `tmp-${name}-`));
  const env = containerEnv(svc, tmp);
  const cmd = svc.command || ['node', 'src/server.js'];
  const out = fs.openSync(path.join(STATE, `${name}.out`), 'a');
  const child = spawn(cmd[0] === 'node' ? process.execPath : cmd[0], cmd.slice(1), {
    cwd: svc.image,
    env,
    detached: true,
    stdio: ['ignore', out, out],
  });
  child.unref();
  fs.writeFileSync(stateFile(name), JSON.stringify({ pid: child.pid, hash: hashOf(svc), image: svc.image, release: process.cwd(), tmp }));
  note(`start ${name} pid ${child.pid} image ${svc.image} on ${env.HOST}:${env.PORT || 3000}`);
  return { pid: child.pid, env };
}

async function up(args) {
  const opt = (flag) => args.includes(flag);
  const i = args.indexOf('--wait-timeout');
  const timeout = i >= 0 ? Number(args[i + 1]) * 1000 : 60000;
  const names = args.filter((a, j) => !a.startsWith('--') && !(i >= 0 && j === i + 1));
  const { services } = project();
  const targets = names.length ? names : Object.keys(services);
  let rc = 0;
  for (const name of targets) {
    const svc = services[name];
    if (!svc) {
      console.error(`no such service: ${name}`);
      return 1;
    }
    if (svc['x-standin'] === 'external') continue; // the harness runs it, unchanged
    const st = readState(name);
    let env = containerEnv(svc, st?.tmp);
    let pid = st?.pid;
    if (!st || !alive(st.pid) || st.hash !== hashOf(svc) || opt('--force-recreate')) {
      await stop(name, svc); // compose stops the old container before it starts the new one
      ({ pid, env } = await start(name, svc));
    }
    if (opt('--wait')) {
      const deadline = Date.now() + timeout;
      let ok = false;
      while (Date.now() < deadline && alive(pid)) {
        if ((ok = await ready(env, svc))) break;
        await sleep(svc.healthcheck ? 500 : 100);
      }
      note(`${name} ${ok ? 'healthy' : 'unhealthy'}`);
      if (!ok) {
        console.error(`container slipway-${name}-1 is unhealthy`);
        rc = 1;
      }
    }
  }
  if (opt('--remove-orphans')) {
    for (const f of fs.readdirSync(STATE).filter((x) => x.endsWith('.json'))) {
      const name = f.slice(0, -5);
      if (!services[name]) {
        await stop(name, {});
        fs.rmSync(stateFile(name));
        note(`removed orphan ${name}`);
      }
    }
  }
  return rc;
}

async function main(argv) {
  if (argv[0] !== 'compose') {
    console.error('standin docker: only compose');
    return 2;
  }
  const [cmd, ...args] = argv.slice(1);
  const { services } = project();
  const positional = args.filter((a) => !a.startsWith('-'));
  switch (cmd) {
    case 'config':
      if (args.includes('--services')) {
        console.log(Object.keys(services).join('\n'));
      } else {
        process.stdout.write(JSON.stringify(project()));
      }
      return 0;
    case 'up':
      return up(args);
    case 'stop':
      for (const name of positional) await stop(name, services[name] || {});
      return 0;
    case 'logs': {
      const name = positional[positional.length - 1];
      try {
        process.stderr.write(fs.readFileSync(path.join(STATE, `${name}.out`), 'utf8').split('\n').slice(-50).join('\n'));
      } catch {}
      return 0;
    }
    case 'run':
    case 'exec': {
      // run [--rm] [--no-deps] [-T] SERVICE CMD...; exec [-T] SERVICE CMD...
      const rest = args.slice(args.findIndex((a) => !a.startsWith('-')));
      const [name, ...command] = rest;
      const svc = services[name];
      if (!svc) {
        console.error(`no such service: ${name}`);
        return 1;
      }
      note(`${cmd} ${name} ${command.join(' ')}`);
      const external = svc['x-standin'] === 'external';
      const r = spawnSync(command[0] === 'node' ? process.execPath : command[0], command.slice(1), {
        cwd: external ? process.cwd() : svc.image,
        env: { ...envOf(svc), ...(cmd === 'run' ? { HOST: '127.0.0.1' } : {}) },
        stdio: 'inherit',
      });
      note(`${cmd} ${name} exited ${r.status}`);
      return r.status ?? 1;
    }
    default:
      console.error(`standin docker: compose ${cmd} is not stood in for`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (rc) => process.exit(rc),
  (err) => {
    console.error(`standin docker: ${err.stack}`);
    process.exit(1);
  },
);
