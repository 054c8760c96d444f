#!/bin/sh
# Renders the proxy's nginx templates exactly as the official nginx image does at start:
# /docker-entrypoint.sh sources the *.envsh scripts in /docker-entrypoint.d (ours derives and
# validates variables), then 20-envsubst-on-templates.sh runs envsubst over each
# $NGINX_ENVSUBST_TEMPLATE_DIR/*.template with the list of *defined* environment variables,
# writing $NGINX_ENVSUBST_OUTPUT_DIR/<name>. Only the two directories differ from the image.
#
# usage: render-nginx.sh <proxy dir> <output dir>   (run under `env -i` with the container's env)
set -eu

proxy_dir=$1
NGINX_ENVSUBST_TEMPLATE_DIR="$proxy_dir/templates"
NGINX_ENVSUBST_OUTPUT_DIR=$2
filter="${NGINX_ENVSUBST_FILTER:-}"

for f in "$proxy_dir"/docker-entrypoint.d/*.envsh; do
  # shellcheck source=/dev/null
  . "$f"
done

# Same expression as the image's 20-envsubst-on-templates.sh.
# shellcheck disable=SC2016,SC2046
defined_envs=$(printf '${%s} ' $(awk "END { for (name in ENVIRON) { print ( name ~ /${filter}/ ) ? name : \"\" } }" < /dev/null))

for template in "$NGINX_ENVSUBST_TEMPLATE_DIR"/*.template; do
  name=$(basename "$template" .template)
  envsubst "$defined_envs" < "$template" > "$NGINX_ENVSUBST_OUTPUT_DIR/$name"
done
