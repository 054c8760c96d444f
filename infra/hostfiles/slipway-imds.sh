#!/bin/bash
# Decides which containers may reach the instance metadata service (IMDS,
# 169.254.169.254), where the host role's credentials are.
#
#   slipway-imds boot           install the rule with the last allowed set (slipway-imds.service, before Docker)
#   slipway-imds allow [ADDR..] make exactly these container addresses the allowed set (the release script)
#   slipway-imds show           print the allowed set
#
# Why a rule and not hop limit 1: the API and the worker need AWS (their
# queue, their metrics) and get credentials from IMDSv2 through the
# docker bridge, which is a second hop, so the instance keeps hop limit 2
# and this rule stops every other container. A container's packet to
# 169.254.169.254 leaves through the host's FORWARD chain, whose first
# stop is DOCKER-USER, the one chain Docker never rewrites (it only
# creates it and appends a RETURN). Its first rule sends IMDS traffic to
# SLIPWAY-IMDS: RETURN for each allowed source address, then REJECT. The
# host's own processes (the SSM agent, the release fetcher, the metrics)
# do not pass FORWARD and keep their access.
#
# The allowed set belongs to the release: it is the fixed addresses of the
# services labelled slipway.imds=allow in the release's compose file (so
# during a switch from one release to another both may be allowed), kept
# in $state so that a reboot restores it before Docker restarts any
# container. No state yet (a new host) means no container reaches IMDS.
set -euo pipefail

imds=169.254.169.254
chain=SLIPWAY-IMDS
state="${SLIPWAY_IMDS_STATE:-/var/lib/slipway/imds-allow}"

log() { echo "slipway-imds: $*" >&2; }
die() {
	log "$*"
	exit 1
}

# valid_address ADDR: a dotted-quad IPv4 address, each part 0-255, no
# leading zeros (iptables would read 010 as octal).
valid_address() {
	local part
	local -a parts
	[[ $1 =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || return 1
	IFS=. read -r -a parts <<<"$1"
	for part in "${parts[@]}"; do
		if [ "$part" -gt 255 ] || { [ "${#part}" -gt 1 ] && [ "${part:0:1}" = 0 ]; }; then
			return 1
		fi
	done
}

# load ADDR...: the chain's new content in one atomic iptables-restore
# (--noflush keeps every other chain; declaring this one empties it).
load() {
	local addr
	{
		echo '*filter'
		echo ":$chain - [0:0]"
		for addr in "$@"; do
			echo "-A $chain -s $addr/32 -j RETURN"
		done
		# TCP gets a reset (the SDKs' credential chains fail fast instead
		# of timing out), anything else an ICMP error.
		echo "-A $chain -p tcp -j REJECT --reject-with tcp-reset"
		echo "-A $chain -j REJECT --reject-with icmp-port-unreachable"
		echo 'COMMIT'
	} | iptables-restore -w 5 --noflush
}

# hook puts the jump to the chain first in DOCKER-USER, creating that
# chain if Docker has not yet (Docker keeps an existing DOCKER-USER).
hook() {
	iptables -w 5 -N DOCKER-USER 2>/dev/null || true
	if ! iptables -w 5 -C DOCKER-USER -d "$imds/32" -j "$chain" 2>/dev/null; then
		iptables -w 5 -I DOCKER-USER 1 -d "$imds/32" -j "$chain"
	fi
}

saved() {
	if [ -r "$state" ]; then
		grep -v '^[[:space:]]*$' "$state" || true
	fi
}

case "${1:-}" in
boot)
	mapfile -t addrs < <(saved)
	for a in "${addrs[@]}"; do
		valid_address "$a" || die "$state holds '$a', not an IPv4 address: refusing to start with it"
	done
	load "${addrs[@]}"
	hook
	log "IMDS reachable from containers: ${addrs[*]:-none}"
	;;
allow)
	shift
	for a in "$@"; do
		valid_address "$a" || die "not an IPv4 address: '$a'"
	done
	# Sorted and unique: the same set always gives the same chain.
	mapfile -t addrs < <(printf '%s\n' "$@" | sed '/^$/d' | sort -u)
	load "${addrs[@]}"
	hook
	mkdir -p "$(dirname "$state")"
	printf '%s\n' "${addrs[@]}" >"$state.tmp"
	mv -f "$state.tmp" "$state"
	log "IMDS reachable from containers: ${addrs[*]:-none}"
	;;
show)
	saved
	;;
*)
	sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac
