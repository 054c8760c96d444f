#!/bin/bash
# The application's own Postgres role, and who may log in how.
#
# The official image runs this once, when it initialises an empty data directory (as the postgres
# OS user, against its temporary server on the container's Unix socket). Afterwards:
#
#   - the superuser ($POSTGRES_USER, "postgres" by compose.yaml) has no password and may connect
#     only over the container's own Unix socket: no TCP line in pg_hba.conf names it. Only a
#     process inside the db container (docker compose exec db ...) is the superuser;
#   - the application's role ($DATABASE_USER, the stack's dbUser, password $POSTGRES_PASSWORD, the
#     stack's dbPassword) is LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS and
#     owns its database ($DATABASE_NAME, the stack's dbName) and nothing else. It runs the
#     migrations (as the database's owner it owns the public schema) and the API's and worker's
#     work; it cannot COPY ... FROM/TO PROGRAM, read server files, create roles, databases or
#     untrusted extensions (dblink), or connect to any other database;
#   - over TCP (the compose network) only the application's role may log in, by password
#     (scram-sha-256), and only to the databases it owns;
#   - PUBLIC loses CONNECT and TEMPORARY on every other database (postgres, template1, any other).
#
# Idempotent: run again (as the superuser, on the socket, against a running server: PGHOST, PGPORT
# and PGDATA say where) it converges the role, the database, the grants and pg_hba.conf and
# reloads the configuration. The tests run exactly this file against Debian's Postgres
# (app/api/test/helpers.js, db-role.test.js). The release keeps the role's password in step with
# dbPassword after a rotation, as the superuser over the socket (infra/hostfiles/slipway-release.sh).
set -euo pipefail

superuser="${POSTGRES_USER:-postgres}"
app_user="${DATABASE_USER:-}"
app_db="${DATABASE_NAME:-}"

fail() {
	echo "slipway db init: $*" >&2
	exit 1
}

# The names go into SQL (quoted by psql) and into pg_hba.conf (not quotable): the stack's own
# identifier rule (stacks/validate.go), and never the superuser or a reserved pg_* name.
identifier='^[a-z_][a-z0-9_]{0,62}$'
[[ "$app_user" =~ $identifier ]] || fail "DATABASE_USER '$app_user' is not a Postgres identifier (lowercase letters, digits, _; at most 63)"
[[ "$app_db" =~ $identifier ]] || fail "DATABASE_NAME '$app_db' is not a Postgres identifier (lowercase letters, digits, _; at most 63)"
case "$app_user" in
"$superuser" | postgres | pg_*) fail "DATABASE_USER '$app_user' is reserved (the superuser or a pg_* name); the application needs its own role" ;;
esac
case "$app_db" in
postgres | template0 | template1) fail "DATABASE_NAME '$app_db' is one of Postgres's own databases" ;;
esac
[[ -n "${POSTGRES_PASSWORD:-}" ]] || fail "POSTGRES_PASSWORD (the application role's password) is empty"
[[ -n "${PGDATA:-}" && -f "$PGDATA/pg_hba.conf" ]] || fail "PGDATA '${PGDATA:-}' holds no pg_hba.conf"

psql_super() {
	psql --no-psqlrc --quiet --no-password -v ON_ERROR_STOP=1 --username "$superuser" "$@"
}

# The password travels in the environment and becomes a psql variable (\getenv), never a command
# line; statement logging is off for this session, so no log line quotes it.
psql_super --dbname postgres -v app_user="$app_user" -v app_db="$app_db" -v superuser="$superuser" <<'SQL'
SET log_statement = none;
SET log_min_error_statement = panic;
\getenv app_password POSTGRES_PASSWORD
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_user') AS create_role \gset
\if :create_role
CREATE ROLE :"app_user" LOGIN;
\endif
ALTER ROLE :"app_user" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD :'app_password';
-- The image set the superuser's password to POSTGRES_PASSWORD at initdb: take it away, so the
-- superuser cannot log in by password at all (pg_hba.conf refuses it over TCP regardless).
ALTER ROLE :"superuser" WITH PASSWORD NULL;
SELECT NOT EXISTS (SELECT FROM pg_database WHERE datname = :'app_db') AS create_db \gset
\if :create_db
CREATE DATABASE :"app_db" OWNER :"app_user";
\endif
-- The image may have created it (POSTGRES_DB) owned by the superuser.
ALTER DATABASE :"app_db" OWNER TO :"app_user";
REVOKE ALL ON DATABASE :"app_db" FROM PUBLIC;
SELECT format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC', datname)
  FROM pg_database
  WHERE datname <> :'app_db' AND datallowconn
\gexec
SQL

# pg_hba.conf, whole: the image's trust lines (local and 127.0.0.1) and its "host all all all"
# line go. Only the superuser on the socket; only the application's role over TCP, to its own
# databases. Written beside and renamed, so a reload never reads half a file.
owned="$(psql_super --dbname postgres --tuples-only --no-align -v app_user="$app_user" <<'SQL'
SELECT string_agg(datname, ',' ORDER BY datname)
  FROM pg_database WHERE datdba = (SELECT oid FROM pg_roles WHERE rolname = :'app_user');
SQL
)"
hba="$PGDATA/pg_hba.conf"
cat >"$hba.slipway" <<EOF
# Written by /docker-entrypoint-initdb.d/10-slipway-app-role.sh (Slipway); see that file.
# TYPE  DATABASE  USER  ADDRESS  METHOD
local   all       $superuser            trust
host    $owned    $app_user     all     scram-sha-256
EOF
chmod 0600 "$hba.slipway"
mv -f "$hba.slipway" "$hba"
psql_super --dbname postgres --tuples-only --no-align -c 'SELECT pg_reload_conf()' >/dev/null
echo "slipway db init: role $app_user owns database $app_db; the superuser $superuser is reachable on the socket only"
