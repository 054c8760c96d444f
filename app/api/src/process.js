'use strict';
const { ConfigError } = require('./config');

// Loads the config or exits with one JSON line naming what is wrong.
function exitOnConfigError(load, service) {
  try {
    return load();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(JSON.stringify({ level: 'fatal', service, msg: err.message }));
    process.exit(78); // EX_CONFIG
  }
}

// Runs the shutdown once on SIGTERM/SIGINT; a second signal or a stuck close exits hard.
function onShutdown(log, close, graceMs = 25000) {
  let closing = false;
  const handler = (signal) => {
    if (closing) process.exit(1);
    closing = true;
    log.info({ signal }, 'shutting down');
    setTimeout(() => {
      log.error('shutdown timed out');
      process.exit(1);
    }, graceMs).unref();
    close().then(
      () => {
        log.info('shutdown complete');
        process.exit(0);
      },
      (err) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

module.exports = { exitOnConfigError, onShutdown };
