#!/usr/bin/env bash
# Times what `make run` rebuilds after a one-line change in the engine: builds
# once untimed (so the cache holds the unchanged tree), adds one public item to
# FILE, times `scripts/build.sh release`, then puts FILE back as it was.
#   scripts/measure-warm-rebuild.sh [FILE]   (default engine/src/dispatch/mod.rs)
# A file the console also compiles (engine/src/model, engine/src/retry.rs)
# rebuilds the console's wasm as well; a server-only file leaves the site as it
# was built.
set -euo pipefail
cd "$(dirname "$0")/.."
file=${1:-engine/src/dispatch/mod.rs}
if ! git diff --quiet -- "$file"; then
  echo "measure-warm-rebuild: $file has uncommitted changes; commit or stash them first" >&2
  exit 2
fi
echo "measure-warm-rebuild: warming the cache (untimed)"
scripts/build.sh release
log=$(mktemp)
trap 'git checkout -q -- "$file"; rm -f "$log"' EXIT
printf '#[doc(hidden)] pub const REBUILD_PROBE: u32 = %d;\n' "$RANDOM" >> "$file"
start=$(date +%s.%N)
scripts/build.sh release 2>&1 | tee "$log"
end=$(date +%s.%N)
# The probe is an unused constant: it changes no byte of the wasm, so even for
# a file the console compiles the site is kept. A real change to such a file
# also runs wasm-opt and precompression (about 25 s more, see the README).
if grep -q "is up to date" "$log"; then site="the console's site kept"; else site="the console's site rebuilt"; fi
printf 'measure-warm-rebuild: %s changed by one line; scripts/build.sh release took %.1f s (%s)\n' \
  "$file" "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')" "$site"
