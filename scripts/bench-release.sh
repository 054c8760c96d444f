#!/usr/bin/env bash
# Release benchmark (issue 13): K consecutive API releases while C concurrent clients write and
# read the database through nginx. Real nginx with the shipped template, real API processes (old
# and new release), real Postgres; the Docker engine and compose are stood in for by
# app/e2e/standin/docker.js (real `node` processes on the slots' fixed loopback addresses; see
# app/e2e/release-harness.js). First today's recreate-in-place (`docker compose up --wait`),
# then infra/hostfiles/slipway-cutover.sh, unchanged. Prints exactly one line for each:
#
#   recreate baseline: <N> requests, <F> failed, p99 <P> ms, <C> clients, <K> releases
#   release cutover: <N> requests, <F> failed, p99 <P> ms, <C> clients, <K> releases
#
# A request failed when it got anything but its expected 2xx (502/504 included), a connection
# error or no answer in 10 s. Loopback only; the load stops by itself (count and time bounded).
#
#   scripts/bench-release.sh [--clients 20] [--releases 5] [--min-requests 10000]
#                            [--modes recreate,cutover] [--assert-zero]
# Needs Postgres (Debian's postgresql), nginx and Node 20+; app/test.sh installs them.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$PATH:/usr/sbin"
if [[ ! -d "$root/app/api/node_modules" ]]; then
  (cd "$root/app/api" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
args=("$@")
if [[ ${#args[@]} -eq 0 ]]; then
  args=(--clients 20 --releases 5 --min-requests 10000)
fi
exec node "$root/app/e2e/bench.js" "${args[@]}"
