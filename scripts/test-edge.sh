#!/usr/bin/env bash
# Tests of the CloudFront Function (infra/edge/viewer-request.js) under
# node:test, with the file exactly as deployed. Needs Node.js 20 or later;
# no npm packages.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null 2>&1; then
	echo "test-edge: node (Node.js 20+) is required" >&2
	exit 1
fi
node --test infra/edge/
