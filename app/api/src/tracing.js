'use strict';
// Datadog APM, only when the datadog compose profile turns it on. dd-trace patches modules as
// they are required, so this file must be the first require of every entry point; when the
// flag is off dd-trace is never loaded and costs nothing.
if (process.env.DD_TRACE_ENABLED === 'true') {
  require('dd-trace').init({ logInjection: true });
}
