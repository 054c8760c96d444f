// Slipway's CloudFront Function: viewer request on the default (S3)
// behaviour. Runtime cloudfront-js-2.0. This file is deployed byte for byte
// (infra/site.go embeds it) and viewer-request.test.mjs runs this same
// file, so what is tested is what runs at the edge.
//
// 1. www.<apex> answers 301 to https://<apex> with the same path and query.
//    The apex is the Host header without its "www.": CloudFront accepts only
//    Host values that are aliases of the distribution (apex and www), so the
//    file needs no per-stack value and nothing is substituted at deploy.
// 2. SPA routing: a path whose last segment has no extension (/items/42) is
//    a route of the app and is served /index.html; files (/assets/x.js,
//    /favicon.ico) reach S3 unchanged. This replaces distribution-wide custom
//    error responses, which would also turn the API's own 404s into HTML.
//    API and health paths have behaviours of their own without this
//    function; the guard below also keeps /api (no slash) and anything under
//    /api/ from ever becoming HTML should they reach this behaviour.

var PASSTHROUGH_PREFIX = '/api/';
var PASSTHROUGH_PATHS = { '/api': true, '/healthz': true, '/readyz': true };

function handler(event) {
  var request = event.request;
  var host = request.headers.host ? request.headers.host.value.toLowerCase() : '';

  if (host.length > 4 && host.indexOf('www.') === 0) {
    var query = queryString(request.querystring);
    return {
      statusCode: 301,
      statusDescription: 'Moved Permanently',
      headers: {
        location: { value: 'https://' + host.slice(4) + request.uri + (query ? '?' + query : '') },
        // Browsers cache a 301 without limit unless told; an hour keeps a
        // mistaken redirect recoverable.
        'cache-control': { value: 'public, max-age=3600' },
      },
    };
  }

  if (isAppRoute(request.uri)) {
    request.uri = '/index.html';
  }
  return request;
}

// isAppRoute: not an API or health path, and no extension in the last
// path segment ("/", "/items/42", "/items/42/").
function isAppRoute(uri) {
  if (PASSTHROUGH_PATHS[uri] || uri.indexOf(PASSTHROUGH_PREFIX) === 0) {
    return false;
  }
  var last = uri.substring(uri.lastIndexOf('/') + 1);
  return last.indexOf('.') === -1;
}

// queryString rebuilds the viewer's query string from CloudFront's parsed
// form ({name: {value, multiValue: [{value}]}}), values as received.
function queryString(qs) {
  var parts = [];
  for (var name in qs) {
    var entry = qs[name];
    var values = entry.multiValue ? entry.multiValue : [entry];
    for (var i = 0; i < values.length; i++) {
      parts.push(values[i].value === '' ? name : name + '=' + values[i].value);
    }
  }
  return parts.join('&');
}
