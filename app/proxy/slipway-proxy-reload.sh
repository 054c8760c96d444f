#!/bin/sh
# Graceful reload of the running nginx, for the release's cutover (slipway-cutover):
#
#   docker compose exec -T proxy slipway-proxy-reload
#
# 1. renders the templates again, as the image's entrypoint does at start (the *.envsh scripts,
#    then envsubst with the list of defined variables): the template is mounted from the host, so a
#    new template takes effect without recreating the container;
# 2. `nginx -t`; a config nginx refuses is rolled back to the previous render and the script fails,
#    leaving the running nginx untouched;
# 3. `nginx -s reload`: the master starts workers with the new config (the upstream file the cutover
#    just rewrote) and tells the old ones to finish their in-flight requests and exit;
# 4. waits until every worker that ran before the reload has exited, so that when this returns no
#    connection to the old API slot is left and the old slot can be stopped.
# Exits 1 if nothing changed (config refused, no nginx), 3 if nginx reloaded but workers of the
# old configuration are still serving after the drain budget.
set -eu

entry_d="${SLIPWAY_ENTRYPOINT_D:-/docker-entrypoint.d}"
NGINX_ENVSUBST_TEMPLATE_DIR="${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}"
NGINX_ENVSUBST_OUTPUT_DIR="${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}"
# Above proxy_read_timeout (30 s): the longest request an old worker may still be serving.
drain="${SLIPWAY_PROXY_DRAIN_SECONDS:-40}"

log() { echo "slipway-proxy-reload: $*" >&2; }

pid_file="${NGINX_PID_FILE:-}"
if [ -z "$pid_file" ]; then
  for f in /run/nginx.pid /var/run/nginx.pid; do
    if [ -r "$f" ]; then pid_file=$f; break; fi
  done
fi
master=$(cat "$pid_file" 2>/dev/null || true)
case "$master" in
  '' | *[!0-9]*) log "no running nginx master (pid file ${pid_file:-not found})"; exit 1 ;;
esac

# workers: the master's children now (nginx's title is on /proc/PID/stat's 2nd field, no spaces).
workers() {
  awk -v m="$master" '$4 == m { print $1 }' /proc/[0-9]*/stat 2>/dev/null || true
}

for f in "$entry_d"/*.envsh; do
  [ -e "$f" ] || continue
  # shellcheck source=/dev/null
  . "$f"
done
filter="${NGINX_ENVSUBST_FILTER:-}"
# Same expression as the image's 20-envsubst-on-templates.sh.
# shellcheck disable=SC2016,SC2046
defined_envs=$(printf '${%s} ' $(awk "END { for (name in ENVIRON) { print ( name ~ /${filter}/ ) ? name : \"\" } }" </dev/null))

rendered=""
for template in "$NGINX_ENVSUBST_TEMPLATE_DIR"/*.template; do
  [ -e "$template" ] || continue
  out="$NGINX_ENVSUBST_OUTPUT_DIR/$(basename "$template" .template)"
  envsubst "$defined_envs" <"$template" >"$out.new"
  if [ -e "$out" ]; then cp -p "$out" "$out.old"; fi
  mv -f "$out.new" "$out"
  rendered="$rendered $out"
done

if ! test_out=$(nginx -t 2>&1); then
  log "nginx refuses the new configuration; keeping the running one:"
  echo "$test_out" >&2
  for out in $rendered; do
    if [ -e "$out.old" ]; then mv -f "$out.old" "$out"; else rm -f "$out"; fi
  done
  exit 1
fi
for out in $rendered; do rm -f "$out.old"; done

old=$(workers)
nginx -s reload
waited=0
while :; do
  left=""
  for pid in $old; do
    if [ -d "/proc/$pid" ]; then left="$left $pid"; fi
  done
  [ -n "$left" ] || break
  if [ "$waited" -ge $((drain * 10)) ]; then
    log "old nginx workers still running after ${drain}s:$left"
    exit 3
  fi
  sleep 0.1
  waited=$((waited + 1))
done
log "reloaded; the workers of the previous configuration have finished"
