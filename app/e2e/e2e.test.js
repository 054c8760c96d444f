'use strict';
// End to end, without Docker: the same processes the compose project runs, started directly.
//   Chromium -> CDN stand-in (cdn.js) -> nginx (the proxy image's template, rendered the way
//   the image renders it) -> API -> Postgres;  API -> fauxqs (SQS, JSON protocol) -> worker -> Postgres;
//   Postgres as the application's own non-superuser role (the db image's init script).
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');
const h = require('../api/test/helpers');
const { startCdn, CSP } = require('./cdn');

const APP = path.join(__dirname, '..');
const DIST = path.join(APP, 'web', 'dist');
const PROXY = path.join(APP, 'proxy');
const HEADER = 'X-Origin-Verify';
const SECRET = `e2e-${Math.random().toString(36).slice(2)}-origin-secret`;
// Write limit per viewer for this nginx: slow refill, so a burst test is exact; the burst leaves
// room for the other tests' writes (all from one viewer, 127.0.0.1 through the CDN stand-in).
const WRITE_RATE_PER_MINUTE = 6;
const WRITE_BURST = 30;

let pg, sqs, api, worker, nginx, cdn, browser, nginxDir, nginxPort, cdnBase;

// Renders the template with a clean environment: only what the proxy container would have.
function render(outDir, env) {
  return spawnSync('sh', [path.join(__dirname, 'render-nginx.sh'), PROXY, outDir], {
    env: { PATH: process.env.PATH, ...env },
    encoding: 'utf8',
  });
}

async function startNginx(apiPort) {
  nginxDir = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-nginx-'));
  fs.chmodSync(nginxDir, 0o755); // workers run unprivileged when we are root
  fs.mkdirSync(path.join(nginxDir, 'conf.d'));
  fs.mkdirSync(path.join(nginxDir, 'maintenance'), { mode: 0o755 });
  nginxPort = await h.freePort();
  const r = render(path.join(nginxDir, 'conf.d'), {
    ORIGIN_HEADER_NAME: HEADER,
    ORIGIN_HEADER_VALUE: SECRET,
    // the two API slots (198.18.100.10:3000 and .12 in compose): here one API serves as both
    API_BLUE_UPSTREAM: `127.0.0.1:${apiPort}`,
    API_GREEN_UPSTREAM: `127.0.0.1:${apiPort}`,
    PROXY_LISTEN_PORT: String(nginxPort), // 80 in the image
    HOST_ADDRESS: '127.0.0.3', // the compose network's gateway in production
    MAINTENANCE_FILE: path.join(nginxDir, 'maintenance', 'on'), // /etc/nginx/maintenance/on
    PROXY_WRITE_RATE: `${WRITE_RATE_PER_MINUTE}r/m`, // the envsh's defaults are 1r/s and 10
    PROXY_WRITE_BURST: String(WRITE_BURST),
  });
  assert.equal(r.status, 0, r.stderr);
  // The image's /etc/nginx/nginx.conf, reduced to what matters, with paths under a temp prefix.
  const temp = (n) => `${n}_temp_path ${path.join(nginxDir, n)};`;
  fs.writeFileSync(
    path.join(nginxDir, 'nginx.conf'),
    `${h.isRoot ? 'user www-data;' : ''}
worker_processes 1;
error_log stderr notice;
pid ${path.join(nginxDir, 'nginx.pid')};
events { worker_connections 1024; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  sendfile on;
  keepalive_timeout 65;
  ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(temp).join('\n  ')}
  include ${path.join(nginxDir, 'conf.d')}/*.conf;
}
`,
  );
  // In the container stdout is a pipe; Node gives children a socket, which nginx cannot open
  // as /dev/stdout. So nginx writes into a real pipe (through cat).
  const args = `-p ${nginxDir} -c ${path.join(nginxDir, 'nginx.conf')} -e stderr`;
  nginx = h.start('sh', ['-c', `nginx ${args} -g 'daemon off;' 2>&1 | cat`]);
  nginx.quit = () => execFileSync('sh', ['-c', `nginx ${args} -s quit`]);
  await h.waitFor(async () => (await fetch(`http://127.0.0.1:${nginxPort}/healthz`)).ok, `nginx\n${nginx.output}`);
}

// A raw HTTP request (no automatic decompression), optionally from another loopback address.
function raw(port, { method = 'GET', path: p = '/', headers = {}, body, localAddress } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: p, headers, localAddress, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

before(async () => {
  assert.ok(fs.existsSync(path.join(DIST, 'index.html')), 'build the SPA first (npm run build in app/web)');
  [pg, sqs] = await Promise.all([h.startPostgres(), h.startSqs({ visibilityTimeout: 5 })]);
  const db = await h.createDatabase(pg, 'e2e');
  const apiPort = await h.freePort();
  const env = h.appEnv(db, sqs, { PORT: String(apiPort), WORKER_JOB_TIMEOUT_SECONDS: '4' });
  api = h.start(process.execPath, [path.join(APP, 'api', 'src', 'server.js')], { env });
  worker = h.start(process.execPath, [path.join(APP, 'api', 'src', 'worker.js')], { env });
  await h.waitFor(async () => (await fetch(`http://127.0.0.1:${apiPort}/readyz`)).ok, `api\n${api.output}`);
  await startNginx(apiPort);
  cdn = await startCdn({ distDir: DIST, origin: { host: '127.0.0.1', port: nginxPort }, headerName: HEADER, headerValue: SECRET });
  cdnBase = `http://127.0.0.1:${cdn.address().port}`;
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  cdn?.close();
  if (nginx && nginx.exitCode === null) {
    nginx.quit(); // graceful nginx shutdown
    await nginx.exited;
  }
  await Promise.all([h.stop(api), h.stop(worker)]);
  await Promise.all([pg?.stop(), sqs?.stop()]);
  if (nginxDir) fs.rmSync(nginxDir, { recursive: true, force: true });
  if (process.exitCode) {
    for (const [name, p] of Object.entries({ api, worker, nginx })) console.error(`--- ${name}\n${p?.output}`);
  }
});

test('browser: add an item, see it listed, open and reload its deep link, run a job (SQS: fauxqs), under the CSP', async () => {
  const page = await browser.newPage();
  const problems = [];
  // Registered through the DevTools protocol, so the CSP itself does not block this listener.
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  page.on('console', (m) => {
    if (m.type() === 'error' && !/404|Not Found/.test(m.text())) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(e.message));

  const res = await page.goto(`${cdnBase}/`);
  assert.equal(res.headers()['content-security-policy'], CSP);
  await page.getByRole('heading', { name: 'Items' }).waitFor();

  const name = `Spinnaker ${Date.now()}`;
  await page.fill('#add-item input[name=name]', name);
  await page.click('#add-item button');
  const link = page.locator('#items a', { hasText: name });
  await link.waitFor();

  await page.reload(); // listed from the API, not just appended by the form
  await page.locator('#items a', { hasText: name }).click();
  await page.waitForURL(/\/items\/[0-9a-f-]{36}$/);
  const deepLink = page.url();
  assert.equal(await page.textContent('#item-name'), name);

  await page.goto(deepLink); // a cold load of the client-side route
  assert.equal(await page.textContent('#item-name'), name);

  await page.click('#run-job');
  await page.getByText(/job done: .*"words":2/).waitFor({ timeout: 15000 });
  // The API process sent the job and the worker process received and deleted it, in SQS's JSON
  // protocol: fauxqs (the only SQS server here) logged each call.
  const calls = new Set(sqs.requests().map((r) => `${r.protocol} ${r.target}`));
  for (const op of ['SendMessage', 'ReceiveMessage', 'DeleteMessage']) {
    assert.ok(calls.has(`json AmazonSQS.${op}`), `fauxqs saw no JSON ${op}: ${[...calls]}`);
  }

  await page.goto(`${cdnBase}/items/00000000-0000-4000-8000-000000000000`);
  await page.locator('#error', { hasText: '404: item not found' }).waitFor();

  assert.deepEqual(problems, []);
  await page.close();
});

test('an unknown /api path stays a JSON 404 through the CDN and nginx', async () => {
  const res = await fetch(`${cdnBase}/api/nope`);
  assert.equal(res.status, 404);
  assert.match(res.headers.get('content-type'), /application\/json/);
  assert.equal((await res.json()).statusCode, 404);
});

test('nginx refuses requests without the origin header', async () => {
  const refused = [
    { path: '/api/items' },
    { path: '/api/items', headers: { [HEADER]: 'wrong-value-wrong-value' } },
    { path: '/api/items', headers: { [HEADER]: SECRET.toUpperCase() } }, // exact match only
    { path: '/healthz', localAddress: '127.0.0.2' }, // health is exempt from 127.0.0.1 only
    { path: '/healthz', localAddress: '127.0.0.2', headers: { 'x-forwarded-for': '127.0.0.1' } },
    { path: '/', localAddress: '127.0.0.1' },
    { path: '/api/items', localAddress: '127.0.0.3' }, // the host's address is exempt for health only
  ];
  for (const r of refused) {
    const res = await raw(nginxPort, r);
    assert.equal(res.status, 403, JSON.stringify(r));
    assert.equal(JSON.parse(res.body).statusCode, 403);
  }
  assert.equal((await raw(nginxPort, { path: '/api/items', headers: { [HEADER]: SECRET } })).status, 200);
  assert.equal((await raw(nginxPort, { path: '/readyz' })).status, 200); // local health check
  // the host's own probe, arriving from HOST_ADDRESS (Docker's gateway) through the published port
  assert.equal((await raw(nginxPort, { path: '/readyz', localAddress: '127.0.0.3' })).status, 200);
  const other = await raw(nginxPort, { path: '/index.html', headers: { [HEADER]: SECRET } });
  assert.equal(other.status, 404);
  assert.equal(JSON.parse(other.body).statusCode, 404);
});

test('nginx: gzip, body limits in JSON, JSON access log that trusts X-Forwarded-For only from CloudFront', async () => {
  for (let i = 0; i < 5; i++) {
    await fetch(`${cdnBase}/api/items`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: `gz ${i}` }) });
  }
  const gz = await raw(nginxPort, { path: '/api/items', headers: { [HEADER]: SECRET, 'accept-encoding': 'gzip' } });
  assert.equal(gz.headers['content-encoding'], 'gzip');

  const json = { 'content-type': 'application/json', [HEADER]: SECRET };
  const apiLimit = await raw(nginxPort, { method: 'POST', path: '/api/items', headers: json, body: JSON.stringify({ name: 'x'.repeat(20000) }) });
  assert.equal(apiLimit.status, 413);
  const nginxLimit = await raw(nginxPort, { method: 'POST', path: '/api/items', headers: json, body: 'x'.repeat(2 * 1024 * 1024) });
  assert.equal(nginxLimit.status, 413);
  assert.equal(JSON.parse(nginxLimit.body).statusCode, 413);

  await raw(nginxPort, { path: '/healthz?probe=trusted', headers: { [HEADER]: SECRET, 'x-forwarded-for': '198.51.100.7, 203.0.113.5' } });
  await raw(nginxPort, { path: '/healthz?probe=untrusted', headers: { 'x-forwarded-for': '203.0.113.5' } });
  const entries = await h.waitFor(() => {
    const lines = nginx.output.split('\n').filter((l) => l.startsWith('{"time"')).map((l) => JSON.parse(l));
    return lines.some((e) => e.uri.includes('untrusted')) && lines;
  }, 'access log lines');
  assert.equal(entries.find((e) => e.uri === '/healthz?probe=trusted').client, '203.0.113.5');
  assert.equal(entries.find((e) => e.uri === '/healthz?probe=untrusted').client, '127.0.0.1');
  assert.ok(!nginx.output.includes(SECRET), 'the origin secret is never logged');
});

test('maintenance mode: the API answers 503 with Retry-After while the file exists; health endpoints do not', async () => {
  const flag = path.join(nginxDir, 'maintenance', 'on');
  const auth = { [HEADER]: SECRET };
  const json = { ...auth, 'content-type': 'application/json' };
  fs.writeFileSync(flag, ''); // what `slipway-release maintenance on` does on the host (mounted read-only)
  try {
    for (const r of [
      { path: '/api/items', headers: auth },
      { method: 'POST', path: '/api/items', headers: json, body: JSON.stringify({ name: 'during maintenance' }) },
      { path: '/api/items/00000000-0000-4000-8000-000000000000', headers: auth },
    ]) {
      const res = await raw(nginxPort, r);
      assert.equal(res.status, 503, JSON.stringify(r));
      assert.equal(res.headers['retry-after'], '120');
      assert.match(res.headers['content-type'], /application\/json/);
      const body = JSON.parse(res.body);
      assert.equal(body.statusCode, 503);
      assert.match(body.message, /maintenance/);
    }
    // through the CDN stand-in too, as a viewer sees it
    const viaCdn = await fetch(`${cdnBase}/api/items`);
    assert.equal(viaCdn.status, 503);
    assert.equal(viaCdn.headers.get('retry-after'), '120');
    // health: the probes (localhost, the host's address) and CloudFront's still reach the API
    assert.equal((await raw(nginxPort, { path: '/healthz' })).status, 200);
    assert.equal((await raw(nginxPort, { path: '/readyz' })).status, 200);
    assert.equal((await raw(nginxPort, { path: '/readyz', localAddress: '127.0.0.3' })).status, 200);
    assert.equal((await raw(nginxPort, { path: '/healthz', headers: auth })).status, 200);
    // the origin check still comes first
    assert.equal((await raw(nginxPort, { path: '/api/items', localAddress: '127.0.0.2' })).status, 403);
  } finally {
    fs.rmSync(flag, { force: true });
  }
  // off again: no reload needed, nginx checks the file on every request
  const after = await raw(nginxPort, { path: '/api/items', headers: auth });
  assert.equal(after.status, 200);
  assert.equal(after.headers['retry-after'], undefined);
});

test('the proxy refuses to start without a valid origin header configuration', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-render-'));
  try {
    for (const [env, message] of [
      [{ ORIGIN_HEADER_VALUE: SECRET }, /ORIGIN_HEADER_NAME is required/],
      [{ ORIGIN_HEADER_NAME: HEADER, ORIGIN_HEADER_VALUE: 'short' }, /at least 16/],
      [{ ORIGIN_HEADER_NAME: HEADER, ORIGIN_HEADER_VALUE: 'has"quote$and-more-chars' }, /letters, digits/],
      [{ ORIGIN_HEADER_NAME: HEADER, ORIGIN_HEADER_VALUE: SECRET, PROXY_WRITE_RATE: '5' }, /PROXY_WRITE_RATE must be <n>r\/s or <n>r\/m/],
      [{ ORIGIN_HEADER_NAME: HEADER, ORIGIN_HEADER_VALUE: SECRET, PROXY_WRITE_RATE: '1r/s; evil' }, /PROXY_WRITE_RATE/],
      [{ ORIGIN_HEADER_NAME: HEADER, ORIGIN_HEADER_VALUE: SECRET, PROXY_WRITE_BURST: '-1' }, /PROXY_WRITE_BURST must be a whole number/],
    ]) {
      const r = render(out, env);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, message);
    }
    // Without PROXY_WRITE_* the envsh's defaults fill the template: 1 write/s, burst 10.
    const ok = render(out, { ORIGIN_HEADER_NAME: HEADER, ORIGIN_HEADER_VALUE: SECRET });
    assert.equal(ok.status, 0, ok.stderr);
    const conf = fs.readFileSync(path.join(out, 'default.conf'), 'utf8');
    assert.match(conf, /limit_req_zone \$write_limit_key zone=writes_per_viewer:10m rate=1r\/s;/);
    assert.match(conf, /limit_req zone=writes_per_viewer burst=10 nodelay;/);
    assert.doesNotMatch(conf, /\$\{PROXY_WRITE_/, 'the write limit variables are rendered');
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

test('nginx limits writes per verified viewer (CloudFront-Viewer-Address): 429 in JSON beyond the burst; reads, health, other viewers unaffected', async () => {
  const viewer = (address, extra = {}) => ({ [HEADER]: SECRET, 'cloudfront-viewer-address': address, ...extra });
  const write = (headers, method = 'POST') =>
    raw(nginxPort, { method, path: '/api/items', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ name: 'limited' }) });
  // One viewer, a new source port on every request (as CloudFront reports it): one key.
  const statuses = [];
  for (let i = 0; i < WRITE_BURST + 4; i++) statuses.push((await write(viewer(`203.0.113.9:${40000 + i}`))).status);
  // The first request plus the burst pass (rate 6/min: no token refills within the loop).
  assert.deepEqual(statuses.slice(0, WRITE_BURST + 1), Array(WRITE_BURST + 1).fill(201), statuses.join(' '));
  assert.deepEqual(statuses.slice(WRITE_BURST + 1), [429, 429, 429], statuses.join(' '));
  const refused = await write(viewer('203.0.113.9:1'));
  assert.equal(refused.status, 429);
  assert.equal(refused.headers['retry-after'], '1');
  assert.match(refused.headers['content-type'], /application\/json/);
  assert.equal(JSON.parse(refused.body).statusCode, 429);
  for (const method of ['PUT', 'PATCH', 'DELETE']) assert.equal((await write(viewer('203.0.113.9:2'), method)).status, 429, method);

  // Reads and health checks of the same viewer are not limited.
  assert.equal((await raw(nginxPort, { path: '/api/items', headers: viewer('203.0.113.9:3') })).status, 200);
  assert.equal((await raw(nginxPort, { path: '/healthz', headers: viewer('203.0.113.9:4') })).status, 200);
  assert.equal((await raw(nginxPort, { path: '/readyz' })).status, 200);
  // Another viewer behind the same TCP peer (the same CloudFront edge) still writes; IPv6 too.
  assert.equal((await write(viewer('203.0.113.10:5'))).status, 201);
  assert.equal((await write(viewer('2001:db8::7:443'))).status, 201);
  // X-Forwarded-For does not move a viewer out of its bucket: the key is CloudFront's header.
  assert.equal((await write(viewer('203.0.113.9:6', { 'x-forwarded-for': '198.51.100.99' }))).status, 429);
  // Without the origin secret the header is not believed: such requests are refused (403), never
  // counted against the viewer they name.
  assert.equal((await write({ 'cloudfront-viewer-address': '203.0.113.11:7' })).status, 403);
  assert.equal((await write(viewer('203.0.113.11:8'))).status, 201);
  // nginx logged the refusals at warn.
  await h.waitFor(() => /limiting requests, excess: .* by zone "writes_per_viewer", client: 127\.0\.0\.1/.test(nginx.output), 'limit_req log');
});

test('browser: the SPA stops polling a job that failed or vanished (404)', async () => {
  const su = h.superuserClient(pg, 'e2e');
  await su.connect();
  const page = await browser.newPage();
  const polls = [];
  page.on('request', (r) => {
    const m = /\/api\/jobs\/([0-9a-f-]{36})$/.exec(new URL(r.url()).pathname);
    if (m && r.method() === 'GET') polls.push(m[1]);
  });
  worker.kill('SIGSTOP'); // jobs stay queued until this test decides their fate
  try {
    const item = await (await fetch(`${cdnBase}/api/items`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Polled' }) })).json();
    await page.goto(`${cdnBase}/items/${item.id}`);

    for (const [fate, change, text] of [
      ['failed', (id) => su.query("UPDATE jobs SET status = 'failed' WHERE id = $1", [id]), 'job failed'],
      ['vanished', (id) => su.query('DELETE FROM jobs WHERE id = $1', [id]), 'job vanished: it no longer exists'],
    ]) {
      const started = polls.length;
      await page.click('#run-job');
      await h.waitFor(() => polls.length >= started + 2, `the SPA polls the queued job (${fate})`);
      const jobId = polls[polls.length - 1];
      await change(jobId);
      await page.locator('#job-status', { hasText: text }).waitFor({ timeout: 5000 });
      const count = polls.filter((id) => id === jobId).length;
      await h.sleep(3000); // six poll intervals
      assert.equal(polls.filter((id) => id === jobId).length, count, `no poll after the job ${fate}`);
    }
  } finally {
    worker.kill('SIGCONT');
    await page.close();
    await su.end();
  }
});

test('Postgres down: the API answers 503 in JSON with Retry-After through nginx and the CDN (not nginx\'s 502), and recovers', async () => {
  await pg.halt();
  try {
    for (const [method, body] of [['GET'], ['POST', JSON.stringify({ name: 'during the outage' })]]) {
      const res = await fetch(`${cdnBase}/api/items`, { method, headers: { 'content-type': 'application/json' }, body });
      assert.equal(res.status, 503, method);
      assert.equal(res.headers.get('retry-after'), '30', method);
      assert.deepEqual(await res.json(), { statusCode: 503, error: 'Service Unavailable', message: 'the database is unavailable; retry later' });
    }
    assert.equal((await fetch(`${cdnBase}/healthz`)).status, 200, 'the API process is alive');
  } finally {
    await pg.resume();
  }
  await h.waitFor(async () => (await fetch(`${cdnBase}/api/items`)).status === 200, 'reads again after Postgres returns');
  assert.equal(api.exitCode, null, 'the API never exited');
});
