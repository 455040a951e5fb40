#!/usr/bin/env bash
# Times a first start as a newcomer meets it: `git clone` of this repository,
# then `make run`, until the console answers, on an empty cargo cache
# (CARGO_HOME: every crate downloaded), an empty target directory and an empty
# tools directory. The Rust toolchain is taken as installed. To count the
# rest as a new machine would, first `rustup target remove
# wasm32-unknown-unknown` and move wasm-bindgen, wasm-bindgen-test-runner and
# wasm2es6js out of ~/.cargo/bin (put them back afterwards). Stops the server
# it started at the end.
#   scripts/measure-first-start.sh [WORK_DIR]   (default /tmp/herald-first-start)
set -u
repo="$(cd "$(dirname "$0")/.." && pwd)"
work=${1:-/tmp/herald-first-start}
rm -rf "$work" && mkdir -p "$work"
export CARGO_HOME="$work/cargo-home"
export PATH="$CARGO_HOME/bin:$PATH"
export CARGO_TARGET_DIR="$work/cache/target"
start=$(date +%s)
git clone -q "$repo" "$work/herald"
cd "$work/herald"
(make run > "$work/run.log" 2>&1 &)
until curl -fsS -o /dev/null http://127.0.0.1:3000/login 2>/dev/null; do
  sleep 2
  if [ $(( $(date +%s) - start )) -gt 3600 ]; then echo "no answer within an hour; see $work/run.log"; exit 1; fi
done
echo "the console answered $(( $(date +%s) - start )) s after git clone began"
pkill -f "$CARGO_TARGET_DIR/release/herald serve" || true
