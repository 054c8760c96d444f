#!/usr/bin/env bash
# Tests of the release part that run outside Go's own checks: the host's
# release script (shellcheck, then against a stand-in docker), the SSM
# fetcher (Python unit tests with a stubbed SSM client) and the release's
# cloud-config. The Go tests in infra/ run the same checks; this script
# installs what they need and runs just them. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
command -v cloud-init >/dev/null 2>&1 || missing+=(cloud-init)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v flock >/dev/null 2>&1 || missing+=(util-linux)
if [ "${#missing[@]}" -gt 0 ]; then
	sudo=()
	[ "$(id -u)" -eq 0 ] || sudo=(sudo)
	"${sudo[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

shellcheck infra/hostfiles/slipway-release.sh
(cd infra && PYTHONDONTWRITEBYTECODE=1 python3 testdata/test_slipway_fetch.py)
go test ./infra -count=1 -run 'Release|Fetcher|Bundle|ContextTag|Registry|Datadog|Rollout|AppChange|Secrets|Preview'
