#!/bin/bash
# Base backups of the host's Postgres with pgBackRest (slipway-backup.timer, hourly).
#
#   slipway-backup          create the stanza if needed, then a full backup when the newest
#                           one is older than SLIPWAY_BACKUP_FULL_HOURS (default 23)
#   slipway-backup full     a full backup now (e.g. right after a restore was swapped in)
#   slipway-backup info     pgBackRest's view of the repository
#
# Every backup is a full one, and the host never deletes: no expire runs here (the
# configuration sets expire-auto=n). The bucket's lifecycle rule removes objects older than
# the retention; since a full backup needs nothing older than itself, a restore works as
# long as one full backup younger than the retention exists, which a daily full guarantees
# (docs/operations.md, "Continuous archiving and restore"). Each backup also rewrites
# archive.info and backup.info, so the lifecycle rule never removes those.
#
# pgBackRest runs inside the db container (its configuration is rendered there from the
# release's SLIPWAY_BACKUP_* settings); with archiving off (no bucket) this does nothing.
# SLIPWAY_DB_RUNTIME=local runs pgBackRest directly instead (scripts/drill-data.sh).
set -euo pipefail

host_env="${SLIPWAY_HOST_ENV:-/etc/slipway/host.env}"
if [ -r "$host_env" ]; then
	# shellcheck source=/dev/null
	. "$host_env"
fi
runtime="${SLIPWAY_DB_RUNTIME:-docker}"
release="${SLIPWAY_RELEASES:-/var/lib/slipway/releases}/current"
full_hours="${SLIPWAY_BACKUP_FULL_HOURS:-23}"
lock="${SLIPWAY_BACKUP_LOCK:-/run/slipway-backup.lock}"

log() { echo "slipway-backup: $*" >&2; }
die() {
	log "$*"
	exit 1
}

# pgbr ARGS... runs pgBackRest as the postgres user where the database runs.
pgbr() {
	case "$runtime" in
	docker)
		(cd "$release" && docker compose exec -T --user postgres db pgbackrest --stanza="$stanza" "$@")
		;;
	local)
		runuser -u postgres -- pgbackrest --config="${SLIPWAY_PGBACKREST_CONF:?}" --stanza="$stanza" "$@"
		;;
	*) die "SLIPWAY_DB_RUNTIME='$runtime': docker or local" ;;
	esac
}

# db_env NAME prints a variable of the database's environment (empty if unset).
db_env() {
	case "$runtime" in
	docker) (cd "$release" && docker compose exec -T db printenv "$1") 2>/dev/null || true ;;
	local) printenv "$1" || true ;;
	esac
}

# newest_full_age prints the age in seconds of the newest full backup, or nothing.
newest_full_age() {
	pgbr --output=json info | python3 -c '
import json, sys, time
stanzas = json.load(sys.stdin)
stops = [b["timestamp"]["stop"] for s in stanzas for b in s.get("backup", []) if b.get("type") == "full"]
if stops:
    print(int(time.time()) - max(stops))
'
}

if [ -z "$(db_env SLIPWAY_BACKUP_BUCKET)" ]; then
	log "continuous archiving is off for this stack (no SLIPWAY_BACKUP_BUCKET): nothing to do"
	exit 0
fi
stanza="$(db_env SLIPWAY_BACKUP_STANZA)"
stanza="${stanza:-slipway}"

exec 9>"$lock"
flock --wait 60 9 || die "another backup is still running"

case "${1:-}" in
'' | full)
	# Idempotent: "already exists and is valid" on every run but the first. It takes the
	# archive lock, which the archiver holds while it pushes (or retries, before the stanza
	# exists): try again for a while.
	tries=0
	until pgbr --log-level-console=warn stanza-create; do
		tries=$((tries + 1))
		[ "$tries" -lt 20 ] || die "stanza-create failed $tries times"
		sleep 3
	done
	if [ -z "${1:-}" ]; then
		age="$(newest_full_age)"
		if [ -n "$age" ] && [ "$age" -lt $((full_hours * 3600)) ]; then
			log "newest full backup is $((age / 60)) min old: next one after ${full_hours} h"
			exit 0
		fi
	fi
	log "full backup starting"
	pgbr --type=full --log-level-console=info backup
	log "full backup done"
	;;
info) pgbr info ;;
*)
	sed -n '4,7p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac
