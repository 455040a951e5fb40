#!/usr/bin/env bash
# The soak test (`make soak`, not part of `make test`): a release Herald under
# steady load for SOAK_MINUTES (30), then its samples drawn as a chart.
#   SOAK_BACKEND=sqlite     one node on SQLite (default)
#   SOAK_BACKEND=postgres   two nodes on PostgreSQL (herald_bench database)
# Writes docs/soak/<backend>.csv and docs/soak/<backend>.png; exits non-zero
# when an accepted event is unaccounted for.
set -euo pipefail
cd "$(dirname "$0")/.."

MATPLOTLIB_VERSION=3.9.2
: "${CARGO_TARGET_DIR:=$HOME/.cache/herald/target}"
VENV="${HERALD_VENV:-$HOME/.cache/herald/venv}"
BACKEND=${SOAK_BACKEND:-sqlite}
MINUTES=${SOAK_MINUTES:-30}
OUT=docs/soak
mkdir -p "$OUT"

args=()
case "$BACKEND" in
  sqlite) ;;
  postgres)
    psql -h 127.0.0.1 -U postgres -d postgres -tAc "select 1 from pg_database where datname = 'herald_bench'" | grep -q 1 \
      || psql -h 127.0.0.1 -U postgres -d postgres -qc "create database herald_bench"
    args=(--postgres postgres://postgres@127.0.0.1:5432/herald_bench --nodes 2) ;;
  *) echo "soak: SOAK_BACKEND is sqlite or postgres, got '$BACKEND'" >&2; exit 2 ;;
esac

if ! "$VENV/bin/python" -c "import matplotlib; assert matplotlib.__version__ == '$MATPLOTLIB_VERSION'" 2>/dev/null; then
  echo "soak: installing matplotlib $MATPLOTLIB_VERSION from PyPI (once)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "matplotlib==$MATPLOTLIB_VERSION"
fi

"$CARGO_TARGET_DIR/release/herald-load" --herald "$CARGO_TARGET_DIR/release/herald" "${args[@]}" \
  soak --minutes "$MINUTES" --csv "$OUT/$BACKEND.csv" ${SOAK_RATE:+--rate "$SOAK_RATE"} \
  | tee "$OUT/$BACKEND.txt"
"$VENV/bin/python" scripts/soak-chart.py "$OUT/$BACKEND.csv" "$OUT/$BACKEND.png" "$BACKEND"
echo "soak: $OUT/$BACKEND.png"
