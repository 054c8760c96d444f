#!/usr/bin/env bash
# Slipway's one test command. On a fresh Debian machine it installs what the
# tests need (Debian packages, npm packages, Go tools, the pinned Pulumi CLI
# built from source), then runs every test. Safe to run again: each install
# is skipped when already done. Run it as root or as a user with sudo.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)

section() { printf '\n== %s (%ss)\n' "$*" "$(($(date +%s) - started))"; }

# apt_install installs the Debian packages whose command is missing;
# each argument is command:package.
apt_install() {
	local missing=() pair
	for pair in "$@"; do
		command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
	done
	[ "${#missing[@]}" -eq 0 ] && return 0
	local sudo=()
	[ "$(id -u)" -eq 0 ] || sudo=(sudo)
	"${sudo[@]}" apt-get update -qq
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# require_version fails early, naming what to install, when a toolchain the
# tests build with is missing or too old (Debian 12's own Go and Node.js are).
require_version() {
	local name=$1 have=$2 want=$3 hint=$4
	if [ -z "$have" ] || [ "$(printf '%s\n%s\n' "$want" "$have" | sort -V | head -n1)" != "$want" ]; then
		echo "test.sh: $name ${have:-not found}; need $name >= $want ($hint)" >&2
		exit 1
	fi
}

section "Toolchains: Go and Node.js"
require_version go "$(go env GOVERSION 2>/dev/null | sed 's/^go//')" 1.26.6 "https://go.dev/dl, or export GOTOOLCHAIN=auto with an older Go"
require_version node "$(node --version 2>/dev/null | sed 's/^v//')" 20.19.0 "Node.js 20.19+ or 22.12+ with npm, e.g. from NodeSource"
command -v npm >/dev/null || { echo "test.sh: npm not found (install it with Node.js)" >&2; exit 1; }

section "Debian packages: shellcheck, cloud-init (schema), e2fsprogs, python3, python3-boto3, flock, iptables, iproute2, losetup, and the drill's pgbackrest, postgresql, nginx, openssl, curl"
export PATH="$PATH:/usr/sbin:/sbin"
# iptables and iproute2: the IMDS rule is tested in network namespaces (as root);
# losetup (mount): the data volume's filesystem is grown on a loop device;
# pgbackrest, postgresql, nginx, openssl, curl: the restore drill.
apt_install shellcheck:shellcheck cloud-init:cloud-init mkfs.ext4:e2fsprogs python3:python3 flock:util-linux \
	iptables:iptables ip:iproute2 losetup:mount \
	pgbackrest:pgbackrest pg_ctlcluster:postgresql nginx:nginx openssl:openssl curl:curl
# boto3 has no command: an empty one is never found, so the package installs when the import fails.
/usr/bin/python3 -c 'import boto3' 2>/dev/null || apt_install :python3-boto3

section "Pulumi CLI (pinned in tools/go.mod, built from source, cached) and actionlint"
PATH="$(bash tools/pulumi.sh):$PATH"
export PATH PULUMI_SKIP_UPDATE_CHECK=true
# The lifecycle tests fail rather than skip if the CLI is missing.
export SLIPWAY_REQUIRE_PULUMI=1
pulumi version

section "Workload: API, worker, SPA build and end-to-end with real Postgres, nginx, Chromium"
bash app/test.sh

section "Edge: the CloudFront Function's deployed source under node:test"
bash scripts/test-edge.sh

section "Lint: GitHub workflows (actionlint + shellcheck) and shell scripts"
actionlint
shellcheck scripts/*.sh tools/pulumi.sh tools/kumo.sh .ci/run infra/hostfiles/*.sh app/db/*.sh

section "Data: the restore drill, short (real Postgres, pgBackRest, S3 stand-in behind TLS)"
# SLIPWAY_SKIP_DRILL=1 skips it. Asserts the result line: every row acknowledged before the
# recovery point survived (the drill fails otherwise), and the loss window stays within
# archive_timeout plus the archiver's latency.
if [ "${SLIPWAY_SKIP_DRILL:-0}" = 1 ]; then
	echo "skipped (SLIPWAY_SKIP_DRILL=1)"
else
	drill_timeout=10
	drill_sudo=()
	[ "$(id -u)" -eq 0 ] || drill_sudo=(sudo)
	drill_line="$("${drill_sudo[@]}" env DRILL_DB_MB=32 DRILL_ARCHIVE_TIMEOUT=$drill_timeout DRILL_WRITE_SECONDS=40 \
		PATH="$PATH" GOFLAGS="${GOFLAGS:-}" bash scripts/drill-data.sh | tail -n 1)"
	echo "$drill_line"
	re='^restore drill: ([0-9]+) rows acknowledged, ([0-9]+) lost, RPO ([0-9.]+) s, RTO ([0-9.]+) s, database ([0-9]+) MB$'
	[[ $drill_line =~ $re ]] || { echo "test.sh: unexpected drill result: $drill_line" >&2; exit 1; }
	awk -v w="${BASH_REMATCH[1]}" -v l="${BASH_REMATCH[2]}" -v rpo="${BASH_REMATCH[3]}" -v rto="${BASH_REMATCH[4]}" -v t="$drill_timeout" \
		'BEGIN { if (w > 0 && l < w && rpo >= 0 && rpo <= t + 5 && rto > 0) exit 0; exit 1 }' ||
		{ echo "test.sh: restore drill out of bounds (want RPO <= ${drill_timeout} s + 5 s): $drill_line" >&2; exit 1; }
fi

section "Host: the release fetcher and loader (Python, stubbed SSM and S3 clients)"
(cd infra && PYTHONDONTWRITEBYTECODE=1 python3 testdata/test_slipway_fetch.py && PYTHONDONTWRITEBYTECODE=1 python3 testdata/test_slipway_load.py)

section "Host: the host scripts' AWS calls (SSM, S3, CloudWatch) against kumo (pinned in tools/kumo.sh, built from source, cached)"
KUMO_BIN="$(bash tools/kumo.sh)"
(cd infra && KUMO_BIN="$KUMO_BIN" PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 testdata/test_fetch_emulator.py)

section "Go: vet, then every Go test (config, infra under mocks, review stacks on the real engine)"
go vet ./...
# Formatting is part of the code: a file gofmt would change fails the run.
unformatted="$(git ls-files -z '*.go' | xargs -0 gofmt -l)"
[ -z "$unformatted" ] || { echo "test.sh: gofmt would change: $unformatted" >&2; exit 1; }
# -count=1: some tests drive external tools (pulumi, cloud-init, shellcheck)
# the Go test cache cannot see, so a cached pass would prove nothing.
go test -count=1 ./...

section "Go: what each kind of change restarts, by Compose's own service hash (tests/composehash, a module of its own)"
(cd tests/composehash && go test -count=1 ./...)

section "all tests passed"
