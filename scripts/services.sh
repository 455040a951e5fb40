#!/usr/bin/env bash
# Which external services the tests can reach here.
#   scripts/services.sh report   one line per service: used, or which tests are skipped
#   scripts/services.sh skips    `--skip NAME` arguments for tests whose service is missing
set -euo pipefail

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

case "${1:-report}" in
  report)
    if answers 6379; then
      echo "services: Redis at 127.0.0.1:6379 answers: readyz_checks_a_live_redis runs"
    else
      echo "services: SKIPPING readyz_checks_a_live_redis: nothing listens on 127.0.0.1:6379 (start redis-server to run it)"
    fi
    echo "services: PostgreSQL is not used yet (the PostgreSQL store is not built): no test needs it"
    ;;
  skips)
    answers 6379 || echo "--skip readyz_checks_a_live_redis"
    ;;
  *) echo "usage: $0 [report|skips]" >&2; exit 2 ;;
esac
