#!/usr/bin/env bash
# Schemathesis over Herald's OpenAPI document: a real server on a fresh data
# directory, every check on, failing on any failed check.
#   scripts/fuzz-api.sh quick   a few examples per operation (make test, < 3 min)
#   scripts/fuzz-api.sh full    every phase, many examples (make fuzz-api)
# Schemathesis comes from PyPI into a virtualenv under the build cache.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
MODE=${1:-quick}
: "${CARGO_TARGET_DIR:=$HOME/.cache/herald/target}"
VENV="${HERALD_VENV:-$HOME/.cache/herald/venv}"
BIN="$CARGO_TARGET_DIR/debug/herald"
say() { printf '\033[1mfuzz-api:\033[0m %s\n' "$*"; }

if [ "$("$VENV/bin/schemathesis" --version 2>/dev/null | awk '{print $3}')" != "$SCHEMATHESIS_VERSION" ]; then
  say "installing schemathesis $SCHEMATHESIS_VERSION from PyPI (once)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
fi
[ -x "$BIN" ] || { echo "fuzz-api: $BIN is missing; run 'make build' first" >&2; exit 2; }

DATA=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
LOG="$DATA/server.log"
cleanup() {
  [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
  rm -rf "$DATA"
}
trap cleanup EXIT

# Rate limits off: the fuzzer is one client sending thousands of requests, some
# of them with bad keys on purpose.
HERALD_LISTEN=127.0.0.1:$PORT HERALD_DATA_DIR="$DATA" HERALD_API_RATE_LIMIT=0 \
  HERALD_BAD_KEY_RATE_LIMIT=0 HERALD_LOGIN_RATE_LIMIT=0 HERALD_LOG=warn \
  "$BIN" serve >"$LOG" 2>&1 &
PID=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  kill -0 "$PID" 2>/dev/null || { cat "$LOG"; echo "fuzz-api: the server did not start" >&2; exit 1; }
  sleep 0.1
done
KEY=$(HERALD_DATA_DIR="$DATA" "$BIN" api-key create --name fuzzer --scope all | grep -o 'hrld_[A-Za-z0-9_-]*' | head -1)

case "$MODE" in
  quick) budget=(--max-examples 5 --phases examples,coverage,fuzzing --max-time 150) ;;
  full) budget=(--max-time "${FUZZ_SECONDS:-600}") ;;
  *) echo "usage: $0 [quick|full]" >&2; exit 2 ;;
esac

say "schemathesis ($MODE) against http://127.0.0.1:$PORT"
status=0
# The key revoking itself would end the run early: that one operation is left out.
# scripts/schemathesis.toml loads scripts/fuzz_hooks.py: the rules between
# fields (a range's end after its start, ...) that JSON Schema cannot state.
"$VENV/bin/schemathesis" --config-file scripts/schemathesis.toml run "http://127.0.0.1:$PORT/api/v1/openapi.json" \
  --header "Authorization: Bearer $KEY" --checks all --seed 20261201 \
  --workers 1 --exclude-operation-id revoke --no-color \
  --generation-deterministic \
  --suppress-health-check too_slow,filter_too_much \
  "${budget[@]}" || status=$?

if grep -q "panicked" "$LOG"; then
  echo "fuzz-api: the server panicked:" >&2
  grep -A3 "panicked" "$LOG" >&2
  status=1
fi
kill -0 "$PID" 2>/dev/null || { echo "fuzz-api: the server died" >&2; status=1; }
exit "$status"
