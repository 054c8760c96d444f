#!/bin/bash
# Rolls the host's compose stack out to a release, health-gated. It travels
# with the release (bin/slipway-release of the bundle): the host's stable
# loader (/usr/local/sbin/slipway-release, slipway-load.py) downloads the
# bundle and runs this script from it, so a change here is a new release, not
# a new host.
#
#   slipway-release <release-id>  roll out that release (what SSM runs on `pulumi up`)
#   slipway-release boot          bring up the stack's current release (systemd, at boot)
#   slipway-release rollback      go back to the release before the current one
#   slipway-release status        current and previous release, each service's health, image digests (JSON)
#   slipway-release maintenance on|off
#                                 nginx answers 503 + Retry-After while on (health endpoints excepted)
#
# A release (the bundle the loader staged, plus its secrets from SSM) gets its
# own directory under $SLIPWAY_RELEASES; `current` and `previous` are symlinks to release
# directories, swapped only once a release is healthy. Every release uses the
# same compose project (name: slipway) and is brought up from the same project
# directory ($SLIPWAY_PROJECT_DIR, its files copied there first: compose's
# config hash holds the env files' absolute paths, so a directory per release
# would recreate every service every time), so `docker compose up` recreates
# only the services whose configuration changed (compose compares a hash of
# each service's config, image digest and env files' contents included): a new API image recreates api and
# worker while db and proxy keep running. An unhealthy release is rolled back
# to the current one and the script exits non-zero, which fails the SSM
# association and with it `pulumi up`.
#
# Under the rollout document (SLIPWAY_ATTEMPT set) every rollout ends with a
# receipt: SSM parameter <path>receipts/<release-id>, JSON with status
# healthy or failed, the attempt, the failing service and its last log
# lines. `pulumi up` reads it back and fails with that reason
# (infra/release.go). A failure the receipt reports exits 10, which the
# document turns into success; a failure no receipt could report exits 1.
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
# The secrets fetcher of the same release, beside this script.
fetch="${SLIPWAY_FETCH:-$(dirname "$(readlink -f "$0")")/slipway-fetch}"
# The bundle the loader downloaded for this run (empty when run otherwise).
staged="${SLIPWAY_STAGED:-}"
imds="${SLIPWAY_IMDS:-/usr/local/sbin/slipway-imds}"
# The zero-downtime cutover (empty: the one in the bin/ of the release being
# brought up): it brings a release up (slots, migration, traffic) and owns
# which containers reach IMDS.
cutover="${SLIPWAY_CUTOVER:-}"
# The time budget (seconds), from infra/release.go: the SSM document passes
# the same numbers and its own timeout covers host wait + lock + pull + 2 x
# cutover (slipway-cutover.sh: its ups, migration, settle and stop graces).
lock_wait="${SLIPWAY_LOCK_WAIT:-5554}"
pull_timeout="${SLIPWAY_PULL_TIMEOUT:-240}"
wait_timeout="${SLIPWAY_WAIT_TIMEOUT:-240}"
keep="${SLIPWAY_KEEP_RELEASES:-5}"
# The rollout document's attempt (infra/foundation/documents.go); empty when
# the script runs at boot or by hand, which write no receipt.
attempt="${SLIPWAY_ATTEMPT:-}"
# foundation.ReportedFailure: the release failed and its receipt says why.
reported_failure=10
# The maintenance flag nginx reads (mounted read-only into the proxy as
# /etc/nginx/maintenance/on; app/compose.yaml).
maintenance_dir="${SLIPWAY_MAINTENANCE_DIR:-/srv/slipway/maintenance}"
log_lines=20
# The compose project's one directory (see above).
project="${SLIPWAY_PROJECT_DIR:-/var/lib/slipway/project}"
# The cutover's state (its active slot; the slot flag nginx reads), reset when
# a release from before the cutover is brought up (bring_up).
cutover_state="${SLIPWAY_CUTOVER_STATE:-/var/lib/slipway/cutover}"
proxy_state="${SLIPWAY_PROXY_STATE:-/srv/slipway/proxy}"

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

# place DIR TARGET makes directory TARGET hold release DIR's files (replaced
# whole, never merged).
place() {
	rm -rf "$2.new"
	cp -a "$1/." "$2.new"
	rm -rf "$2"
	mv -T "$2.new" "$2"
}

# hashes_of DIR prints compose's config hash of each service of a release as
# it would be in the project directory: placed at one common path, so two
# releases' hashes compare (the path is part of the hash).
hashes_of() {
	place "$1" "$root/.hash"
	compose "$root/.hash" config --hash '*' | sort
	rm -rf "$root/.hash"
}

# changed_services OLD NEW lists the services whose compose config hash
# differs between two release directories (new, changed or removed): what
# `up` will recreate. Logged, so every rollout says what it touched.
changed_services() {
	local old new
	old="$(hashes_of "$1")"
	new="$(hashes_of "$2")"
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
	user="$(sed -n 's/^DATABASE_USER=//p' "$dir/db.env")"
	password="$(sed -n "s/^POSTGRES_PASSWORD='\(.*\)'\$/\1/p" "$dir/secrets/db.env")"
	if [ -z "$user" ] || [ -z "$password" ]; then
		log "release $(basename "$dir"): no DATABASE_USER in db.env or POSTGRES_PASSWORD in secrets/db.env"
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
# labels slipway.imds=allow: the containers that may reach the instance
# metadata service. A labelled service without a fixed address is an error,
# not a silent loss of AWS access. (Only for a release without a cutover,
# which sets the IMDS set itself.)
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

# imds_allow DIR... lets exactly the labelled services of these releases reach
# IMDS (slipway-imds.sh).
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

# bring_up_without_cutover DIR [PREV_DIR] brings up a release made before the
# cutover existed (its bin/ has no slipway-cutover; `slipway rollback` can
# reach one) the way such releases were brought up: `docker compose up
# --wait` from the project directory, which recreates its single api in place
# (requests fail until it is healthy) and removes the slots as orphans. The
# IMDS set is its own, and the cutover's state is reset, so the next cutover
# starts from a single-api host (api-green first, slipway-cutover.sh).
bring_up_without_cutover() {
	local name
	name="$(basename "$1")"
	log "release $name has no bin/slipway-cutover (made before the cutover): bringing it up with docker compose up --wait, which recreates its api in place"
	imds_allow "$project" ${2:+"$2"} || {
		log "release $name: cannot set which containers reach the instance metadata service"
		return 1
	}
	compose "$project" up --detach --remove-orphans --wait --wait-timeout "$wait_timeout" || {
		log "release $name: docker compose up --wait failed"
		return 1
	}
	rm -f "$cutover_state/active-slot" "$proxy_state/slot/green"
	imds_allow "$project" || log "release $name: could not withdraw IMDS access from the release it replaced"
}

# bring_up DIR [PREV_DIR] is the one step that starts a release's containers
# and waits for them to be healthy: the zero-downtime cutover
# (slipway-cutover.sh), run on the project directory (compose's hash holds
# the env files' paths) with PREV_DIR, the release that serves now, for what
# it ran (its IMDS set, a single-api layout). The cutover sets which
# containers reach IMDS, before, during and after. Its output goes to stderr
# and to DIR/.cutover.log; on failure $cutover_code is its exit code and
# $cutover_reason its last line (why it failed: a failed migration's own
# error included), which the receipt carries.
cutover_reason=""
cutover_code=0
bring_up() {
	cutover_reason=""
	cutover_code=0
	place "$1" "$project"
	local run="${cutover:-$project/bin/slipway-cutover}" out="$1/.cutover.log"
	if [ ! -e "$run" ] && [ -z "$cutover" ]; then
		bring_up_without_cutover "$@"
		return
	fi
	if [ ! -x "$run" ]; then
		log "release $(basename "$1"): no cutover ($run)"
		return 1
	fi
	SLIPWAY_WAIT_TIMEOUT="$wait_timeout" SLIPWAY_IMDS="$imds" SLIPWAY_CUTOVER_STATE="$cutover_state" SLIPWAY_PROXY_STATE="$proxy_state" \
		"$run" "$project" "${2:-none}" 2>&1 | tee "$out" >&2 || cutover_code=$?
	if [ "$cutover_code" -ne 0 ]; then
		# At most 700 characters: the receipt's reason holds 1000, and the outcome follows.
		cutover_reason="$(tail -n 1 "$out" | sed 's/^slipway-cutover: //' | cut -c 1-700)"
		return 1
	fi
}

# up DIR [PREV_DIR] starts a release in place of PREV_DIR. On failure,
# $up_failure says which part failed.
up_failure=""
up() {
	up_failure=""
	sync_db_password "$1" || {
		up_failure="setting the database password failed"
		return 1
	}
	mkdir -p "$maintenance_dir"
	chmod 0755 "$maintenance_dir"
	bring_up "$@" || {
		up_failure="unhealthy"
		return 1
	}
}

# failed_services DIR lists the release's services that are not running and
# healthy (a service without a health check counts when it runs).
failed_services() {
	compose "$1" ps --all --format json 2>/dev/null | python3 -c '
import json, sys
text = sys.stdin.read().strip()
rows = json.loads(text) if text.startswith("[") else [json.loads(l) for l in text.splitlines() if l.strip()]
bad = sorted({r.get("Service", "") for r in rows
              if r.get("State") != "running" or r.get("Health") not in (None, "", "healthy")} - {""})
print(" ".join(bad))
' || true
}

# receipt STATUS ID [SERVICE [REASON]] writes the rollout's receipt (log
# lines on stdin) when the rollout document asked for one.
receipt() {
	[ -n "$attempt" ] || {
		cat >/dev/null
		return 0
	}
	"$fetch" --path "$SLIPWAY_PARAMETER_PATH" --receipt "$2" --status "$1" --attempt "$attempt" \
		${3:+--service "$3"} ${4:+--reason "$4"}
}

# fail ID SERVICE REASON [LOGFILE] ends a failed rollout: the receipt says
# why (exit 10), or, when it cannot be written, exit 1.
fail() {
	local id="$1" service="$2" reason="$3" logs="${4:-/dev/null}"
	log "release $id failed: $reason"
	if [ -n "$attempt" ] && receipt failed "$id" "$service" "$reason" <"$logs"; then
		exit "$reported_failure"
	fi
	[ -z "$attempt" ] || log "release $id: could not write its receipt"
	exit 1
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

# stage_error MESSAGE says why staging failed (and keeps it for the receipt).
stage_error() {
	echo "$*" >"$root/.fetch.log"
	log "$*"
}

# stage [EXPECTED_ID] completes the bundle the loader staged with the
# release's secrets and prints its id. The directory is named by the id once
# complete.
stage() {
	local incoming id
	if [ -z "$staged" ] || [ ! -f "$staged/id" ]; then
		stage_error "no staged bundle: releases run through the loader (/usr/local/sbin/slipway-release)"
		return 1
	fi
	incoming="$staged"
	id="$(tr -d '[:space:]' <"$incoming/id")"
	case "$id" in
	'' | *[!0-9a-f]*)
		rm -rf "$incoming"
		stage_error "staged an invalid release id '$id'"
		return 1
		;;
	esac
	if [ -n "${1:-}" ] && [ "$1" != "$id" ]; then
		rm -rf "$incoming"
		stage_error "the staged release is $id, not $1"
		return 1
	fi
	if ! "$fetch" --path "$SLIPWAY_PARAMETER_PATH" --out "$incoming" 2>"$root/.fetch.log"; then
		cat "$root/.fetch.log" >&2
		rm -rf "$incoming"
		return 1
	fi
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

	if ! (cd "$root/$id" && timeout "$pull_timeout" docker compose pull --quiet) 2>"$root/$id/.pull.log"; then
		cat "$root/$id/.pull.log" >&2
		# Nothing has changed on the host yet.
		fail "$id" "" "pulling its images failed; still running ${current:-nothing}" "$root/$id/.pull.log"
	fi
	if up "$root/$id" ${current:+"$root/$current"}; then
		if [ -n "$current" ] && [ "$current" != "$id" ]; then
			set_link previous "$current"
		fi
		set_link current "$id"
		rm -f "$root/$id/.failed"
		prune
		log "release $id is healthy and current"
		if ! receipt healthy "$id" </dev/null; then
			log "release $id is healthy, but its receipt could not be written"
			exit 1
		fi
		return 0
	fi

	local failure="$up_failure" services="" service="" outcome logs="$root/$id/.failure.log"
	log "release $id is unhealthy:"
	compose "$root/$id" ps --all >&2 || true
	: >"$logs"
	if [ "$failure" = unhealthy ] && [ "$cutover_code" -eq 3 ]; then
		# The migration failed (the cutover touched no application service):
		# its own error is the reason, its output the log lines.
		failure="$cutover_reason"
		tail -n "$log_lines" "$root/$id/.cutover.log" >"$logs"
	elif [ "$failure" = unhealthy ]; then
		services="$(failed_services "$root/$id")"
		service="${services%% *}"
		failure="unhealthy: ${services:-no service reported unhealthy (timed out)}${cutover_reason:+; $cutover_reason}"
		# The failing service's last lines, taken before the rollback replaces it.
		if [ -n "$service" ]; then
			compose "$root/$id" logs --no-color --tail "$log_lines" "$service" >"$logs" 2>&1 || true
		fi
	fi
	touch "$root/$id/.failed"
	if [ -n "$current" ] && [ "$current" != "$id" ]; then
		log "rolling back to $current"
		# One more cutover: the previous release into the idle slot.
		if up "$root/$current" "$root/$id"; then
			outcome="rolled back to $current"
		else
			outcome="rollback to $current is unhealthy too: the host needs attention"
		fi
	else
		outcome="nothing to roll back to (no earlier healthy release on this host)"
	fi
	log "$outcome"
	fail "$id" "$service" "$failure; $outcome" "$logs"
}

# status prints the current and previous release, each service's state and
# health and the images the release runs (by digest), as JSON.
status() {
	local current previous
	current="$(link_target current)"
	previous="$(link_target previous)"
	{
		echo "current=$current"
		echo "previous=$previous"
		if [ -n "$current" ]; then
			echo "--config"
			compose "$root/$current" config --format json 2>/dev/null || echo '{}'
			echo "--ps"
			compose "$root/$current" ps --all --format json 2>/dev/null || true
		fi
		if [ -n "$previous" ]; then
			echo "--previous-config"
			compose "$root/$previous" config --format json 2>/dev/null || echo '{}'
		fi
	} | python3 -c '
import json, sys
lines = sys.stdin.read().split("\n")
current, previous = lines[0].split("=", 1)[1], lines[1].split("=", 1)[1]
parts, key = {}, None
for l in lines[2:]:
    if l in ("--config", "--ps", "--previous-config"):
        key = l[2:]
        parts[key] = []
    elif key:
        parts[key].append(l)
def images(name):
    text = "\n".join(parts.get(name, [])).strip() or "{}"
    return {s: (v or {}).get("image", "") for s, v in sorted(json.loads(text).get("services", {}).items())}
ps = "\n".join(parts.get("ps", [])).strip()
rows = json.loads(ps) if ps.startswith("[") else [json.loads(l) for l in ps.splitlines() if l.strip()]
services = {}
for name, image in images("config").items():
    row = next((r for r in rows if r.get("Service") == name), {})
    services[name] = {"image": image, "state": row.get("State", "missing"), "health": row.get("Health") or ""}
out = {
    "current": {"id": current, "services": services} if current else None,
    "previous": {"id": previous, "images": images("previous-config")} if previous else None,
}
json.dump(out, sys.stdout, indent=2, sort_keys=True)
print()
'
	if [ -e "$maintenance_dir/on" ]; then log "maintenance mode is on"; fi
}

# maintenance on|off sets the flag nginx reads: while it exists nginx answers
# 503 with Retry-After (health endpoints excepted). No restart, no lock.
maintenance() {
	case "${1:-}" in
	on)
		mkdir -p "$maintenance_dir"
		chmod 0755 "$maintenance_dir"
		(umask 022 && : >"$maintenance_dir/.on.tmp" && mv -f "$maintenance_dir/.on.tmp" "$maintenance_dir/on")
		log "maintenance mode on: nginx answers 503"
		;;
	off)
		rm -f "$maintenance_dir/on"
		log "maintenance mode off"
		;;
	*) die "maintenance takes on or off, not '${1:-}'" ;;
	esac
}

# Operator commands that change no release take no lock: they never wait
# behind a rollout.
case "${1:-}" in
status)
	status
	exit 0
	;;
maintenance)
	maintenance "${2:-}"
	exit 0
	;;
esac

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
	up "$root/$previous" ${current:+"$root/$current"} || die "release $previous is unhealthy"
	set_link current "$previous"
	if [ -n "$current" ]; then set_link previous "$current"; fi
	log "release $previous is current (pulumi up rolls forward again)"
	;;
-h | --help | '')
	sed -n '8,13p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
	;;
*)
	case "$1" in
	*[!0-9a-f]*) die "not a release id: $1" ;;
	esac
	id="$(stage "$1")" || fail "$1" "" "fetching the release failed: $(tail -n 3 "$root/.fetch.log" 2>/dev/null | tr '\n' ' ')" "$root/.fetch.log"
	rollout "$id"
	;;
esac
