#!/usr/bin/env bash
# The workload's one test command. Installs what it needs when missing (Debian 12; run as root
# on a fresh machine, or as a user who already has the packages), then runs, in order:
#   Go: compose files validated with compose-go; API and worker tests (node:test) against real
#   Postgres (locked down by the db image's init script, the app on its own non-superuser role)
#   and fauxqs (an SQS emulator speaking SQS's JSON protocol, an npm devDependency of api/); a
#   short outage drill (scripts/drill-outage.sh, Postgres down for DRILL_OUTAGE_SECONDS, default
#   24, the back-off scaled to it) whose two lines must meet their goals; the SPA build; the
#   end-to-end test in headless Chromium through nginx.
#   The release cutover (slipway-cutover) with real nginx, Postgres and API processes, and a short
#   run of the release benchmark asserting that the cutover fails no request.
# Exits non-zero on the first failure.
set -euo pipefail

app_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$app_dir"
started=$(date +%s)

step() { printf '\n=== %s (%ss)\n' "$*" "$(($(date +%s) - started))"; }

step "system packages"
missing=()
[[ -d /usr/lib/postgresql ]] && compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql)
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
command -v envsubst >/dev/null || missing+=(gettext-base)
if ((${#missing[@]} > 0)); then
  echo "installing: ${missing[*]}"
  sudo=()
  [[ $EUID -eq 0 ]] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi
export PATH="$PATH:/usr/sbin"

# fauxqs (the SQS emulator) is a pinned devDependency of api/: npm ci installs it.
step "npm ci"
for pkg in api web e2e; do
  (cd "$pkg" && npm ci --no-audit --no-fund --loglevel=error)
done

step "compose files (go test)"
(cd .. && go test ./app/)

step "API and worker tests (Postgres as the app's own role; SQS: fauxqs, JSON protocol)"
(cd api && node --test --test-concurrency=1 test/*.test.js)

step "outage drill, short (scripts/drill-outage.sh ${DRILL_OUTAGE_SECONDS:=24} ${DRILL_JOBS:=10})"
drill_log=$(mktemp)
bash ../scripts/drill-outage.sh "$DRILL_OUTAGE_SECONDS" "$DRILL_JOBS" 2>&1 | tee "$drill_log" || true
# outage <run>: <J> jobs, <D> dead-lettered, <C> completed, <S> stranded
drill_line() { grep -E "^outage $1: [0-9]+ jobs, [0-9]+ dead-lettered, [0-9]+ completed, [0-9]+ stranded$" "$drill_log" | tail -1; }
read -r _ _ ctl_j _ ctl_d _ _ _ _ _ <<<"$(drill_line control)" || true
read -r _ _ j _ d _ c _ s _ <<<"$(drill_line drill)" || true
rm -f "$drill_log"
if [[ -z "${ctl_d:-}" || -z "${j:-}" ]]; then
  echo "FAIL: the drill did not print both lines"; exit 1
fi
((ctl_d > 0)) || { echo "FAIL: control run: $ctl_d dead-lettered of $ctl_j (the emulator's redrive must show D > 0)"; exit 1; }
((d == 0 && s == 0 && c == j && j == DRILL_JOBS)) || { echo "FAIL: drill: J=$j D=$d C=$c S=$s (goal D=0 S=0 C=J=$DRILL_JOBS)"; exit 1; }
echo "outage drill goals met: control D=$ctl_d > 0; drill D=0, S=0, C=J=$j"

step "SPA build"
(cd web && npm run build)

step "end-to-end test"
(cd e2e && node --test --test-concurrency=1 e2e.test.js)

step "release cutover (infra/hostfiles/slipway-cutover.sh; real nginx, Postgres, API processes; docker stood in for)"
(cd e2e && node --test --test-concurrency=1 cutover.test.js)

step "release benchmark, short (cutover under load: no failed request)"
../scripts/bench-release.sh --clients 20 --releases 2 --min-requests 1000 --modes cutover --assert-zero

step "shellcheck"
if command -v shellcheck >/dev/null; then
  shellcheck test.sh e2e/render-nginx.sh proxy/docker-entrypoint.d/*.envsh db/initdb.d/*.sh \
    proxy/slipway-proxy-reload.sh ../infra/hostfiles/slipway-cutover.sh ../scripts/bench-release.sh \
    ../scripts/drill-outage.sh
else
  echo "shellcheck not installed; skipped"
fi

step "all passed"
