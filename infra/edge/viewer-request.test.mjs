// Tests of the CloudFront Function exactly as deployed: the file is read
// from disk and evaluated the way CloudFront runs it (a script defining
// `handler`), with CloudFront's viewer-request event shape.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

const src = readFileSync(new URL('./viewer-request.js', import.meta.url), 'utf8');
const handler = new Function(`${src}; return handler;`)();

function event(uri, host = 'slipway.example.com', querystring = {}) {
  return {
    version: '1.0',
    context: { eventType: 'viewer-request', distributionDomainName: 'd111111abcdef8.cloudfront.net' },
    viewer: { ip: '198.51.100.7' },
    request: {
      method: 'GET',
      uri,
      querystring,
      headers: { host: { value: host }, accept: { value: 'text/html' } },
      cookies: {},
    },
  };
}

test('the file is a plain script CloudFront can run: no imports, exports or require', () => {
  assert.doesNotMatch(src, /^\s*(import|export)\s/m);
  assert.doesNotMatch(src, /\brequire\(/);
  assert.ok(Buffer.byteLength(src) < 10 * 1024, 'CloudFront Functions are limited to 10 KB');
});

test('deep links of the SPA are served /index.html', () => {
  for (const uri of ['/', '/items', '/items/42', '/items/42/', '/jobs/abc-def', '/apix', '/api-docs', '/healthzz']) {
    const out = handler(event(uri));
    assert.equal(out.uri, '/index.html', uri);
    assert.equal(out.statusCode, undefined, uri);
  }
});

test('files and assets reach S3 unchanged', () => {
  for (const uri of ['/index.html', '/assets/index-3f2a1b9c.js', '/assets/index-9d8e7f6a.css', '/favicon.ico', '/robots.txt', '/img/logo.svg', '/assets/index-3f2a1b9c.js.map']) {
    assert.equal(handler(event(uri)).uri, uri);
  }
});

test('API and health paths are never rewritten', () => {
  for (const uri of ['/api', '/api/', '/api/items', '/api/items/42', '/api/jobs/7/retry', '/healthz', '/readyz']) {
    const out = handler(event(uri));
    assert.equal(out.uri, uri);
    assert.equal(out.statusCode, undefined);
  }
});

test('the request is passed on with its headers and query intact', () => {
  const qs = { page: { value: '2' } };
  const out = handler(event('/items', 'slipway.example.com', qs));
  assert.equal(out.headers.host.value, 'slipway.example.com');
  assert.deepEqual(out.querystring, qs);
  assert.equal(out.method, 'GET');
});

test('www is redirected permanently to the apex, path and query kept', () => {
  const out = handler(event('/items/42', 'www.slipway.example.com', {
    q: { value: 'a%20b' },
    tag: { value: 'x', multiValue: [{ value: 'x' }, { value: 'y' }] },
    flag: { value: '' },
  }));
  assert.equal(out.statusCode, 301);
  assert.equal(out.headers.location.value, 'https://slipway.example.com/items/42?q=a%20b&tag=x&tag=y&flag');
  assert.match(out.headers['cache-control'].value, /max-age=\d+/);
});

test('www redirect works for the dev apex and for assets, without a query', () => {
  const out = handler(event('/assets/index-3f2a1b9c.js', 'WWW.dev.slipway.example.com'));
  assert.equal(out.statusCode, 301);
  assert.equal(out.headers.location.value, 'https://dev.slipway.example.com/assets/index-3f2a1b9c.js');
});

test('the apex and the CloudFront domain are not redirected', () => {
  for (const host of ['slipway.example.com', 'd111111abcdef8.cloudfront.net', 'wwwx.example.com']) {
    const out = handler(event('/items', host));
    assert.equal(out.statusCode, undefined, host);
    assert.equal(out.uri, '/index.html', host);
  }
});
