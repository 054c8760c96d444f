#!/bin/bash
# Renders pgbackrest.conf.template for this container's environment.
#
#   slipway-pgbackrest-render TEMPLATE OUTPUT
#
# Every ${NAME} outside comments in TEMPLATE is replaced by the variable's value (after the
# defaults below); a "key=value" line whose value renders empty is left out,
# so pgBackRest's own default applies. Fails, naming the variable, when a
# required setting is missing or malformed. Used by the image's entrypoint and,
# unchanged, by scripts/drill-data.sh (which points it at a local endpoint).
set -euo pipefail

template="${1:?usage: slipway-pgbackrest-render TEMPLATE OUTPUT}"
output="${2:?usage: slipway-pgbackrest-render TEMPLATE OUTPUT}"

fail() {
	echo "slipway-pgbackrest-render: $*" >&2
	exit 2
}

# Required, from the release (db.env, infra Backups.DBEnvironment): where this stack's repository lives.
: "${SLIPWAY_BACKUP_BUCKET:?is not set: the backup bucket of this stack (archiving is off without it)}"
SLIPWAY_BACKUP_REGION="${SLIPWAY_BACKUP_REGION:-${AWS_REGION:-}}"
[ -n "$SLIPWAY_BACKUP_REGION" ] || fail "SLIPWAY_BACKUP_REGION (or AWS_REGION) is not set"
: "${SLIPWAY_BACKUP_PATH:?is not set: the path of this stack in the bucket, e.g. /prod}"
case "$SLIPWAY_BACKUP_PATH" in
/*) ;;
*) fail "SLIPWAY_BACKUP_PATH='$SLIPWAY_BACKUP_PATH': must start with /" ;;
esac

# Defaults: AWS S3 through the instance role.
export SLIPWAY_BACKUP_REGION SLIPWAY_BACKUP_PATH
export SLIPWAY_BACKUP_STANZA="${SLIPWAY_BACKUP_STANZA:-slipway}"
export SLIPWAY_BACKUP_ENDPOINT="${SLIPWAY_BACKUP_ENDPOINT:-s3.${SLIPWAY_BACKUP_REGION}.amazonaws.com}"
export SLIPWAY_BACKUP_URI_STYLE="${SLIPWAY_BACKUP_URI_STYLE:-host}"
export SLIPWAY_BACKUP_KEY_TYPE="${SLIPWAY_BACKUP_KEY_TYPE:-auto}"
export SLIPWAY_BACKUP_KMS_KEY_ID="${SLIPWAY_BACKUP_KMS_KEY_ID:-}" # empty: the bucket's default encryption
export SLIPWAY_BACKUP_PORT="${SLIPWAY_BACKUP_PORT:-443}"
export SLIPWAY_BACKUP_CA_FILE="${SLIPWAY_BACKUP_CA_FILE:-/etc/ssl/certs/ca-certificates.crt}"
export SLIPWAY_BACKUP_PROCESS_MAX="${SLIPWAY_BACKUP_PROCESS_MAX:-2}"
export SLIPWAY_ARCHIVE_QUEUE_MAX="${SLIPWAY_ARCHIVE_QUEUE_MAX:-4GiB}"
export SLIPWAY_BACKUP_LOG_LEVEL_FILE="${SLIPWAY_BACKUP_LOG_LEVEL_FILE:-detail}"
export SLIPWAY_BACKUP_LOCK_PATH="${SLIPWAY_BACKUP_LOCK_PATH:-/tmp/pgbackrest}"
export SLIPWAY_DB_ROOT="${SLIPWAY_DB_ROOT:-/var/lib/postgresql}"
export SLIPWAY_DB_SOCKET_DIR="${SLIPWAY_DB_SOCKET_DIR:-/var/run/postgresql}"
export PGPORT="${PGPORT:-5432}"
export POSTGRES_USER="${POSTGRES_USER:-postgres}"
: "${PGDATA:?is not set (the postgres image sets it)}"

case "$SLIPWAY_BACKUP_STANZA" in
*[!A-Za-z0-9_-]* | '') fail "SLIPWAY_BACKUP_STANZA='$SLIPWAY_BACKUP_STANZA': letters, digits, _ and - only" ;;
esac
case "$SLIPWAY_BACKUP_URI_STYLE" in
host | path) ;;
*) fail "SLIPWAY_BACKUP_URI_STYLE='$SLIPWAY_BACKUP_URI_STYLE': host or path" ;;
esac
case "$SLIPWAY_BACKUP_KEY_TYPE" in
auto | shared | web-id) ;;
*) fail "SLIPWAY_BACKUP_KEY_TYPE='$SLIPWAY_BACKUP_KEY_TYPE': auto (instance role), shared or web-id" ;;
esac

tmp="$(mktemp "${output}.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
while IFS= read -r line || [ -n "$line" ]; do
	# Comments are copied as they are (they may mention ${NAME} themselves).
	if [[ $line =~ ^[[:space:]]*# ]]; then
		printf '%s\n' "$line"
		continue
	fi
	rendered="$line"
	while [[ $rendered =~ \$\{([A-Za-z_][A-Za-z0-9_]*)\} ]]; do
		name="${BASH_REMATCH[1]}"
		[ -n "${!name+set}" ] || fail "template $template uses \${$name}, which is not set"
		value="${!name}"
		case "$value" in
		*$'\n'*) fail "$name contains a newline" ;;
		esac
		rendered="${rendered//\$\{$name\}/$value}"
	done
	# A setting whose value is empty is left out.
	if [[ $rendered =~ ^[a-z0-9-]+=$ ]]; then
		continue
	fi
	printf '%s\n' "$rendered"
done <"$template" >"$tmp"
chmod 0644 "$tmp"
mv -f "$tmp" "$output"
trap - EXIT
