#!/usr/bin/env bash
# The jobs-survive-outages drill (issue 14): the real API and worker (app/api) against real
# Postgres and fauxqs (SQS JSON protocol, dead-letters after maxReceiveCount receives), as plain
# processes on 127.0.0.1. Enqueues J jobs through the API, crashes the API once between its
# INSERT and its SendMessage (SLIPWAY_FAULT=crash-after-insert, a test-only switch), stops
# Postgres for the outage, starts it again, waits, and prints
#   outage control: <J> jobs, <D> dead-lettered, <C> completed, <S> stranded   (back-off off: D > 0)
#   outage drill: <J> jobs, <D> dead-lettered, <C> completed, <S> stranded     (goal D = 0, S = 0, C = J)
# The back-off, the queue's visibility timeout and the outbox relay are scaled with the outage
# (app/api/test/outage-drill.js says how); 300 s is the production case.
#
# usage: scripts/drill-outage.sh [outage seconds, default 300] [jobs, default 20]
# Needs what app/test.sh installs (Postgres, Node 20+, npm ci in app/api); run as root or as a
# user who may run Postgres.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
outage=${1:-${OUTAGE_SECONDS:-300}}
jobs=${2:-${DRILL_JOBS:-20}}

[[ -d "$root/app/api/node_modules/fauxqs" ]] || (cd "$root/app/api" && npm ci --no-audit --no-fund --loglevel=error)
export PATH="$PATH:/usr/sbin"
# Dummy credentials for the local SQS emulator (keeps the SDK off instance metadata).
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
exec node "$root/app/api/test/outage-drill.js" "$outage" "$jobs"
