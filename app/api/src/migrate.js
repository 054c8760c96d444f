'use strict';
// The release's migration phase: `docker compose run --rm api-<slot> node src/migrate.js`, a
// one-off run of the new image before any traffic moves to it (infra/hostfiles/slipway-cutover.sh).
// Connects as the application's own role (DATABASE_*), applies the pending migrations under the
// advisory lock (db.js), prints one JSON line per migration, and exits non-zero with the
// migration's error (a refused destructive statement included) so the release fails with it.
const { loadConfig } = require('./config');
const { createLogger } = require('./logger');
const { createPool, migrate } = require('./db');
const { exitOnConfigError } = require('./process');

async function main() {
  const config = exitOnConfigError(loadConfig, 'migrate');
  const log = createLogger(config.logLevel, 'migrate');
  const pool = createPool(config.database, log);
  try {
    const applied = await migrate(pool, log);
    log.info({ applied }, applied.length ? 'migrations applied' : 'schema up to date');
  } finally {
    await pool.end();
  }
}

main().catch((err) => {
  // The message is the one thing the operator (and `pulumi up`) sees: Postgres's own error or
  // the guard's refusal. Never a stack of internals.
  console.error(JSON.stringify({ level: 'fatal', service: 'migrate', msg: 'migration failed', err: err.message, code: err.code }));
  console.error(`migration failed: ${err.message}`);
  process.exit(1);
});
