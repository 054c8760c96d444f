#!/bin/bash
# Brings a release's compose project up with no dropped request: the release script
# (slipway-release) calls it where it used to run `docker compose up --wait`.
#
#   slipway-cutover <release-dir> <previous-release-dir|none>
#
# Exit 0: the release in <release-dir> serves. Non-zero: it does not, the previous release
# still serves (the API slot, the worker and the slot nginx sends traffic to as they were), and the last line
# on stderr says why (a failed migration's own error included). Exit 3: the migration failed, so no
# application service was touched (the caller reports the migration's output, not a service's logs).
#
# The API runs in two slots, compose services api-blue and api-green, each on its own fixed
# address. One slot serves; a release:
#   0. a host + rds release only (its bundle carries bin/slipway-db-setup beside this script):
#      creates or updates the application's own role on RDS with this release's password, as
#      the RDS master user (slipway-db-setup.py); a failure changes nothing;
#   1. starts the services that are not the application (db, and the optional Datadog pair) with
#      `up --wait`: compose leaves an unchanged one alone; Postgres keeps running;
#   2. migrates: a one-off run of the new image, `compose run --rm api-<new> node src/migrate.js`,
#      as the application's role, under the advisory lock; a failure stops here;
#   3. starts the new image in the idle slot and waits for it to be healthy (/readyz);
#   4. recreates the worker if its configuration changed (compose stops the old one with its
#      stop_grace_period, above the job budget, so the job in hand finishes);
#   5. starts the proxy if it is not running (or recreates it if its image changed); installs a
#      changed nginx template and reloads nginx gracefully (slipway-proxy-reload: re-render,
#      nginx -t, nginx -s reload, wait for the old workers); then moves traffic: the slot flag
#      file that nginx checks on every request (present: api-green; absent: api-blue), so an
#      API release needs no reload at all; waits $SLIPWAY_SETTLE_SECONDS for requests already
#      routed to the old slot;
#   6. stops the old slot: SIGTERM, its in-flight requests finish (stop_grace_period);
#   7. narrows the set of containers that reach IMDS to the new slot and the worker (both slots
#      were allowed from step 3 on).
# A failure in 2-5 puts back what it changed and exits non-zero.
#
# Environment (defaults are the host's paths):
#   SLIPWAY_CUTOVER_STATE  /var/lib/slipway/cutover  file active-slot (blue|green)
#   SLIPWAY_PROXY_STATE    /srv/slipway/proxy        slot/green (the flag) and templates/, mounted
#                                                    read-only into the proxy
#   SLIPWAY_SETTLE_SECONDS 2    after moving traffic, before stopping the old slot
#   SLIPWAY_IMDS           /usr/local/sbin/slipway-imds
#   SLIPWAY_WAIT_TIMEOUT   240  seconds for each `up --wait`
#   SLIPWAY_MIGRATE_TIMEOUT 240 seconds for the migration run
#   SLIPWAY_DB_SETUP       bin/slipway-db-setup beside this script (absent: no step 0)
set -euo pipefail
umask 077

state="${SLIPWAY_CUTOVER_STATE:-/var/lib/slipway/cutover}"
proxy_state="${SLIPWAY_PROXY_STATE:-/srv/slipway/proxy}"
imds="${SLIPWAY_IMDS:-/usr/local/sbin/slipway-imds}"
wait_timeout="${SLIPWAY_WAIT_TIMEOUT:-240}"
migrate_timeout="${SLIPWAY_MIGRATE_TIMEOUT:-240}"
settle="${SLIPWAY_SETTLE_SECONDS:-2}"
template=proxy/templates/default.conf.template

log() { echo "slipway-cutover: $*" >&2; }
die() {
	log "$*"
	exit 1
}

[ $# -eq 2 ] || die "usage: slipway-cutover <release-dir> <previous-release-dir|none>"
dir="$1"
prev="$2"
[ -f "$dir/compose.yaml" ] || die "$dir has no compose.yaml"
if [ "$prev" = none ]; then prev=""; fi
if [ -n "$prev" ] && [ ! -f "$prev/compose.yaml" ]; then prev=""; fi
# The release's id (the bundle's id file; the release script runs this on its one project
# directory, whose name says nothing), else the directory's name.
release=""
if [ -f "$dir/id" ]; then release="$(tr -d '[:space:]' <"$dir/id")"; fi
if [ -z "$release" ]; then release="$(basename "$dir")"; fi

# 0. The application's role on RDS (a host + rds release), before anything touches a container:
# the migration below runs as that role. The reason is db-setup's last line.
db_setup="${SLIPWAY_DB_SETUP:-$(dirname "$(readlink -f "$0")")/slipway-db-setup}"
if [ -x "$db_setup" ]; then
	setup_out="$(mktemp)"
	if ! "$db_setup" "$dir" 2>"$setup_out"; then
		cat "$setup_out" >&2
		reason="$(sed -n 's/^slipway-db-setup: //p' "$setup_out" | tail -n 1)"
		rm -f "$setup_out"
		die "release $release: db-setup on RDS failed: ${reason:-see the output above}; nothing was changed, the previous release keeps serving"
	fi
	cat "$setup_out" >&2
	rm -f "$setup_out"
fi

compose() {
	local d="$1"
	shift
	(cd "$d" && docker compose "$@")
}

# model DIR QUERY prints facts about a release's resolved compose model (docker compose config
# --format json): services, the application's services' IMDS addresses, a slot's address:port.
model() {
	compose "$1" config --format json | python3 -c '
import json, sys
services = json.load(sys.stdin).get("services", {})
query = sys.argv[1]
slots = ("api-blue", "api-green")
def address(name):
    svc = services[name]
    addrs = [n.get("ipv4_address") for n in (svc.get("networks") or {}).values() if n and n.get("ipv4_address")]
    if not addrs:
        sys.exit("service %s has no fixed ipv4_address" % name)
    return addrs[0]
if query == "infra":  # what is not the application and not the proxy
    print(" ".join(n for n in sorted(services) if n not in slots + ("worker", "proxy")))
elif query == "legacy":  # the single api service of releases before the slots
    print("yes" if "api" in services and "api-blue" not in services else "no")
elif query == "has":
    print(" ".join(n for n in sorted(services) if n in ("worker", "proxy") + slots))
elif query == "imds":  # labelled services other than the slots (the worker; an old-style api)
    for n in sorted(services):
        if n not in slots and (services[n].get("labels") or {}).get("slipway.imds") == "allow":
            print(address(n))
elif query in slots:
    env = services[query].get("environment") or {}
    print("%s:%s" % (address(query), env.get("PORT") or "3000"))
else:
    sys.exit("unknown query " + query)
' "$2"
}

has() { [[ " $(model "$dir" has) " == *" $1 "* ]]; }

mkdir -p "$state" "$proxy_state/slot" "$proxy_state/templates"
chmod 0755 "$proxy_state" "$proxy_state/slot" "$proxy_state/templates"
slot_flag="$proxy_state/slot/green"
active="$(cat "$state/active-slot" 2>/dev/null || true)"
case "$active" in blue | green) ;; *) active="" ;; esac
new=blue
if [ "$active" = blue ]; then
	new=green
elif [ -z "$active" ] && [ -n "$prev" ] && [ "$(model "$prev" legacy)" = yes ]; then
	# The first release with slots on a host that runs the single api: it holds api-blue's
	# address (198.18.100.10), so start in api-green; nginx's api_blue upstream reaches the old
	# api on that address until the flag moves; the old api is removed as an orphan at the end.
	new=green
fi
if ! has api-blue || ! has api-green; then
	die "release $release: compose.yaml has no api-blue and api-green slots"
fi
new_addr="$(model "$dir" "api-$new")"
old_addr=""
if [ -n "$active" ]; then old_addr="$(model "$dir" "api-$active")"; fi

# IMDS: what may reach it before (the previous release), during and after the cutover.
# (Command substitutions, not process substitutions: a labelled service without a fixed address
# must stop the release here, not silently lose or keep AWS access.)
prev_imds=""
if [ -n "$prev" ]; then
	prev_imds="$(model "$prev" imds)" || die "release $release: the previous release's IMDS addresses are unreadable"
fi
new_imds="$(model "$dir" imds)" || die "release $release: a service labelled slipway.imds=allow has no fixed ipv4_address; nothing was changed"
mapfile -t before < <(
	if [ -n "$prev_imds" ]; then echo "$prev_imds"; fi
	if [ -n "$old_addr" ]; then echo "${old_addr%:*}"; fi
)
mapfile -t after < <(
	{
		if [ -n "$new_imds" ]; then echo "$new_imds"; fi
		echo "${new_addr%:*}"
	} | sort -u
)
imds_set() { "$imds" allow "$@" >&2; }

# previous_worker starts the previous release's worker again. From <release-dir>'s own path,
# never from <previous-release-dir>: compose's config hash holds the env files' absolute paths,
# and the release script brings every release up from one project directory (a worker started
# from elsewhere would be recreated by the next `up` there, the rollback's included). So the
# previous release's files stand at that path for this one `up` (the new release's set aside and
# put back after): the worker's configuration is then exactly the one the previous release gives
# it in the project directory, and the release script's rollback finds it unchanged. Without a
# worker in the previous release, the new one is stopped.
previous_worker() {
	if [ -z "$prev" ] || [[ " $(model "$prev" has) " != *" worker "* ]]; then
		compose "$dir" stop worker >&2 || log "stopping the new worker failed"
		return 0
	fi
	local aside="$dir.cutover-aside" rc=0
	rm -rf "$aside"
	mv -T "$dir" "$aside" || {
		log "cannot set $dir aside: the previous release's worker was not started again"
		return 0
	}
	if cp -a "$prev/." "$dir"; then
		compose "$dir" up --detach --no-deps --wait --wait-timeout "$wait_timeout" worker >&2 || rc=$?
	else
		rc=1
	fi
	rm -rf "$dir"
	mv -T "$aside" "$dir"
	if [ "$rc" -ne 0 ]; then log "the previous release's worker did not come back healthy"; fi
}

# undo [worker]: back to the previous release's app services (what steps 3-5 changed).
undo() {
	log "release $release: putting the previous release back"
	compose "$dir" stop "api-$new" >&2 || true
	if [ "${1:-}" = worker ] && has worker; then previous_worker; fi
	imds_set "${before[@]}" || true
}

# 1. The services that are not the application.
read -r -a infra <<<"$(model "$dir" infra)"
if [ "${#infra[@]}" -gt 0 ]; then
	compose "$dir" up --detach --wait --wait-timeout "$wait_timeout" "${infra[@]}" ||
		die "release $release: ${infra[*]} not healthy; the application was not touched"
fi

# 2. Migrations, once, before any traffic moves. Their output is the operator's record; the
# last "migration failed: ..." line is the reason the release fails with.
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
log "release $release: migrating (api-$new image, node src/migrate.js)"
if ! (cd "$dir" && timeout "$migrate_timeout" docker compose run --rm --no-deps -T "api-$new" node src/migrate.js) >"$out" 2>&1; then
	cat "$out" >&2
	reason="$(sed -n 's/^migration failed: //p' "$out" | tail -n 1)"
	log "release $release: migration failed: ${reason:-see the output above}; still serving the previous release"
	exit 3
fi
cat "$out" >&2

# 3. The new slot, health-gated. Both slots may reach IMDS from here until the old one stops.
mapfile -t during < <(printf '%s\n' "${before[@]}" "${after[@]}" | sed '/^$/d' | sort -u)
imds_set "${during[@]}" || die "release $release: cannot set which containers reach the instance metadata service"
log "release $release: starting api-$new ($new_addr); api-${active:-none} serves"
if ! compose "$dir" up --detach --no-deps --force-recreate --wait --wait-timeout "$wait_timeout" "api-$new" >&2; then
	compose "$dir" logs --tail 50 "api-$new" >&2 || true
	undo
	die "release $release: api-$new is not healthy; still serving the previous release"
fi

# 4. The worker (recreated only if its configuration changed).
if has worker; then
	if ! compose "$dir" up --detach --no-deps --wait --wait-timeout "$wait_timeout" worker >&2; then
		compose "$dir" logs --tail 50 worker >&2 || true
		undo worker
		die "release $release: the worker is not healthy; still serving the previous release"
	fi
fi

# 5. Traffic. A new nginx template first: installed where the proxy mounts it and loaded by a
# graceful reload (slipway-proxy-reload: re-render, nginx -t, nginx -s reload, wait for the old
# workers), only when it changed, since a reload closes idle client keep-alive connections.
# Then the slot flag, which nginx reads on every request: no reload, no connection closed.
installed="$proxy_state/templates/default.conf.template"
saved_template="$(mktemp)"
trap 'rm -f "$out" "$saved_template"' EXIT
had_template=no
if [ -f "$installed" ]; then
	cp "$installed" "$saved_template"
	had_template=yes
fi
put() { # put FILE FROM: atomically, readable by nginx
	cp "$2" "$1.tmp" && chmod 0644 "$1.tmp" && mv -f "$1.tmp" "$1"
}
restore_template() {
	if [ "$had_template" = yes ]; then put "$installed" "$saved_template"; else rm -f "$installed"; fi
}
template_changed=no
if [ -f "$dir/$template" ] && ! cmp -s "$dir/$template" "$installed"; then
	template_changed=yes
	log "release $release: new nginx template"
	put "$installed" "$dir/$template"
fi
if has proxy; then
	if ! compose "$dir" up --detach --no-deps --wait --wait-timeout "$wait_timeout" proxy >&2; then
		restore_template
		undo worker
		die "release $release: the proxy is not healthy; the previous release's API keeps serving"
	fi
	if [ "$template_changed" = yes ]; then
		rc=0
		compose "$dir" exec -T proxy slipway-proxy-reload >&2 || rc=$?
		if [ "$rc" -eq 3 ]; then
			log "release $release: nginx reloaded; workers of the old configuration are still finishing requests"
		elif [ "$rc" -ne 0 ]; then
			restore_template
			undo worker
			die "release $release: nginx did not take the new configuration (slipway-proxy-reload exit $rc); still serving the previous release"
		fi
	fi
fi
if [ "$new" = green ]; then
	: >"$slot_flag.tmp"
	chmod 0644 "$slot_flag.tmp"
	mv -f "$slot_flag.tmp" "$slot_flag"
else
	rm -f "$slot_flag"
fi
echo "$new" >"$state/active-slot.tmp"
mv -f "$state/active-slot.tmp" "$state/active-slot"
log "release $release: traffic on api-$new"
# Requests that nginx routed to the old slot just before the flag moved are still on their way
# there (a POST body being read): give them time to arrive; the old slot drains what it has.
# One that arrives after the old slot stopped accepting goes to the new one (nginx's backup).
sleep "$settle"

# 6. Drain and stop the old slot; remove what the release no longer has (an old-style api).
if [ -n "$active" ]; then
	compose "$dir" stop "api-$active" >&2 || log "stopping api-$active failed"
fi
compose "$dir" up --detach --no-deps --remove-orphans --wait --wait-timeout "$wait_timeout" "api-$new" >&2 ||
	log "release $release: removing orphan containers failed"

# 7. IMDS for what runs now only.
imds_set "${after[@]}" || log "release $release: could not withdraw IMDS access from api-${active:-none}"
log "release $release serves from api-$new"
