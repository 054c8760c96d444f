#!/usr/bin/env bash
# Slipway's one test command. On a fresh Debian machine it installs what the
# tests need (Debian packages, npm packages, Go tools), then runs every test.
# Safe to run again: installs are skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

section() { printf '\n== %s ==\n' "$*"; }

# apt_install installs the Debian packages whose command is missing.
apt_install() {
	local missing=() pair
	for pair in "$@"; do
		command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
	done
	[ "${#missing[@]}" -eq 0 ] && return 0
	local sudo=()
	[ "$(id -u)" -eq 0 ] || sudo=(sudo)
	"${sudo[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

section "Debian packages"
apt_install shellcheck:shellcheck cloud-init:cloud-init mkfs.ext4:e2fsprogs

section "Go: vet and tests (stacks, infra under Pulumi mocks)"
go vet ./...
go test ./...
