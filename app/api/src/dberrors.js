'use strict';
// Which database errors mean "Postgres cannot take this now" (answer 503 and retry later) rather
// than a bug (500). Connection failures, and the server refusing writes or work:
const UNAVAILABLE_SQLSTATES = new Set([
  '53100', // disk_full
  '53200', // out_of_memory
  '53300', // too_many_connections
  '25006', // read_only_sql_transaction (default_transaction_read_only, a standby)
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, shutting down, recovering)
  '58030', // io_error
]);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);
const DRIVER_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended unexpectedly/i;

function isDatabaseUnavailable(err) {
  if (!err) return false;
  const code = typeof err.code === 'string' ? err.code : '';
  if (UNAVAILABLE_SQLSTATES.has(code) || code.startsWith('08') || NETWORK_CODES.has(code)) return true;
  if (err instanceof AggregateError && err.errors?.some(isDatabaseUnavailable)) return true;
  return DRIVER_MESSAGES.test(err.message ?? '');
}

// The server is up but refuses to write (the API says so; reads still work).
function isWriteRefused(err) {
  return err?.code === '53100' || err?.code === '25006';
}

module.exports = { isDatabaseUnavailable, isWriteRefused };
