#!/bin/bash
# The cutover of a host + rds release (bin/slipway-cutover of its bundle; infra/bundle.go,
# rdsScripts): the database is RDS, so before the cutover migrates anything the application's
# own role must exist there with this release's password. The release script runs
# bin/slipway-cutover and nothing else, so this runs db-setup and then the cutover itself, which
# the bundle carries as bin/slipway-compose-cutover, with the same arguments and environment:
#
#   slipway-cutover <release-dir> <previous-release-dir|none>
#
# A db-setup that fails (the host's own database not yet moved, Secrets Manager or RDS out of
# reach, a role that is wider than the application's) stops the release before the cutover
# touches a container: the previous release keeps serving and the last line on stderr says why.
# A rollback runs the previous release's own cutover, so its db-setup puts its password back.
set -euo pipefail

here="$(dirname "$(readlink -f "$0")")"
# The release directory comes first; the rest is the cutover's, passed on as it is.
if [ $# -lt 1 ] || [ ! -d "$1" ]; then
	echo "slipway-cutover: usage: slipway-cutover <release-dir> <previous-release-dir|none>" >&2
	exit 1
fi
out="$(mktemp)"
if ! "${SLIPWAY_DB_SETUP:-$here/slipway-db-setup}" "$1" 2>"$out"; then
	cat "$out" >&2
	reason="$(sed -n 's/^slipway-db-setup: //p' "$out" | tail -n 1)"
	rm -f "$out"
	echo "slipway-cutover: release $(basename "$1"): db-setup on RDS failed: ${reason:-see the output above}; nothing was changed, the previous release keeps serving" >&2
	exit 1
fi
cat "$out" >&2
rm -f "$out"
exec "${SLIPWAY_COMPOSE_CUTOVER:-$here/slipway-compose-cutover}" "$@"
