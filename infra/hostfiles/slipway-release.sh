#!/bin/bash
# Rolls the host's compose stack out to a release, health-gated.
#
#   slipway-release <release-id>  roll out that release (what SSM runs on `pulumi up`)
#   slipway-release boot          bring up the stack's current release (systemd, at boot)
#   slipway-release rollback      go back to the release before the current one
#   slipway-release status        print the current and previous release ids
#
# A release is fetched from SSM (bundle and secrets) into its own directory
# under $SLIPWAY_RELEASES; `current` and `previous` are symlinks to release
# directories, swapped only once a release is healthy. Every release uses the
# same compose project (name: slipway), so `docker compose up` recreates only
# the services whose configuration changed (compose compares a hash of each
# service's config, image digest included): a new API image recreates api and
# worker while db and proxy keep running. An unhealthy release is rolled back
# to the current one and the script exits non-zero, which fails the SSM
# association and with it `pulumi up`.
set -euo pipefail
umask 077

host_env="${SLIPWAY_HOST_ENV:-/etc/slipway/host.env}"
if [ -r "$host_env" ]; then
	# Exported: the fetcher (boto3) reads AWS_REGION from the environment;
	# under SSM there is no systemd EnvironmentFile to do it.
	set -a
	# shellcheck source=/dev/null
	. "$host_env"
	set +a
fi
: "${SLIPWAY_PARAMETER_PATH:?missing in /etc/slipway/host.env}"
root="${SLIPWAY_RELEASES:-/var/lib/slipway/releases}"
fetch="${SLIPWAY_FETCH:-/usr/local/lib/slipway/slipway-fetch}"
imds="${SLIPWAY_IMDS:-/usr/local/sbin/slipway-imds}"
# The time budget (seconds), from infra/release.go: the SSM document passes
# the same numbers and its own timeout covers host wait + lock + pull + 2 x up.
lock_wait="${SLIPWAY_LOCK_WAIT:-780}"
pull_timeout="${SLIPWAY_PULL_TIMEOUT:-240}"
wait_timeout="${SLIPWAY_WAIT_TIMEOUT:-240}"
keep="${SLIPWAY_KEEP_RELEASES:-5}"

log() { echo "slipway-release: $*" >&2; }
die() {
	log "$*"
	exit 1
}

# compose DIR ARGS... runs docker compose in a release directory (its
# compose.yaml, .env and env files).
compose() {
	local dir="$1"
	shift
	(cd "$dir" && docker compose "$@")
}

# link_target NAME prints the release id a symlink points to, or nothing.
link_target() {
	local target
	target="$(readlink "$root/$1" 2>/dev/null || true)"
	if [ -n "$target" ] && [ -d "$root/$target" ]; then
		echo "$target"
	fi
}

# set_link NAME ID points a symlink at a release atomically.
set_link() {
	ln -sfn "$2" "$root/.$1.tmp"
	mv -T "$root/.$1.tmp" "$root/$1"
}

# changed_services OLD NEW lists the services whose compose config hash
# differs between two release directories (new, changed or removed): what
# `up` will recreate. Logged, so every rollout says what it touched.
changed_services() {
	local old new
	old="$(compose "$1" config --hash '*' | sort)"
	new="$(compose "$2" config --hash '*' | sort)"
	{
		comm -13 <(echo "$old") <(echo "$new")
		comm -23 <(echo "$old") <(echo "$new")
	} | awk 'NF { print $1 }' | sort -u | tr '\n' ' ' | sed 's/ $//'
}

# sync_db_password DIR makes the running database accept the password the
# release in DIR gives its API. Postgres applies POSTGRES_PASSWORD only when it
# initialises its data directory, so after a rotation of slipway:dbPassword
# the new API would be locked out and every release rolled back; and a
# rollback needs the old password back. As the superuser (postgres, which may
# log in only over the container's local socket, app/db/initdb.d) for the
# application's own role (DATABASE_USER, never a superuser); the value travels on stdin,
# never on a command line, and psql's output (which may quote the statement)
# is discarded, as is the server's log of a failed statement. Idempotent.
# Without a running database there is nothing to do: a first start initialises
# it with the release's password.
sync_db_password() {
	local dir="$1" user password
	if [ -z "$(compose "$dir" ps --quiet --status running db 2>/dev/null)" ]; then
		return 0
	fi
	user="$(sed -n 's/^DATABASE_USER=//p' "$dir/app.env")"
	password="$(sed -n "s/^POSTGRES_PASSWORD='\(.*\)'\$/\1/p" "$dir/secrets/db.env")"
	if [ -z "$user" ] || [ -z "$password" ]; then
		log "release $(basename "$dir"): no DATABASE_USER in app.env or POSTGRES_PASSWORD in secrets/db.env"
		return 1
	fi
	if ! printf 'SET log_min_error_statement = panic;\nSET log_statement = none;\nALTER ROLE "%s" WITH PASSWORD '"'%s'"';\n' \
		"${user//\"/\"\"}" "${password//\'/\'\'}" |
		compose "$dir" exec -T db psql --quiet --no-psqlrc -v ON_ERROR_STOP=1 --username postgres --dbname postgres >/dev/null 2>&1; then
		log "release $(basename "$dir"): setting the database password failed"
		return 1
	fi
	log "release $(basename "$dir"): database password applied"
}

# imds_addresses DIR prints the fixed addresses of the services that release
# labels slipway.imds=allow (the api and the worker): the containers that may
# reach the instance metadata service. A labelled service without a fixed
# address is an error, not a silent loss of AWS access.
imds_addresses() {
	compose "$1" config --format json | python3 -c '
import json, sys
services = json.load(sys.stdin).get("services", {})
for name, svc in sorted(services.items()):
    if (svc.get("labels") or {}).get("slipway.imds") != "allow":
        continue
    addrs = [n.get("ipv4_address") for n in (svc.get("networks") or {}).values() if n and n.get("ipv4_address")]
    if not addrs:
        sys.exit("service %s is labelled slipway.imds=allow but has no fixed ipv4_address" % name)
    print("\n".join(addrs))
'
}

# imds_allow DIR... lets exactly the labelled services of these releases
# reach IMDS (slipway-imds.sh): both while one release replaces another,
# then only the one that runs.
imds_allow() {
	local dir out addrs=()
	for dir in "$@"; do
		out="$(imds_addresses "$dir")" || return 1
		if [ -n "$out" ]; then
			mapfile -t -O "${#addrs[@]}" addrs <<<"$out"
		fi
	done
	"$imds" allow "${addrs[@]}"
}

# up DIR [OTHER_DIR] starts a release; OTHER_DIR's services keep their IMDS
# access while it does (the release being replaced).
up() {
	imds_allow "$@" || {
		log "release $(basename "$1"): cannot set which containers reach the instance metadata service"
		return 1
	}
	sync_db_password "$1" || return 1
	compose "$1" up --detach --remove-orphans --wait --wait-timeout "$wait_timeout"
}

# prune keeps the newest $keep release directories, never current or previous.
prune() {
	local current previous dir
	current="$(link_target current)"
	previous="$(link_target previous)"
	# shellcheck disable=SC2012 # release ids are hex: ls is safe here
	ls -1t "$root" | tail -n "+$((keep + 1))" | while read -r dir; do
		if [ "$dir" != "$current" ] && [ "$dir" != "$previous" ] && [ ! -L "$root/$dir" ] && [ -d "$root/$dir" ]; then
			rm -rf "${root:?}/$dir"
		fi
	done
}

# stage [EXPECTED_ID] fetches the stored release into a new directory and
# prints its id. The directory is named by the id once complete.
stage() {
	local incoming id
	incoming="$(mktemp -d "$root/.incoming.XXXXXX")"
	if ! id="$("$fetch" --path "$SLIPWAY_PARAMETER_PATH" --out "$incoming" ${1:+--expect-id "$1"})"; then
		rm -rf "$incoming"
		return 1
	fi
	case "$id" in
	'' | *[!0-9a-f]*)
		rm -rf "$incoming"
		log "fetched an invalid release id '$id'"
		return 1
		;;
	esac
	# Root-only, whatever the fetcher did: secrets/<service>.env.
	chmod -R go= "$incoming/secrets"
	rm -rf "${root:?}/$id"
	mv -T "$incoming" "$root/$id"
	echo "$id"
}

# rollout ID switches the stack to a staged release, or rolls back.
rollout() {
	local id="$1" current changed
	current="$(link_target current)"
	if [ -n "$current" ] && [ "$current" != "$id" ]; then
		changed="$(changed_services "$root/$current" "$root/$id")"
		log "release $id (from $current): services to recreate: ${changed:-none}"
	elif [ -n "$current" ]; then
		log "release $id is already current: making sure it runs"
	else
		log "release $id: first release on this host"
	fi

	if ! (cd "$root/$id" && timeout "$pull_timeout" docker compose pull --quiet); then
		# Nothing has changed on the host yet.
		die "release $id: pulling its images failed; still running ${current:-nothing}"
	fi
	if up "$root/$id" ${current:+"$root/$current"}; then
		if [ -n "$current" ] && [ "$current" != "$id" ]; then
			set_link previous "$current"
		fi
		set_link current "$id"
		imds_allow "$root/$id" || log "release $id: could not withdraw IMDS access from the previous release"
		rm -f "$root/$id/.failed"
		prune
		log "release $id is healthy and current"
		return 0
	fi

	log "release $id is unhealthy:"
	compose "$root/$id" ps --all >&2 || true
	touch "$root/$id/.failed"
	if [ -n "$current" ] && [ "$current" != "$id" ]; then
		log "rolling back to $current"
		if up "$root/$current"; then
			log "rolled back to $current; release $id failed"
		else
			log "rollback to $current is unhealthy too: the host needs attention"
		fi
	else
		log "nothing to roll back to (no earlier healthy release on this host)"
	fi
	return 1
}

mkdir -p "$root"
chmod 0700 "$root"
# One rollout at a time: the boot unit and an SSM run may overlap.
exec 9>"$root/.lock"
flock --wait "$lock_wait" 9 || die "another release is still running after ${lock_wait}s"

case "${1:-}" in
boot)
	# At boot, prefer the stored release; without SSM (or with a broken
	# bundle) keep running what the host ran before.
	if id="$(stage)"; then
		rollout "$id"
	elif current="$(link_target current)" && [ -n "$current" ]; then
		log "cannot fetch the stored release: starting the current one ($current)"
		up "$root/$current"
	else
		die "cannot fetch the stored release and no release was ever run here"
	fi
	;;
rollback)
	previous="$(link_target previous)"
	current="$(link_target current)"
	[ -n "$previous" ] || die "no previous release to roll back to"
	log "rolling back from ${current:-nothing} to $previous"
	up "$root/$previous" || die "release $previous is unhealthy"
	set_link current "$previous"
	if [ -n "$current" ]; then set_link previous "$current"; fi
	log "release $previous is current (pulumi up rolls forward again)"
	;;
status)
	echo "current=$(link_target current)"
	echo "previous=$(link_target previous)"
	;;
'' | -h | --help)
	sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
	;;
*)
	case "$1" in
	*[!0-9a-f]*) die "not a release id: $1" ;;
	esac
	id="$(stage "$1")" || die "release $1: fetching it failed"
	rollout "$id"
	;;
esac
