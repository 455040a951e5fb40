#!/usr/bin/env bash
# Installs what building and testing Herald needs, only where it is missing.
# Idempotent: a second run checks versions and returns in seconds.
#   scripts/setup.sh build   wasm target, wasm-bindgen-cli, wasm-opt (npm binaryen)
#   scripts/setup.sh e2e     Chromium (Debian) and the end2end npm packages
#   scripts/setup.sh         both
#   scripts/setup.sh dev     cargo-leptos, for `cargo leptos watch` (not needed
#                            by make run or make test)
# Everything comes from the package registries (crates.io, Debian, npm); no
# step downloads a binary from anywhere else.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_LEPTOS_VERSION=0.3.10
BINARYEN_VERSION=132.0.0
TOOLS_DIR="$(dirname "${CARGO_TARGET_DIR:-$PWD/target}")/tools"
say() { printf '\033[1msetup:\033[0m %s\n' "$*"; }

setup_build() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi

  # wasm-bindgen-cli must be exactly the wasm-bindgen version in Cargo.lock.
  local want
  want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
  if [ -z "$want" ]; then
    echo "setup: cannot find wasm-bindgen in Cargo.lock" >&2
    exit 1
  fi
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$want" ]; then
    say "installing wasm-bindgen-cli $want (a few minutes, once)"
    cargo install wasm-bindgen-cli --version "$want" --locked \
      || cargo install wasm-bindgen-cli --version "$want"
  fi

  # wasm-opt for the release console: binaryen's own build, published on npm
  # (a wasm build run by node), kept with the build cache.
  if [ "$(cat "$TOOLS_DIR/.binaryen-version" 2>/dev/null)" != "$BINARYEN_VERSION" ]; then
    say "installing wasm-opt (npm binaryen $BINARYEN_VERSION)"
    mkdir -p "$TOOLS_DIR"
    npm install --prefix "$TOOLS_DIR" --no-audit --no-fund --loglevel=error \
      --no-save "binaryen@$BINARYEN_VERSION"
    echo "$BINARYEN_VERSION" > "$TOOLS_DIR/.binaryen-version"
  fi
}

setup_dev() {
  if [ "$(cargo leptos --version 2>/dev/null | awk '{print $2}')" != "$CARGO_LEPTOS_VERSION" ]; then
    say "installing cargo-leptos $CARGO_LEPTOS_VERSION (about 13 minutes on 2 cores, once)"
    cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked
  fi
}

setup_e2e() {
  if ! command -v chromium >/dev/null 2>&1; then
    say "installing Debian's chromium for the browser tests"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
  fi

  # npm ci only when package-lock.json changed since the last install.
  local stamp=end2end/node_modules/.herald-lock-sha
  local sum
  sum=$(sha256sum end2end/package-lock.json | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
    say "installing end2end npm packages"
    (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
    echo "$sum" > "$stamp"
  fi
}

case "${1:-all}" in
  build) setup_build ;;
  e2e) setup_e2e ;;
  dev) setup_build; setup_dev ;;
  all) setup_build; setup_e2e ;;
  *) echo "usage: $0 [build|e2e|dev|all]" >&2; exit 2 ;;
esac
