#!/usr/bin/env bash
# slipway-move-to-rds: copy the host's Postgres into RDS during a short maintenance window.
#
# Run it on the host, as root, through Session Manager (docs/scaling.md, "Moving the data"):
#
#   aws ssm start-session --target <instanceId>
#   sudo -i
#   /var/lib/slipway/releases/current/bin/slipway-move-to-rds   # it travels with every release;
#                                       # the stack's values come from the environment below
#
# What it does, in order, stopping at the first problem:
#   1. checks both servers answer and the target database holds no tables yet;
#   2. stops the writers (SLIPWAY_STOP_WRITERS: the api and worker containers on the host) and
#      checks nothing else is connected to the source database, so the copy is consistent;
#   3. creates (or updates) the application's own role on RDS: LOGIN, no superuser, no CREATEDB or
#      CREATEROLE, and its database, owned by that role (the same role app/db makes on the host);
#   4. pg_dump (custom format, no owners, no privileges) from the host, pg_restore into RDS as the
#      application's role, so every restored object is owned by it;
#   5. verifies every table: row count and an order-independent checksum of its rows, on both sides,
#      and every sequence's value; any difference fails the move;
#   6. fences the host's database (new sessions are read-only: a release rolled back onto it
#      cannot take writes that RDS would never see) and marks the data directory as moved to this
#      RDS address (SLIPWAY_MOVED_MARKER), which a host + rds release's db-setup requires before
#      it serves from RDS (slipway-db-setup.py);
#   7. says what to run next. The writers stay stopped after a successful move (a write to the old
#      database now would be lost); after a failed one they are started again, and the host keeps
#      serving from its own database, which this script never changes.
#
# Environment (libpq variables are not used, so nothing leaks in from the caller's shell):
#   SRC_HOST SRC_PORT SRC_DB SRC_USER SRC_PASSWORD          the host's Postgres (the db container)
#   DST_HOST DST_PORT DST_DB                                RDS (databaseAddress output, 5432, dbName)
#   DST_ADMIN_USER DST_ADMIN_PASSWORD                       RDS master (its Secrets Manager secret,
#                                                           databaseMasterCredentialsArn output)
#   DST_APP_USER DST_APP_PASSWORD                           the application's role (dbUser, dbPassword)
#   DST_SSLMODE        sslmode for RDS (default require: rds.force_ssl refuses plain connections)
#   SRC_SSLMODE        default disable (the host's own container)
#   SLIPWAY_STOP_WRITERS / SLIPWAY_START_WRITERS   shell commands; default: docker stop / start of the
#                      compose project's running worker and API slot containers (api-blue, api-green)
#   SLIPWAY_MOVED_MARKER  the marker written after a verified move (default
#                      /srv/slipway/data/postgres/MOVED-TO-RDS, in the db container's data directory)
#   SLIPWAY_PG_BIN     directory of psql, pg_dump and pg_restore (default: from PATH). The client must
#                      be at least the servers' major version.
#   SLIPWAY_PG_IMAGE   on the host, which has no Postgres client: run the tools from this image (the
#                      stack's db image, Postgres 18) with docker, on SLIPWAY_PG_NETWORK (default
#                      slipway_app, the compose network, where the source is SRC_HOST=db).
#   SLIPWAY_WORK_DIR   where the dump is written (default: a temporary directory, removed at exit)
set -Eeuo pipefail

die() { echo "slipway-move-to-rds: $*" >&2; exit 1; }
say() { echo "slipway-move-to-rds: $*"; }

for v in SRC_HOST SRC_PORT SRC_DB SRC_USER SRC_PASSWORD DST_HOST DST_PORT DST_DB DST_ADMIN_USER \
  DST_ADMIN_PASSWORD DST_APP_USER DST_APP_PASSWORD; do
  [[ -n "${!v:-}" ]] || die "$v is not set (see the header of this script)"
done
# The role and database names end up in SQL: accept plain identifiers only (stacks' dbUser/dbName rule).
for v in DST_DB DST_APP_USER SRC_DB; do
  [[ "${!v}" =~ ^[a-z_][a-z0-9_]{0,62}$ ]] || die "$v=${!v} is not a plain lower-case identifier"
done

bin="${SLIPWAY_PG_BIN:+${SLIPWAY_PG_BIN%/}/}"
# The writers: the running containers of the worker and the API slots (compose labels; which slot
# serves changes with every release), the worker first so the job in hand finishes.
if [[ -z "${SLIPWAY_STOP_WRITERS:-}" || -z "${SLIPWAY_START_WRITERS:-}" ]]; then
  writers=""
  for service in worker api-blue api-green; do
    writers+=" $(docker ps --quiet --filter label=com.docker.compose.project=slipway \
      --filter "label=com.docker.compose.service=$service" | tr '\n' ' ')"
  done
  writers="$(echo "$writers" | xargs)"
  [[ -n "$writers" ]] || die "no worker or API container of the compose project slipway is running"
fi
stop_writers="${SLIPWAY_STOP_WRITERS:-docker stop --time 45 ${writers:-}}"
start_writers="${SLIPWAY_START_WRITERS:-docker start ${writers:-}}"
marker="${SLIPWAY_MOVED_MARKER:-/srv/slipway/data/postgres/MOVED-TO-RDS}"
work="${SLIPWAY_WORK_DIR:-}"
if [[ -z "$work" ]]; then
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
fi
umask 077 # the dump holds every row

# Connection strings in keyword form; passwords travel in PGPASSWORD of the one command that needs them.
src_conn="host=$SRC_HOST port=$SRC_PORT dbname=$SRC_DB user=$SRC_USER sslmode=${SRC_SSLMODE:-disable}"
admin_conn="host=$DST_HOST port=$DST_PORT dbname=postgres user=$DST_ADMIN_USER sslmode=${DST_SSLMODE:-require}"
app_conn="host=$DST_HOST port=$DST_PORT dbname=$DST_DB user=$DST_APP_USER sslmode=${DST_SSLMODE:-require}"

# On the host the tools run from the db image, on the compose network, with the work directory
# mounted at the same path (so --file paths hold) and the one password variable passed through.
if [[ -n "${SLIPWAY_PG_IMAGE:-}" ]]; then
  pg_tool() {
    local tool=$1
    shift
    docker run --rm -i --network "${SLIPWAY_PG_NETWORK:-slipway_app}" -e PGPASSWORD -v "$work:$work" \
      "$SLIPWAY_PG_IMAGE" "$tool" "$@"
  }
  psql() { pg_tool psql "$@"; }
  pg_dump() { pg_tool pg_dump "$@"; }
  pg_restore() { pg_tool pg_restore "$@"; }
  bin=""
fi

src_sql() { PGPASSWORD="$SRC_PASSWORD" "${bin}psql" -X -q -v ON_ERROR_STOP=1 -At -d "$src_conn" "$@"; }
admin_sql() { PGPASSWORD="$DST_ADMIN_PASSWORD" "${bin}psql" -X -q -v ON_ERROR_STOP=1 -At -d "$admin_conn" "$@"; }
app_sql() { PGPASSWORD="$DST_APP_PASSWORD" "${bin}psql" -X -q -v ON_ERROR_STOP=1 -At -d "$app_conn" "$@"; }

# 1. Both servers answer; the target is empty (never restore over data).
src_version="$(src_sql -c 'SHOW server_version_num')" || die "the host's Postgres at $SRC_HOST:$SRC_PORT does not answer"
dst_version="$(admin_sql -c 'SHOW server_version_num')" || die "RDS at $DST_HOST:$DST_PORT does not answer as $DST_ADMIN_USER"
(( dst_version / 10000 >= src_version / 10000 )) ||
  die "RDS runs Postgres $((dst_version / 10000)), older than the host's $((src_version / 10000)): restore would fail"
if [[ "$(admin_sql -c "SELECT count(*) FROM pg_database WHERE datname = '$DST_DB'")" == 1 ]] &&
  app_sql -c 'SELECT 1' >/dev/null 2>&1; then
  existing="$(app_sql -c "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")"
  [[ "$existing" == 0 ]] || die "the RDS database $DST_DB already holds $existing tables: refusing to restore over them"
fi

# 2. Maintenance window: writers stop; from here on a failure starts them again.
writers_stopped=0
marked=0
fenced=0
on_failure() {
  local rc=$?
  # Undone before the writers start again: they write to the host's database, which is the data.
  if (( marked )); then rm -f "$marker" || say "could not remove $marker: remove it before any release"; fi
  if (( fenced )); then
    src_sql -d "${src_conn/dbname=$SRC_DB/dbname=postgres}" -c "ALTER DATABASE \"$SRC_DB\" RESET default_transaction_read_only" ||
      say "could not make $SRC_DB writable again: ALTER DATABASE \"$SRC_DB\" RESET default_transaction_read_only"
  fi
  if (( writers_stopped )); then
    say "FAILED (exit $rc): starting the writers again; the host keeps serving from its own database"
    bash -c "$start_writers" || say "could not start the writers: run: $start_writers"
  fi
  exit "$rc"
}
trap on_failure ERR
say "stopping the writers: $stop_writers"
bash -c "$stop_writers"
writers_stopped=1
others="$(src_sql -c "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")"
[[ "$others" == 0 ]] || { say "$others other sessions are still connected to $SRC_DB: a writer is still running"; false; }

# 3. The application's role and database on RDS (idempotent).
admin_sql -v app_user="$DST_APP_USER" -v app_password="$DST_APP_PASSWORD" -v app_db="$DST_DB" <<'SQL'
-- An existing role only gets its password (RDS's master is no superuser and may not restate
-- NOSUPERUSER); one wider than the application's is refused.
SELECT format('DO $r$ BEGIN RAISE EXCEPTION %L; END $r$',
              format('role %s may create roles or databases, or is a superuser: refusing to use it', :'app_user'))
  FROM pg_roles WHERE rolname = :'app_user' AND (rolsuper OR rolcreaterole OR rolcreatedb) \gexec
SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app_user')
            THEN format('ALTER ROLE %I WITH LOGIN PASSWORD %L', :'app_user', :'app_password')
            ELSE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %L', :'app_user', :'app_password')
       END \gexec
SELECT format('GRANT %I TO CURRENT_USER', :'app_user')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'app_db') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'app_db', :'app_user')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'app_db') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'app_db') \gexec
SQL
say "role $DST_APP_USER and database $DST_DB ready on RDS"

# 4. Copy: custom-format dump, restored as the application's role in one transaction.
PGPASSWORD="$SRC_PASSWORD" "${bin}pg_dump" --format=custom --no-owner --no-privileges \
  --file="$work/source.dump" -d "$src_conn"
PGPASSWORD="$DST_APP_PASSWORD" "${bin}pg_restore" --no-owner --no-privileges --single-transaction \
  --exit-on-error -d "$app_conn" "$work/source.dump"
say "restored $(du -h "$work/source.dump" | cut -f1) dump into $DST_HOST/$DST_DB"

# 5. Verify: every table's row count and checksum (md5 over the sorted md5s of its rows' text, so
# physical order does not matter), and every sequence's value.
inventory_sql="SELECT format('%I.%I', schemaname, tablename) FROM pg_tables
  WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1"
sequences_sql="SELECT format('%I.%I', schemaname, sequencename) FROM pg_sequences
  WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1"
mapfile -t tables < <(src_sql -c "$inventory_sql")
mapfile -t dst_tables < <(app_sql -c "$inventory_sql")
[[ "${tables[*]}" == "${dst_tables[*]}" ]] ||
  { say "tables differ: host (${tables[*]}) vs RDS (${dst_tables[*]})"; false; }
mismatches=0
printf '%-40s %12s  %s\n' table rows checksum
for t in "${tables[@]}"; do
  q="SELECT count(*) || ' ' || coalesce(md5(string_agg(h, '' ORDER BY h)), md5('')) FROM (SELECT md5(x::text) AS h FROM $t x) s"
  src="$(src_sql -c "$q")"
  dst="$(app_sql -c "$q")"
  if [[ "$src" == "$dst" ]]; then
    printf '%-40s %12s  %s ok\n' "$t" "${src%% *}" "${src#* }"
  else
    printf '%-40s host %s / RDS %s MISMATCH\n' "$t" "$src" "$dst"
    mismatches=$((mismatches + 1))
  fi
done
mapfile -t sequences < <(src_sql -c "$sequences_sql")
for s in "${sequences[@]}"; do
  q="SELECT last_value || ' ' || is_called FROM $s"
  src="$(src_sql -c "$q")"
  dst="$(app_sql -c "$q")"
  if [[ "$src" == "$dst" ]]; then
    printf '%-40s %12s  sequence ok\n' "$s" "${src%% *}"
  else
    printf '%-40s host %s / RDS %s MISMATCH\n' "$s" "$src" "$dst"
    mismatches=$((mismatches + 1))
  fi
done
(( mismatches == 0 )) || { say "$mismatches tables or sequences differ: the move is not complete"; false; }
say "verified ${#tables[@]} tables and ${#sequences[@]} sequences: the RDS copy matches the host"

# 6. Fence the host's database and mark the move. From now on RDS holds the data: a release rolled
# back onto the host's database gets read-only sessions (its writes fail instead of forking the data),
# and a host + rds release serves from RDS only with this marker (slipway-db-setup.py).
{
  echo "$DST_HOST"
  echo "moved $SRC_DB to $DST_HOST:$DST_PORT/$DST_DB at $(date -u +%Y-%m-%dT%H:%M:%SZ) by slipway-move-to-rds"
} >"$marker.tmp"
chmod 0644 "$marker.tmp"
mv -f "$marker.tmp" "$marker"
marked=1
fenced=1
src_sql -c "ALTER DATABASE \"$SRC_DB\" SET default_transaction_read_only = on"
trap - ERR
say "the host's database is read-only for new sessions; marked as moved: $marker"
cat <<EOF

Next, from your workstation (the stack has slipway:database rds since step 1 of docs/scaling.md):
  1. Point the application at RDS and deploy:
       pulumi up                                  # compute host: this host's release now serves from RDS
     or move the compute too:
       pulumi config set slipway:compute ecs      # ECS on Fargate
       pulumi up
     The writers on this host stay stopped until that release runs: a write to the host's database
     now would not reach RDS. With compute host the data volume stays attached and keeps the old
     data. With compute ecs, in prod the data volume is protected, so that 'pulumi up' stops until
     you let go of it:
       pulumi state unprotect 'urn:pulumi:prod::slipway::slipway:data:DataVolume\$aws:ebs/volume:Volume::data'
     It is retained in AWS (retainOnDelete) when the stack drops it: the way back stays.
  2. Check the site; delete the old data (and its snapshots) only once you no longer need it.
  To go back instead, before any release serves from RDS:
       rm $marker
       ALTER DATABASE "$SRC_DB" RESET default_transaction_read_only;   -- as $SRC_USER, in the database postgres
       $start_writers
     and set slipway:database back to container; the host's data is otherwise unchanged.
EOF
