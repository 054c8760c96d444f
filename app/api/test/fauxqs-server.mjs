// The tests' SQS server: fauxqs (npm, a devDependency pinned in package.json), which speaks SQS's
// JSON protocol (AWS JSON 1.0) only, as a separate process on 127.0.0.1:<port>.
//
// fauxqs's own CLI (startFauxqs) always listens on 0.0.0.0; its buildApp() is the same server
// without the listen call, so this script listens on the loopback address only.
// Every SQS request is logged to stdout as "fauxqs <wire protocol> <X-Amz-Target>", so a test can
// show which protocol its client spoke (helpers.js reads these lines).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildApp } from 'fauxqs';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: fauxqs-server.mjs <port>');
  process.exit(2);
}
// The version that answers, from the installed package (dist/app.js -> package.json).
const pkgPath = path.join(path.dirname(fileURLToPath(import.meta.resolve('fauxqs'))), '..', 'package.json');
const { version } = JSON.parse(readFileSync(pkgPath, 'utf8'));

const app = buildApp({ logger: false, defaultRegion: 'us-east-1' });
app.addHook('onRequest', (req, _reply, done) => {
  if (req.method === 'POST' && req.url === '/') {
    const type = req.headers['content-type'] ?? '';
    const protocol = type.includes('x-amz-json-1.0') ? 'json' : type.includes('x-www-form-urlencoded') ? 'query' : type || 'none';
    console.log(`fauxqs ${protocol} ${req.headers['x-amz-target'] ?? '-'}`);
  }
  done();
});
await app.listen({ host: '127.0.0.1', port });
console.log(`fauxqs ${version} listening on http://127.0.0.1:${port}`);

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => app.close().then(() => process.exit(0)));
}
