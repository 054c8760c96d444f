#!/usr/bin/env bash
# Builds the pinned Pulumi CLI (and actionlint) into <repo>/.cache/bin.
#
# The Pulumi version is the one tools/go.mod requires for
# github.com/pulumi/pulumi/pkg/v3: that file is the single source of truth.
# The build is skipped when the cached binary already reports that version,
# because a cold build of the CLI takes minutes.
#
# Usage:
#   tools/pulumi.sh           build (if needed); print the bin directory, so
#                             callers do PATH="$(tools/pulumi.sh):$PATH"
#   tools/pulumi.sh version   print the pinned version (v3.x.y), build nothing
# Progress goes to stderr. Inside GitHub Actions the build also appends the
# bin directory to $GITHUB_PATH.
set -euo pipefail

tools_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(dirname "$tools_dir")"
bin_dir="$repo_root/.cache/bin"

# actionlint is a lint tool, not part of the deploy path; it is installed from
# its own module so its dependencies cannot shift the Pulumi CLI's build.
actionlint_version="v1.7.12"

# Never phone home for a newer CLI: the pinned version is the point.
export PULUMI_SKIP_UPDATE_CHECK=true

log() { printf 'tools/pulumi.sh: %s\n' "$*" >&2; }

pulumi_version() {
	(cd "$tools_dir" && go list -m -f '{{.Version}}' github.com/pulumi/pulumi/pkg/v3)
}

build_pulumi() {
	local version="$1" current=""
	if [[ -x "$bin_dir/pulumi" ]]; then
		current="$("$bin_dir/pulumi" version 2>/dev/null || true)"
	fi
	if [[ "$current" == "$version" ]]; then
		log "pulumi $version already built"
		return
	fi
	log "building pulumi $version (cached binary: ${current:-none}); this takes minutes on a cold cache"
	local start=$SECONDS
	(cd "$tools_dir" && go build -trimpath \
		-ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$version" \
		-o "$bin_dir/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
	current="$("$bin_dir/pulumi" version)"
	if [[ "$current" != "$version" ]]; then
		log "built pulumi reports $current, expected $version"
		return 1
	fi
	log "built pulumi $version in $((SECONDS - start))s"
}

install_actionlint() {
	local current=""
	if [[ -x "$bin_dir/actionlint" ]]; then
		current="$("$bin_dir/actionlint" -version 2>/dev/null | head -n 1 || true)"
	fi
	if [[ "$current" == "${actionlint_version#v}" || "$current" == "$actionlint_version" ]]; then
		log "actionlint $actionlint_version already installed"
		return
	fi
	log "installing actionlint $actionlint_version"
	GOBIN="$bin_dir" go install "github.com/rhysd/actionlint/cmd/actionlint@$actionlint_version"
}

main() {
	case "${1:-build}" in
	version)
		pulumi_version
		return
		;;
	build) ;;
	*)
		log "unknown argument ${1}; use: tools/pulumi.sh [build|version]"
		return 2
		;;
	esac
	mkdir -p "$bin_dir"
	build_pulumi "$(pulumi_version)"
	install_actionlint
	if [[ -n "${GITHUB_PATH:-}" ]]; then
		echo "$bin_dir" >>"$GITHUB_PATH"
	fi
	echo "$bin_dir"
}

main "$@"
