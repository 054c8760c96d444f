#!/usr/bin/env bash
# Builds kumo, the AWS emulator the host-script tests run against (SSM and
# CloudWatch; infra/testdata/test_fetch_emulator.py), into <repo>/.cache/bin.
#
# The version is pinned here, once (kumo_version). The binary's file name
# carries the version, so a cached build of the pinned version is reused and
# a new pin builds anew: a cold build takes about ten minutes and ~3 GB of Go
# cache (kumo links the AWS SDK for some 80 services).
#
# Why not `go install github.com/sivchari/kumo/cmd/kumo@v0.33.1`: that
# resolves kumo's dependencies afresh and fails verifying one checksum. Built
# inside kumo's own module directory, the build uses kumo's go.mod and go.sum,
# exactly what kumo's release is built from.
#
# Usage:
#   tools/kumo.sh           build (if needed); print the binary's path
#   tools/kumo.sh version   print the pinned version, build nothing
# Progress goes to stderr.
set -euo pipefail

kumo_version="v0.33.1"
kumo_module="github.com/sivchari/kumo"

tools_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(dirname "$tools_dir")"
bin_dir="$repo_root/.cache/bin"
binary="$bin_dir/kumo-$kumo_version"

log() { printf 'tools/kumo.sh: %s\n' "$*" >&2; }

build() {
	if [[ -x "$binary" ]]; then
		log "kumo $kumo_version already built"
		return
	fi
	log "building kumo $kumo_version; about ten minutes on a cold Go cache"
	local start=$SECONDS dir
	# Run outside any module, so the download is of kumo itself and nothing
	# here (this repository's go.mod) takes part.
	dir="$(cd / && GOFLAGS=-mod=mod go mod download -json "$kumo_module@$kumo_version" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
	if [[ -z "$dir" || ! -f "$dir/go.mod" ]]; then
		log "go mod download $kumo_module@$kumo_version gave no module directory"
		return 1
	fi
	mkdir -p "$bin_dir"
	# Written under a temporary name and moved: an interrupted build never
	# leaves a binary the next run would take for a finished one.
	(cd "$dir" && CGO_ENABLED=0 go build -trimpath -o "$binary.tmp" ./cmd/kumo)
	mv -f "$binary.tmp" "$binary"
	log "built kumo $kumo_version in $((SECONDS - start))s"
}

case "${1:-build}" in
version)
	echo "$kumo_version"
	;;
build)
	build
	echo "$binary"
	;;
*)
	log "unknown argument ${1}; use: tools/kumo.sh [build|version]"
	exit 2
	;;
esac
