#!/usr/bin/env bash
# Builds the herald binary and the console's site beside it, the two at once
# (each cargo build has its own target directory, so neither waits for the
# other's lock, and on two cores one's single-threaded steps fill the other's
# idle core).
#   scripts/build.sh debug     <target>/debug/herald and <target>/debug/site
#   scripts/build.sh release   <target>/release/herald and <target>/release/site
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-debug}
case "$mode" in
  debug) profile=() ;;
  release) profile=(--release) ;;
  *) echo "usage: $0 [debug|release]" >&2; exit 2 ;;
esac

scripts/build-site.sh "$mode" &
site=$!
server_status=0
cargo build "${profile[@]}" -p herald-server --bin herald || server_status=$?
site_status=0
wait "$site" || site_status=$?
if [ "$server_status" -ne 0 ] || [ "$site_status" -ne 0 ]; then
  echo "build: failed (server: exit $server_status, site: exit $site_status)" >&2
  exit 1
fi
