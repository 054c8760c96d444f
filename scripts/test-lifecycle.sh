#!/usr/bin/env bash
# Tests the review-stack lifecycle and the CI workflows:
#   - builds the pinned Pulumi CLI and actionlint into .cache/bin (cached);
#   - installs shellcheck if missing, so actionlint also checks every run:
#     block of the workflows (without it actionlint skips that silently);
#   - lints the workflows and this part's shell scripts;
#   - runs the lifecycle tests on the real engine (file:// backend).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

log() { printf 'test-lifecycle: %s\n' "$*" >&2; }

as_root() {
	if [[ $EUID -eq 0 ]]; then
		"$@"
	else
		sudo "$@"
	fi
}

install_shellcheck() {
	if command -v shellcheck >/dev/null 2>&1; then
		return
	fi
	log "installing shellcheck from Debian"
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null
}

main() {
	install_shellcheck
	local bin_dir
	bin_dir="$(bash tools/pulumi.sh)"
	export PATH="$bin_dir:$PATH"
	export PULUMI_SKIP_UPDATE_CHECK=true

	log "actionlint ($(actionlint -version | head -n 1)) with shellcheck $(shellcheck --version | sed -n 's/^version: //p')"
	actionlint
	shellcheck tools/pulumi.sh scripts/test-lifecycle.sh

	log "review lifecycle tests with $(command -v pulumi) $(pulumi version)"
	# -count=1: the tests drive an external binary and backend that the Go
	# test cache cannot see, so a cached pass would prove nothing.
	go test -count=1 ./internal/review/...
}

main "$@"
