#!/bin/bash
# The db image's entrypoint: turns on continuous archiving through pgBackRest
# when the release names a backup bucket, then hands over to the official
# image's docker-entrypoint.sh (initdb on first start, then postgres).
#
# With SLIPWAY_BACKUP_BUCKET set (prod; optional in dev; never in review
# stacks) it renders /etc/pgbackrest/pgbackrest.conf from the template and
# the environment, creates the spool and log directories on the data volume,
# and adds to the postgres command line (command-line settings win over
# postgresql.conf, so they hold for data directories initialised long ago and
# for restored ones alike):
#   archive_mode=on
#   archive_command='pgbackrest --config=... --stanza=<stanza> archive-push %p'
#   archive_timeout=$SLIPWAY_ARCHIVE_TIMEOUT (seconds, default 60: the loss window)
# SLIPWAY_ARCHIVE_MODE=off keeps the configuration (restore_command works) but
# archives nothing: the restore script's verification server uses it.
# Without a bucket the database runs exactly as the official image does.
set -euo pipefail

conf="${SLIPWAY_PGBACKREST_CONF:-/etc/pgbackrest/pgbackrest.conf}"
template="${SLIPWAY_PGBACKREST_TEMPLATE:-/etc/pgbackrest/pgbackrest.conf.template}"
root="${SLIPWAY_DB_ROOT:-/var/lib/postgresql}"
# The official entrypoint; the drill (no Docker) runs postgres directly.
next="${SLIPWAY_DB_EXEC:-docker-entrypoint.sh}"

fail() {
	echo "slipway-db-entrypoint: $*" >&2
	exit 78
}

if [ -n "${SLIPWAY_BACKUP_BUCKET:-}" ]; then
	slipway-pgbackrest-render "$template" "$conf" || fail "cannot render $conf"
	owner=()
	if [ "$(id -u)" -eq 0 ]; then owner=(-o postgres -g postgres); fi
	install -d -m 0700 "${owner[@]}" "$root/pgbackrest" "$root/pgbackrest/spool" "$root/pgbackrest/log"

	timeout="${SLIPWAY_ARCHIVE_TIMEOUT:-60}"
	case "$timeout" in
	'' | *[!0-9]*) fail "SLIPWAY_ARCHIVE_TIMEOUT='$timeout': whole seconds, 1 to 3600" ;;
	esac
	if [ "$timeout" -lt 1 ] || [ "$timeout" -gt 3600 ]; then
		fail "SLIPWAY_ARCHIVE_TIMEOUT='$timeout': whole seconds, 1 to 3600"
	fi
	mode="${SLIPWAY_ARCHIVE_MODE:-on}"
	case "$mode" in
	on | off) ;;
	*) fail "SLIPWAY_ARCHIVE_MODE='$mode': on or off" ;;
	esac
	stanza="${SLIPWAY_BACKUP_STANZA:-slipway}"
	if [ "$(basename -- "${1:-}")" = postgres ]; then
		if [ "$mode" = on ]; then
			set -- "$@" -c archive_mode=on \
				-c "archive_command=pgbackrest --config=$conf --stanza=$stanza archive-push %p" \
				-c "archive_timeout=$timeout"
		else
			set -- "$@" -c archive_mode=off
		fi
	fi
fi

if [ "$next" = direct ]; then
	exec "$@"
fi
exec "$next" "$@"
