'use strict';
// The release benchmark (scripts/bench-release.sh): K consecutive API releases while C clients
// keep busy on endpoints that write and read the database, through the real nginx with the
// shipped template, real API processes of the old and the new release, and real Postgres
// (release-harness.js says what is stood in for: the Docker engine and compose).
//   1. recreate baseline: what slipway-release did before the cutover (`docker compose up
//      --wait` recreates the api in place: stop the old, start the new, wait until healthy),
//      through the same stand-in and nginx;
//   2. release cutover: infra/hostfiles/slipway-cutover.sh, unchanged.
// Each prints one line. --assert-zero: exit 1 unless the cutover failed no request.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const h = require('../api/test/helpers');
const { startHost } = require('./release-harness');

const opts = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]?.startsWith('--') ? true : all[i + 1] ?? true]] : acc), []),
);
const clients = Number(opts.clients || 20);
const releases = Number(opts.releases || 5);
const minRequests = Number(opts['min-requests'] || 10000);
const gapMs = Number(opts['gap-ms'] || 1000);
const modes = String(opts.modes || 'recreate,cutover').split(',');

function load(host) {
  const stopFile = path.join(host.dir, `stop-${Date.now()}`);
  const gen = spawn(process.execPath, [path.join(__dirname, 'loadgen.js'), '--url', host.base, '--header', `${host.header}=${host.secret}`,
    '--clients', String(clients), '--max-seconds', '900', '--max-requests', '2000000', '--stop-file', stopFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  gen.stdout.on('data', (d) => (out += d));
  const exited = new Promise((r) => gen.on('exit', r));
  return {
    async stop() {
      fs.writeFileSync(stopFile, '');
      await exited;
      return JSON.parse(out);
    },
  };
}

// One load run across K releases (a pause before, between and after them).
async function run(host, mode, release) {
  const gen = load(host);
  await h.sleep(gapMs);
  const started = Date.now();
  for (let k = 1; k <= releases; k++) {
    const r = await release(k);
    if (r.code !== 0) throw new Error(`${mode} release ${k} failed:\n${r.output}`);
    await h.sleep(gapMs);
  }
  const res = await gen.stop();
  return { ...res, seconds: (Date.now() - started) / 1000 };
}

async function main() {
  const host = await startHost({ quiet: true });
  const lines = [];
  let cutoverFailed = 0;
  try {
    const images = [host.image(), host.image()];
    let prev = host.release(images[0]);
    const first = await host.cutover(prev, null);
    if (first.code !== 0) throw new Error(`first release failed:\n${first.output}`);
    // Warm up (JIT, connection pools) so both modes start alike.
    await host.request('/api/items');
    for (const mode of modes) {
      let res;
      for (let attempt = 0; attempt < 3; attempt++) {
        res = await run(host, mode, async (k) => {
          const rel = host.release(images[k % 2]);
          const r = mode === 'recreate' ? await host.recreate(rel, `api-${host.activeSlot()}`) : await host.cutover(rel, prev);
          prev = rel;
          return r;
        });
        if (res.requests >= minRequests) break;
        // Too few requests for the goal: the releases were quick; run again with longer gaps.
        process.stderr.write(`bench: ${mode}: ${res.requests} requests < ${minRequests}; again with longer pauses\n`);
      }
      const line = `${mode === 'recreate' ? 'recreate baseline' : 'release cutover'}: ${res.requests} requests, ${res.failed} failed, p99 ${res.p99} ms, ${clients} clients, ${releases} releases`;
      process.stderr.write(`bench: ${mode}: ${JSON.stringify(res.failures)} in ${res.seconds}s\n`);
      console.log(line);
      lines.push(line);
      if (mode === 'cutover') cutoverFailed = res.failed;
    }
  } finally {
    await host.stop();
  }
  if (opts['assert-zero'] && cutoverFailed !== 0) {
    console.error(`bench: the cutover failed ${cutoverFailed} requests`);
    process.exit(1);
  }
}

main().catch((err) => {
  console.error(`bench: ${err.stack}`);
  process.exit(1);
});
