'use strict';
// A host for the release's cutover, without Docker: real Postgres (the application's own role),
// the real nginx running the shipped template (rendered as the image renders it), real API
// processes, and infra/hostfiles/slipway-cutover.sh run unchanged. What is stood in for:
//   - the Docker engine and `docker compose`: standin/docker.js, first on PATH as `docker`
//     (a container of api-blue / api-green is a real `node src/server.js` of that release's
//     "image", a copy of app/api, on the slot's fixed loopback address; see that file);
//   - the slots' addresses: 127.0.100.10 / 127.0.100.12 (loopback) instead of 198.18.100.10/.12;
//   - `slipway-imds` (iptables; tested for real by infra's TestIMDSRuleInNetworkNamespaces):
//     a script that logs each allowed set;
//   - the proxy container: nginx runs on the host; `docker compose exec proxy ...` runs the
//     proxy image's own slipway-proxy-reload with the container's environment, nginx being a
//     wrapper that adds this nginx's prefix and config (-p/-c).
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('../api/test/helpers');

const APP = path.join(__dirname, '..');
const API = path.join(APP, 'api');
const PROXY = path.join(APP, 'proxy');
const CUTOVER = path.join(APP, '..', 'infra', 'hostfiles', 'slipway-cutover.sh');
const HEADER = 'X-Origin-Verify';
const SLOTS = { blue: '127.0.100.10', green: '127.0.100.12', worker: '127.0.100.11' };
const NGINX = fs.existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx';

async function startHost({ quiet = false, sqs = false } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-host-'));
  fs.chmodSync(dir, 0o755); // nginx workers run unprivileged when we are root
  const p = (...x) => path.join(dir, ...x);
  for (const d of ['bin', 'standin', 'cutover', 'proxy/slot', 'proxy/templates', 'maintenance', 'releases', 'images', 'nginx/conf.d']) {
    fs.mkdirSync(p(d), { recursive: true, mode: 0o755 });
  }
  const host = { dir, releases: [], imdsLog: p('imds.log') };
  const secret = `host-${Math.random().toString(36).slice(2)}-origin-secret`;
  host.secret = secret;
  host.header = HEADER;

  const pg = await h.startPostgres();
  host.pg = pg;
  host.db = await h.createDatabase(pg, 'cutover');
  // sqs: fauxqs (SQS's JSON protocol) for the API's jobs and a worker's queue.
  if (sqs) host.sqs = await h.startSqs({ visibilityTimeout: 30 });
  host.apiPort = await h.freePort();
  host.nginxPort = await h.freePort();

  // bin/: the stand-ins first on PATH.
  const sh = (name, body) => fs.writeFileSync(p('bin', name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  sh('docker', `exec "${process.execPath}" "${path.join(__dirname, 'standin', 'docker.js')}" "$@"`);
  sh('nginx', `exec ${NGINX} -p "${p('nginx')}" -c "${p('nginx', 'nginx.conf')}" -e stderr "$@"`);
  sh('slipway-imds', `echo "$*" >>"${host.imdsLog}"`);
  fs.symlinkSync(path.join(PROXY, 'slipway-proxy-reload.sh'), p('bin', 'slipway-proxy-reload'));
  host.path = `${p('bin')}:${process.env.PATH}:/usr/sbin`;

  // The proxy container's environment (compose's proxy service + the image's paths).
  host.proxyEnv = {
    ORIGIN_HEADER_NAME: HEADER,
    ORIGIN_HEADER_VALUE: secret,
    PROXY_LISTEN_PORT: String(host.nginxPort),
    HOST_ADDRESS: '127.0.0.3',
    API_BLUE_UPSTREAM: `${SLOTS.blue}:${host.apiPort}`, // 198.18.100.10:3000
    API_GREEN_UPSTREAM: `${SLOTS.green}:${host.apiPort}`, // 198.18.100.12:3000
    API_SLOT_FILE: p('proxy', 'slot', 'green'), // /etc/nginx/slipway/slot/green
    MAINTENANCE_FILE: p('maintenance', 'on'), // /etc/nginx/maintenance/on
    // The per-viewer write limit stays in the template but out of reach: every load client here
    // is the one viewer 127.0.0.1, and what these runs measure is the release, not the limit
    // (e2e.test.js tests the limit with the envsh's checks).
    PROXY_WRITE_RATE: '100000r/s',
    PROXY_WRITE_BURST: '100000',
    NGINX_ENVSUBST_TEMPLATE_DIR: p('proxy', 'templates'), // /etc/nginx/templates (mounted)
    NGINX_ENVSUBST_OUTPUT_DIR: p('nginx', 'conf.d'), // /etc/nginx/conf.d
    SLIPWAY_ENTRYPOINT_D: path.join(PROXY, 'docker-entrypoint.d'), // /docker-entrypoint.d
    NGINX_PID_FILE: p('nginx', 'nginx.pid'),
    PATH: host.path,
  };
  host.env = {
    PATH: host.path,
    STANDIN_STATE: p('standin'),
    SLIPWAY_CUTOVER_STATE: p('cutover'),
    SLIPWAY_PROXY_STATE: p('proxy'),
    SLIPWAY_IMDS: p('bin', 'slipway-imds'),
    SLIPWAY_WAIT_TIMEOUT: '60', // the worker is healthy after its first long poll (20 s)
    SLIPWAY_MIGRATE_TIMEOUT: '60',
  };

  // nginx, started the way the proxy container starts: the shipped template in the mounted
  // templates directory, rendered by the entrypoint (here by slipway-proxy-reload's renderer,
  // e2e/render-nginx.sh, the same expression), then nginx in the foreground.
  fs.copyFileSync(path.join(PROXY, 'templates', 'default.conf.template'), p('proxy', 'templates', 'default.conf.template'));
  const temp = (n) => `${n}_temp_path ${p('nginx', n)};`;
  fs.writeFileSync(
    p('nginx', 'nginx.conf'),
    `${h.isRoot ? 'user www-data;' : ''}
worker_processes 2;
error_log stderr notice;
pid ${p('nginx', 'nginx.pid')};
events { worker_connections 1024; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  keepalive_timeout 65;
  ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(temp).join('\n  ')}
  include ${p('nginx', 'conf.d')}/*.conf;
}
`,
  );
  // render-nginx.sh takes a proxy dir (docker-entrypoint.d + templates): the image's scripts and
  // the host-mounted templates.
  fs.mkdirSync(path.join(dir, 'proxy-src'));
  fs.symlinkSync(path.join(PROXY, 'docker-entrypoint.d'), path.join(dir, 'proxy-src', 'docker-entrypoint.d'));
  fs.symlinkSync(p('proxy', 'templates'), path.join(dir, 'proxy-src', 'templates'));
  const render = require('node:child_process').spawnSync(
    'sh',
    [path.join(__dirname, 'render-nginx.sh'), path.join(dir, 'proxy-src'), p('nginx', 'conf.d')],
    { env: host.proxyEnv, encoding: 'utf8' },
  );
  if (render.status !== 0) throw new Error(`render failed: ${render.stderr}`);
  // Access log off the pipe for long runs (quiet): the bench's request count would fill memory.
  host.nginx = h.start('sh', ['-c', `${p('bin', 'nginx')} -g 'daemon off;' 2>&1 | ${quiet ? 'grep -v "^{\\"time"' : 'cat'}`], { env: host.proxyEnv });
  host.base = `http://127.0.0.1:${host.nginxPort}`;
  await h.waitFor(async () => (await fetch(`${host.base}/healthz`)).status === 502, `nginx\n${host.nginx.output}`);
  host.nginxMaster = () => Number(fs.readFileSync(p('nginx', 'nginx.pid'), 'utf8'));

  let imageCount = 0;
  // An "image": a copy of app/api (src and package.json; node_modules linked), with extra
  // migration files, as a new build of the api image would have them.
  host.image = (extraMigrations = {}, patch = {}) => {
    const img = p('images', `api-${++imageCount}`);
    fs.cpSync(path.join(API, 'src'), path.join(img, 'src'), { recursive: true });
    fs.copyFileSync(path.join(API, 'package.json'), path.join(img, 'package.json'));
    fs.symlinkSync(path.join(API, 'node_modules'), path.join(img, 'node_modules'));
    for (const [file, body] of Object.entries(extraMigrations)) fs.writeFileSync(path.join(img, 'src', 'migrations', file), body);
    for (const [file, body] of Object.entries(patch)) fs.writeFileSync(path.join(img, file), body);
    return img;
  };

  // A release directory as slipway-fetch leaves it: compose.yaml (JSON is YAML), app.env,
  // secrets/api.env, the nginx template.
  host.release = (image, { template, worker: withWorker = false, legacy = false } = {}) => {
    const id = `r${host.releases.length + 1}`;
    const rel = p('releases', id);
    fs.mkdirSync(path.join(rel, 'secrets'), { recursive: true });
    fs.mkdirSync(path.join(rel, 'proxy', 'templates'), { recursive: true });
    const slot = (addr) => ({
      image,
      networks: { app: { ipv4_address: addr } },
      labels: { 'slipway.imds': 'allow' },
      env_file: ['./app.env', './secrets/api.env'],
      environment: { PORT: String(host.apiPort), DD_TRACE_ENABLED: 'false' },
      stop_grace_period: '30s',
    });
    const compose = {
      name: 'slipway',
      services: {
        db: { image: 'postgres (the harness runs it)', 'x-standin': 'external' },
        proxy: { image: 'nginx (the harness runs it)', 'x-standin': 'external', environment: host.proxyEnv },
        'api-blue': slot(SLOTS.blue),
        'api-green': slot(SLOTS.green),
      },
    };
    if (legacy) {
      // A release from before the slots: one `api` service on api-blue's address.
      delete compose.services['api-blue'];
      delete compose.services['api-green'];
      compose.services.api = slot(SLOTS.blue);
    }
    if (withWorker) {
      // As compose.yaml's worker: the api image's other command, its own fixed address, its
      // stop_grace_period above the job budget, the image's own health check (heartbeat file).
      compose.services.worker = {
        image,
        command: ['node', 'src/worker.js'],
        networks: { app: { ipv4_address: SLOTS.worker } },
        labels: { 'slipway.imds': 'allow' },
        env_file: ['./app.env', './secrets/api.env'],
        environment: { WORKER_JOB_TIMEOUT_SECONDS: '10', DD_TRACE_ENABLED: 'false' },
        stop_grace_period: '25s',
        healthcheck: { test: ['CMD', 'node', 'src/healthcheck.js', 'worker'] },
      };
    }
    fs.writeFileSync(path.join(rel, 'compose.yaml'), JSON.stringify(compose, null, 2));
    const d = host.db;
    fs.writeFileSync(
      path.join(rel, 'app.env'),
      [
        `DATABASE_HOST=${d.host}`,
        `DATABASE_PORT=${d.port}`,
        `DATABASE_NAME=${d.database}`,
        `DATABASE_USER=${d.user}`,
        `QUEUE_URL=${host.sqs ? host.sqs.queueUrl : 'http://127.0.0.1:9/000000000000/jobs'}`,
        `SQS_ENDPOINT=${host.sqs ? host.sqs.endpoint : 'http://127.0.0.1:9'}`,
        'AWS_REGION=us-east-1',
        'AWS_ACCESS_KEY_ID=test',
        'AWS_SECRET_ACCESS_KEY=test',
        'LOG_LEVEL=warn',
        '',
      ].join('\n'),
    );
    fs.writeFileSync(path.join(rel, 'secrets', 'api.env'), `DATABASE_PASSWORD='${d.password}'\n`);
    fs.writeFileSync(
      path.join(rel, 'proxy', 'templates', 'default.conf.template'),
      template ?? fs.readFileSync(path.join(PROXY, 'templates', 'default.conf.template'), 'utf8'),
    );
    host.releases.push(rel);
    return rel;
  };

  // Runs the real cutover script; resolves { code, output }.
  host.cutover = (rel, prev) =>
    new Promise((resolve) => {
      const child = spawn('bash', [CUTOVER, rel, prev || 'none'], { env: host.env, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (d) => (output += d));
      child.stderr.on('data', (d) => (output += d));
      child.on('exit', (code) => resolve({ code, output }));
    });

  // Today's release (slipway-release's `docker compose up --wait`): compose recreates the api
  // in place, stop then start, and waits for it to be healthy. Through the same stand-in.
  host.recreate = (rel, service) =>
    new Promise((resolve) => {
      const child = spawn('docker', ['compose', 'up', '--detach', '--no-deps', '--wait', '--wait-timeout', '30', service], {
        cwd: rel,
        env: host.env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (d) => (output += d));
      child.stderr.on('data', (d) => (output += d));
      child.on('exit', (code) => resolve({ code, output }));
    });

  host.activeSlot = () => {
    try {
      return fs.readFileSync(p('cutover', 'active-slot'), 'utf8').trim();
    } catch {
      return '';
    }
  };
  host.container = (service) => {
    try {
      return JSON.parse(fs.readFileSync(p('standin', `${service}.json`), 'utf8'));
    } catch {
      return null;
    }
  };
  host.alive = (pid) => {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat[stat.lastIndexOf(')') + 2] !== 'Z';
    } catch {
      return false;
    }
  };
  host.standinLog = () => {
    try {
      return fs.readFileSync(p('standin', 'log'), 'utf8');
    } catch {
      return '';
    }
  };
  host.imds = () => (fs.existsSync(host.imdsLog) ? fs.readFileSync(host.imdsLog, 'utf8').trim().split('\n') : []);
  host.request = (pathname, init = {}) =>
    fetch(`${host.base}${pathname}`, { ...init, headers: { [HEADER]: secret, 'content-type': 'application/json', ...(init.headers || {}) } });

  host.stop = async () => {
    for (const f of fs.readdirSync(p('standin')).filter((x) => x.endsWith('.json'))) {
      const { pid } = JSON.parse(fs.readFileSync(p('standin', f), 'utf8'));
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
    if (host.nginx.exitCode === null) {
      try {
        execFileSync(p('bin', 'nginx'), ['-s', 'quit'], { env: host.proxyEnv, stdio: 'ignore' });
      } catch {}
      await Promise.race([host.nginx.exited, h.sleep(5000)]);
      await h.stop(host.nginx, 'SIGKILL');
    }
    await pg.stop();
    await host.sqs?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return host;
}

module.exports = { startHost, SLOTS, HEADER };
