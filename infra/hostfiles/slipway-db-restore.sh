#!/bin/bash
# Restores the host's Postgres from its pgBackRest repository (the stack's S3 bucket) onto a
# NEW data directory, never over the live one. Run as root on the host, through Session
# Manager (docs/operations.md, "Continuous archiving and restore"):
#
#   slipway-db-restore --to latest [--name NAME]
#   slipway-db-restore --to '2026-12-01 21:14:00+00' [--name NAME]
#       Restores into <data volume>/postgres/restore/NAME (NAME defaults to the UTC time),
#       starts a verification server on it (read-only, port 5433, archiving off) once it has
#       replayed the archive up to the target, and prints what it holds. The live database
#       keeps running and is not touched.
#   slipway-db-restore --check NAME [--sql 'SELECT ...']
#       Queries the verification server again (with --sql: runs the query in POSTGRES_DB).
#   slipway-db-restore --swap NAME
#       The operator's decision: stops the live database (the application with it), keeps its
#       data directory as postgres/replaced/<time>, moves the restored one into its place and
#       starts the database on it; it replays to the target, ends recovery on a new timeline
#       and archives from there. Then take a full backup: slipway-backup full.
#   slipway-db-restore --discard NAME
#       Stops the verification server; the directory stays (remove it yourself when sure).
#   slipway-db-restore --list
#
# The live database is stopped only by --swap. pgBackRest runs in a container of the release's
# db image (docker compose run), with the release's SLIPWAY_BACKUP_* settings.
# SLIPWAY_DB_RUNTIME=local runs pgBackRest and Postgres as plain processes instead (the drill,
# scripts/drill-data.sh, on a machine without Docker); every other step is the same.
set -euo pipefail
umask 077

usage() {
	sed -n '6,26p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
}
case "${1:-}" in
'' | -h | --help) usage ;;
esac

host_env="${SLIPWAY_HOST_ENV:-/etc/slipway/host.env}"
if [ -r "$host_env" ]; then
	# shellcheck source=/dev/null
	. "$host_env"
fi
runtime="${SLIPWAY_DB_RUNTIME:-docker}"
release="${SLIPWAY_RELEASES:-/var/lib/slipway/releases}/current"
port="${SLIPWAY_RESTORE_PORT:-5433}"
wait_seconds="${SLIPWAY_RESTORE_WAIT_SECONDS:-3600}"
# The live data directory below the data root: the postgres:18 image's PGDATA.
live_rel="${SLIPWAY_DB_PGDATA_REL:-18/docker}"

case "$runtime" in
docker)
	: "${SLIPWAY_DATA_DIR:?missing in /etc/slipway/host.env}"
	host_root="$SLIPWAY_DATA_DIR/postgres" # the db service's pgdata volume
	ct_root=/var/lib/postgresql            # the same directory inside the container
	owner=999                              # postgres in the image; no such user on the host
	;;
local)
	host_root="${SLIPWAY_DB_ROOT:?SLIPWAY_DB_ROOT is required with SLIPWAY_DB_RUNTIME=local}"
	ct_root="$host_root"
	bindir="${SLIPWAY_PG_BINDIR:-/usr/lib/postgresql/18/bin}"
	socket_dir="${SLIPWAY_DB_SOCKET_DIR:?}"
	live_port="${PGPORT:-5432}"
	conf="${SLIPWAY_PGBACKREST_CONF:?}"
	owner=postgres
	;;
*)
	echo "slipway-db-restore: SLIPWAY_DB_RUNTIME='$runtime': docker or local" >&2
	exit 2
	;;
esac

log() { echo "slipway-db-restore: $(date -u +%H:%M:%S) $*" >&2; }
die() {
	log "$*"
	exit 1
}

compose() { (cd "$release" && docker compose "$@"); }

# db_env NAME prints a variable of the db service's environment.
db_env() {
	case "$runtime" in
	docker) compose run --rm --no-deps -T --entrypoint printenv db "$1" 2>/dev/null || true ;;
	local) printenv "$1" || true ;;
	esac
}

# pgbr ARGS... runs pgBackRest as postgres, with archiving off in the container it runs in.
pgbr() {
	case "$runtime" in
	docker) compose run --rm --no-deps -T --user postgres -e SLIPWAY_ARCHIVE_MODE=off db pgbackrest --stanza="$stanza" "$@" ;;
	local) runuser -u postgres -- pgbackrest --config="$conf" --stanza="$stanza" "$@" ;;
	esac
}

# restore_command for the live data directory (pgBackRest writes one naming the restore
# directory, which is gone after the swap).
live_restore_command() {
	case "$runtime" in
	docker) echo "pgbackrest --stanza=$stanza archive-get %f \"%p\"" ;;
	local) echo "pgbackrest --config=$conf --stanza=$stanza archive-get %f \"%p\"" ;;
	esac
}

verify_container() { echo "slipway-db-verify-$1"; }

# verify_start NAME starts the verification server on restore/NAME.
verify_start() {
	local dir="$ct_root/restore/$1"
	case "$runtime" in
	docker)
		compose run --detach --no-deps --name "$(verify_container "$1")" --user postgres \
			-e PGDATA="$dir" -e SLIPWAY_ARCHIVE_MODE=off db postgres -c port="$port" >/dev/null
		;;
	local)
		runuser -u postgres -- env PGDATA="$dir" SLIPWAY_ARCHIVE_MODE=off SLIPWAY_DB_EXEC=direct \
			slipway-db-entrypoint "$bindir/postgres" -D "$dir" -p "$port" -k "$socket_dir" \
			-c listen_addresses= >>"$host_root/restore/$1.log" 2>&1 &
		;;
	esac
}

# verify_stop NAME stops it (fast shutdown: a restartpoint, nothing lost).
verify_stop() {
	case "$runtime" in
	docker)
		if docker inspect "$(verify_container "$1")" >/dev/null 2>&1; then
			docker stop --time 300 "$(verify_container "$1")" >/dev/null
			docker rm "$(verify_container "$1")" >/dev/null
		fi
		;;
	local)
		if [ -f "$host_root/restore/$1/postmaster.pid" ]; then
			runuser -u postgres -- "$bindir/pg_ctl" stop -D "$host_root/restore/$1" -m fast -w -t 300 >/dev/null
		fi
		;;
	esac
}

# sql PORT DB QUERY runs a query on the verification (port) or live server, unaligned.
sql() {
	local p="$1" db="$2" q="$3"
	case "$runtime" in
	docker)
		if [ "$p" = "$port" ]; then
			docker exec -u postgres "$(verify_container "$name")" psql -p "$p" -U "$pg_user" -d "$db" -XAtqc "$q"
		else
			compose exec -T -u postgres db psql -U "$pg_user" -d "$db" -XAtqc "$q"
		fi
		;;
	local) runuser -u postgres -- "$bindir/psql" -h "$socket_dir" -p "$p" -U "$pg_user" -d "$db" -XAtqc "$q" ;;
	esac
}

live_stop() {
	case "$runtime" in
	docker) compose stop --timeout 300 db ;;
	local)
		if [ -f "$host_root/$live_rel/postmaster.pid" ]; then
			runuser -u postgres -- "$bindir/pg_ctl" stop -D "$host_root/$live_rel" -m fast -w -t 300 >/dev/null
		fi
		;;
	esac
}

live_start() {
	case "$runtime" in
	docker) compose up --detach --no-deps db ;;
	local)
		runuser -u postgres -- env PGDATA="$host_root/$live_rel" SLIPWAY_DB_EXEC=direct \
			slipway-db-entrypoint "$bindir/postgres" -D "$host_root/$live_rel" -p "$live_port" -k "$socket_dir" \
			-c listen_addresses= >>"$host_root/live.log" 2>&1 &
		;;
	esac
}

# wait_sql PORT DB QUERY WANT polls until QUERY prints WANT.
wait_sql() {
	local deadline=$((SECONDS + wait_seconds)) got
	while [ "$SECONDS" -lt "$deadline" ]; do
		got="$(sql "$1" "$2" "$3" 2>/dev/null || true)"
		if [ "$got" = "$4" ]; then return 0; fi
		sleep 0.5
	done
	return 1
}

# lsn_segment LSN prints the 16 hex digits (log and segment) of the WAL segment holding the
# byte before LSN: a server that replayed segment N entirely stands at the start of N+1.
lsn_segment() {
	local hi="${1%/*}" lo="${1#*/}" seg
	seg=$((((16#$hi << 32) + 16#$lo - 1) / segment_bytes))
	printf '%08X%08X\n' $((seg / (4294967296 / segment_bytes))) $((seg % (4294967296 / segment_bytes)))
}

# archive_max prints the newest WAL segment in the archive (16 hex digits, no timeline).
archive_max() {
	pgbr --output=json info | python3 -c '
import json, sys
names = [a["max"] for s in json.load(sys.stdin) for a in s.get("archive", []) if a.get("max")]
print(max(n[8:] for n in names) if names else "")
'
}

# report NAME prints what the verification server holds.
report() {
	local db
	db="$(db_env POSTGRES_DB)"
	echo "restore $1: $(sql "$port" postgres "SELECT 'in recovery: ' || pg_is_in_recovery() || ', last replayed transaction: ' || coalesce(pg_last_xact_replay_timestamp()::text, 'none') || ', replayed to ' || pg_last_wal_replay_lsn()")"
	sql "$port" postgres "SELECT '  database ' || datname || ': ' || pg_size_pretty(pg_database_size(datname)) FROM pg_database WHERE NOT datistemplate ORDER BY 1"
	if [ -n "$db" ]; then
		echo "  tables in $db (rows as of the last ANALYZE before the target):"
		sql "$port" "$db" "SELECT '    ' || n.nspname || '.' || c.relname || ' ' || c.reltuples::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1" || true
	fi
	if [ -n "$check_sql" ]; then
		echo "  check: $(sql "$port" "${db:-postgres}" "$check_sql")"
	fi
}

check_name() {
	case "$1" in
	'' | *[!A-Za-z0-9_-]*) die "restore name '$1': letters, digits, _ and - only" ;;
	esac
}

action="" to="" name="" check_sql=""
while [ $# -gt 0 ]; do
	case "$1" in
	--to)
		action=restore to="${2:?--to needs latest or a timestamp}"
		shift 2
		;;
	--name)
		name="${2:?}"
		shift 2
		;;
	--check | --swap | --discard)
		action="${1#--}" name="${2:?$1 needs the restore name}"
		shift 2
		;;
	--sql)
		check_sql="${2:?}"
		shift 2
		;;
	--list)
		action=list
		shift
		;;
	*) usage ;;
	esac
done
[ -n "$action" ] || usage
[ "$(id -u)" -eq 0 ] || die "run as root (sudo)"

if [ -z "$(db_env SLIPWAY_BACKUP_BUCKET)" ]; then
	die "continuous archiving is off for this stack (no SLIPWAY_BACKUP_BUCKET): nothing to restore from"
fi
stanza="$(db_env SLIPWAY_BACKUP_STANZA)"
stanza="${stanza:-slipway}"
pg_user="$(db_env POSTGRES_USER)"
pg_user="${pg_user:-postgres}"

case "$action" in
list)
	pgbr info
	ls -l "$host_root/restore" "$host_root/replaced" 2>/dev/null || true
	exit 0
	;;
restore)
	name="${name:-$(date -u +%Y%m%dT%H%M%SZ)}"
	check_name "$name"
	dir="$host_root/restore/$name"
	[ ! -e "$dir" ] || die "$dir exists: choose another --name"
	if [ "$to" = latest ]; then
		# A standby: replays every archived segment, stays read-only, never promotes.
		target=(--type=standby)
	else
		date -u -d "$to" >/dev/null 2>&1 || die "--to '$to': not a timestamp (e.g. '2026-12-01 21:14:00+00') nor latest"
		# Stops at the target and pauses there, read-only, until --swap promotes it.
		target=(--type=time "--target=$to" --target-action=pause)
	fi

	# Room for a second copy of the database on the data volume.
	need="$(pgbr --output=json info | python3 -c '
import json, sys
sizes = [b["info"]["size"] for s in json.load(sys.stdin) for b in s.get("backup", [])]
print(sizes[-1] if sizes else 0)
')"
	[ "$need" -gt 0 ] || die "the repository holds no backup (slipway-backup info)"
	avail="$(df -B1 --output=avail "$host_root" | tail -n 1 | tr -d ' ')"
	if [ "$avail" -lt $((need + need / 10)) ]; then
		die "the data volume has $((avail >> 20)) MB free, the restore needs about $((need >> 20)) MB: grow the volume first"
	fi

	install -d -m 0700 -o "$owner" -g "$owner" "$host_root/restore" "$dir"
	log "restoring to $to into $dir (newest backup: $((need >> 20)) MB)"
	pgbr --pg1-path="$ct_root/restore/$name" --log-level-console=info "${target[@]}" restore
	echo "to=$to" >"$host_root/restore/$name.target"

	log "starting the verification server on port $port (archiving off)"
	verify_start "$name"
	wait_sql "$port" postgres "SELECT 1" 1 || die "the verification server did not accept connections (its log: ${host_root}/restore/$name.log or docker logs)"
	if [ "$to" = latest ]; then
		segment_bytes="$(sql "$port" postgres "SELECT setting::bigint * (CASE unit WHEN '8kB' THEN 8192 WHEN 'B' THEN 1 WHEN 'MB' THEN 1048576 ELSE 1 END) FROM pg_settings WHERE name = 'wal_segment_size'")"
		want="$(archive_max)"
		log "waiting until it has replayed the archive's newest segment ($want)"
		deadline=$((SECONDS + wait_seconds))
		until lsn="$(sql "$port" postgres "SELECT pg_last_wal_replay_lsn()")" && [ -n "$lsn" ] &&
			[[ "$(lsn_segment "$lsn")" > "$want" || "$(lsn_segment "$lsn")" == "$want" ]]; do
			[ "$SECONDS" -lt "$deadline" ] || die "not caught up after ${wait_seconds}s (replayed to ${lsn:-?})"
			sleep 0.5
		done
	else
		log "waiting until it has reached the target and paused"
		wait_sql "$port" postgres "SELECT pg_get_wal_replay_pause_state()" paused ||
			die "the target was not reached: is it later than the newest archived WAL, or earlier than the oldest backup?"
	fi
	report "$name"
	log "verified. The live database is untouched. Next: --check $name, then --swap $name (or --discard $name)"
	;;
check)
	check_name "$name"
	report "$name"
	;;
discard)
	check_name "$name"
	verify_stop "$name"
	log "verification server stopped; $host_root/restore/$name stays (rm -rf it when sure)"
	;;
swap)
	check_name "$name"
	dir="$host_root/restore/$name"
	[ -f "$dir/PG_VERSION" ] || die "$dir holds no restored database"
	to="$(sed -n 's/^to=//p' "$host_root/restore/$name.target")"
	log "stopping the verification server"
	verify_stop "$name"
	log "stopping the live database"
	live_stop
	stamp="$(date -u +%Y%m%dT%H%M%SZ)"
	if [ -e "$host_root/$live_rel" ]; then
		install -d -m 0700 -o "$owner" -g "$owner" "$host_root/replaced"
		mv -T "$host_root/$live_rel" "$host_root/replaced/$stamp"
		log "the live data directory is kept as $host_root/replaced/$stamp"
	fi
	install -d -m 0700 -o "$owner" -g "$owner" "$(dirname "$host_root/$live_rel")"
	mv -T "$dir" "$host_root/$live_rel"
	# Replay to the target (or every archived segment), then end recovery and promote.
	rm -f "$host_root/$live_rel/standby.signal"
	install -m 0600 -o "$owner" -g "$owner" /dev/null "$host_root/$live_rel/recovery.signal"
	{
		echo "# slipway-db-restore --swap $name ($stamp): the restore_command of the live directory"
		echo "restore_command = '$(live_restore_command)'"
		if [ "$to" != latest ]; then echo "recovery_target_action = 'promote'"; fi
	} >>"$host_root/$live_rel/postgresql.auto.conf"
	log "starting the database on the restored directory (recovery to $to, then promotion)"
	live_start
	wait_sql "${live_port:-5432}" postgres "SELECT pg_is_in_recovery()" f ||
		die "the database did not finish recovery (docker compose logs db)"
	log "the database runs on the restored data (new timeline). Now: slipway-backup full"
	if [ "$runtime" = docker ]; then
		# The API and worker reconnect by themselves; make sure every service is up.
		compose up --detach --wait
	fi
	;;
esac
