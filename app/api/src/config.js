'use strict';
// Configuration comes only from environment variables. Every problem is collected and reported
// at once, naming the variable; secret values are never echoed back.

class ConfigError extends Error {}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function loadConfig(env = process.env) {
  const problems = [];

  const required = (name) => {
    const v = env[name];
    if (v === undefined || v.trim() === '') {
      problems.push(`${name} is required`);
      return undefined;
    }
    return v;
  };
  const integer = (name, fallback, min, max) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${name} must be an integer between ${min} and ${max} (got "${raw}")`);
      return fallback;
    }
    return n;
  };
  const oneOf = (name, fallback, allowed) => {
    const v = env[name] || fallback;
    if (!allowed.includes(v)) problems.push(`${name} must be one of ${allowed.join(', ')} (got "${v}")`);
    return v;
  };
  const url = (name, optional) => {
    const v = optional ? env[name] || undefined : required(name);
    if (v === undefined) return undefined;
    try {
      new URL(v);
    } catch {
      problems.push(`${name} must be an absolute URL (got "${v}")`);
    }
    return v;
  };

  const config = {
    port: integer('PORT', 3000, 1, 65535),
    // All interfaces in a container; tests bind to 127.0.0.1.
    host: env.HOST || '0.0.0.0',
    logLevel: oneOf('LOG_LEVEL', 'info', LOG_LEVELS),
    database: {
      host: required('DATABASE_HOST'),
      port: integer('DATABASE_PORT', 5432, 1, 65535),
      database: required('DATABASE_NAME'),
      user: required('DATABASE_USER'),
      password: required('DATABASE_PASSWORD'),
    },
    queue: {
      url: url('QUEUE_URL'),
      region: required('AWS_REGION'),
      // Only for a local SQS-compatible server (it must speak SQS's JSON protocol, as AWS and
      // the SDK do); unset in AWS.
      endpoint: url('SQS_ENDPOINT', true),
    },
    // The worker's processing budget per message; the queue's visibility timeout is set above it.
    jobTimeoutSeconds: integer('WORKER_JOB_TIMEOUT_SECONDS', 30, 1, 43200),
    // The worker's back-off after a failed job (see backoff.js): base * 2^(receive-1), capped,
    // with jitter. 0 turns back-off off (receive loop and redelivery as SQS's visibility timeout
    // alone would have them): only the outage drill's control run does that.
    retry: {
      baseSeconds: integer('WORKER_RETRY_BASE_SECONDS', 60, 0, 3600),
      // Below SQS's 12 h visibility limit, and far below the queue's retention (1 day or more).
      maxSeconds: integer('WORKER_RETRY_MAX_SECONDS', 3600, 1, 43200),
    },
    // How often the worker's outbox relay looks for messages the API did not send, and how old
    // an unsent row must be before the relay takes it over from the API.
    outboxRelaySeconds: integer('OUTBOX_RELAY_SECONDS', 5, 1, 3600),
    // Fault injection for the outage drill only; unset in every deployed environment (the release
    // never writes it) and then inert. crash-after-insert: the API kills itself with SIGKILL
    // right after committing a job and its outbox row, before SendMessage.
    fault: oneOf('SLIPWAY_FAULT', 'none', ['none', 'crash-after-insert']),
  };

  if (problems.length > 0) {
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  return config;
}

module.exports = { loadConfig, ConfigError };
