#!/usr/bin/env bash
# Builds the console's browser half (wasm, its JS glue, the stylesheet and the
# public files) into the site directory the server reads, without cargo-leptos.
#   scripts/build-site.sh debug     fast to build: <target>/debug/site
#   scripts/build-site.sh release   size-optimised: <target>/release/site
#     the `wasm-release` profile, then wasm-opt -O1 (npm's binaryen package),
#     content-hashed file names (hash.txt, read by the server) and each file
#     precompressed with brotli and gzip beside it.
# The server finds the site beside its own binary (target/<profile>/site) or
# wherever HERALD_SITE_DIR says.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-debug}
target_dir=${CARGO_TARGET_DIR:-$PWD/target}
# The wasm build has a target directory of its own, so it can run beside the
# server's build without either waiting for the other's lock.
front_dir="$target_dir/front"
tools_dir="$(dirname "$target_dir")/tools"
say() { printf '\033[1mbuild-site:\033[0m %s\n' "$*"; }

case "$mode" in
  debug) profile=dev; profile_dir=debug ;;
  release) profile=wasm-release; profile_dir=wasm-release ;;
  *) echo "usage: $0 [debug|release]" >&2; exit 2 ;;
esac
site="$target_dir/$( [ "$mode" = release ] && echo release || echo debug )/site"

CARGO_TARGET_DIR="$front_dir" cargo build -p herald-frontend --lib \
  --target wasm32-unknown-unknown --profile "$profile"
wasm="$front_dir/wasm32-unknown-unknown/$profile_dir/herald_frontend.wasm"

# A server-only change leaves the wasm as it was: then the site built from the
# same inputs is kept, and wasm-opt and precompression (most of a release
# site's time) are not run again.
inputs="$site.inputs"
inputs_sum=$( { echo "$mode"; cat "$tools_dir/.binaryen-version" 2>/dev/null || true
  sha256sum "$wasm" style/main.css scripts/build-site.sh scripts/precompress.mjs
  find public -type f -print0 | sort -z | xargs -0 sha256sum; } | sha256sum | cut -d' ' -f1)
if [ -d "$site" ] && [ "$(cat "$inputs" 2>/dev/null)" = "$inputs_sum" ]; then
  say "$site is up to date"
  exit 0
fi

stage=$(mktemp -d "$target_dir/site-stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/pkg"
wasm-bindgen --target web --no-typescript --out-name herald \
  --out-dir "$stage/pkg" "$wasm"
cp style/main.css "$stage/pkg/herald.css"
cp -r public/. "$stage/"

if [ "$mode" = debug ]; then
  # The name the server asks for (`LEPTOS_OUTPUT_NAME`, .cargo/config.toml),
  # as cargo-leptos names it.
  mv "$stage/pkg/herald_bg.wasm" "$stage/pkg/herald.wasm"
else
  # -O1, not -Oz: rustc has already optimised the wasm for size (opt-level z).
  # On a whole-program LTO build, -Oz cut the file from 5.3 MB to 4.5 MB but made it
  # compress worse (1,099 KiB brotli against 977 KiB after -O1, gzip 1.67 MB
  # against 1.42 MB) and took 89 s against 17 s. What a browser fetches is the
  # compressed file.
  say "wasm-opt -O1"
  "$tools_dir/node_modules/.bin/wasm-opt" -O1 --enable-bulk-memory \
    --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals \
    --enable-reference-types --enable-multivalue \
    -o "$stage/pkg/herald_bg.opt.wasm" "$stage/pkg/herald_bg.wasm"
  mv "$stage/pkg/herald_bg.opt.wasm" "$stage/pkg/herald_bg.wasm"
  # Content-hashed names: a new build is a new URL, so browsers may keep each
  # file for a year. The JS glue names no wasm file (the page passes its URL).
  hash() { sha256sum "$1" | cut -c1-16; }
  js=$(hash "$stage/pkg/herald.js")
  wasm_hash=$(hash "$stage/pkg/herald_bg.wasm")
  css=$(hash "$stage/pkg/herald.css")
  mv "$stage/pkg/herald.js" "$stage/pkg/herald.$js.js"
  mv "$stage/pkg/herald_bg.wasm" "$stage/pkg/herald.$wasm_hash.wasm"
  mv "$stage/pkg/herald.css" "$stage/pkg/herald.$css.css"
  printf 'js: %s\nwasm: %s\ncss: %s\n' "$js" "$wasm_hash" "$css" > "$stage/hash.txt"
  say "precompressing (brotli, gzip)"
  node scripts/precompress.mjs "$stage"
fi

# Swap the finished site in whole: a server reading the old one never sees half.
rm -rf "$site.old"
[ -d "$site" ] && mv "$site" "$site.old"
mkdir -p "$(dirname "$site")"
mv "$stage" "$site"
chmod 755 "$site"
rm -rf "$site.old"
trap - EXIT
echo "$inputs_sum" > "$inputs"
say "$site ($(du -sh "$site/pkg" | cut -f1) in pkg)"
