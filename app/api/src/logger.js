'use strict';
const pino = require('pino');

// JSON lines on stdout (the container log driver ships them). Request logs carry no headers,
// and these paths are redacted in case an error object ever includes them.
function createLogger(level, service) {
  return pino({
    level,
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: ['password', '*.password', 'req.headers.authorization', 'req.headers.cookie'],
  });
}

module.exports = { createLogger };
