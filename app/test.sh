#!/usr/bin/env bash
# The workload's one test command. Installs what it needs when missing (Debian 12; run as root
# on a fresh machine, or as a user who already has the packages), then runs, in order:
#   Go: compose files validated with compose-go; API and worker tests (node:test) against real
#   Postgres (locked down by the db image's init script, the app on its own non-superuser role)
#   and fauxqs (an SQS emulator speaking SQS's JSON protocol, an npm devDependency of api/); the
#   SPA build; the end-to-end test in headless Chromium through nginx.
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
    proxy/slipway-proxy-reload.sh ../infra/hostfiles/slipway-cutover.sh ../scripts/bench-release.sh
else
  echo "shellcheck not installed; skipped"
fi

step "all passed"
