#!/usr/bin/env bash
# Which external services the tests can reach here.
#   scripts/services.sh report   one line per service: used, or which tests are skipped
#   scripts/services.sh skips    `--skip NAME` arguments for tests whose service is missing
#   scripts/services.sh postgres `skip` when PostgreSQL is missing (for HERALD_TEST_POSTGRES), else nothing
set -euo pipefail

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
netns_ok() { [ "$(id -u)" = 0 ] && command -v ip >/dev/null && ip netns list >/dev/null 2>&1; }

case "${1:-report}" in
  report)
    if answers 6379; then
      echo "services: Redis at 127.0.0.1:6379 answers: readyz_checks_a_live_redis runs"
    else
      echo "services: SKIPPING readyz_checks_a_live_redis: nothing listens on 127.0.0.1:6379 (start redis-server to run it)"
    fi
    if command -v redis-server >/dev/null; then
      echo "services: redis-server is installed: the shared-limit and cross-node live feed tests run Redis servers of their own"
    else
      echo "services: SKIPPING two_nodes_admit_together_what_one_bucket_allows, limits_fall_back_to_each_node_while_redis_is_down_and_share_again_after, the_live_feed_crosses_nodes_and_survives_a_redis_restart, nodes::redis_restart::redis_stopping_never_stops_delivery_and_what_it_shares_comes_back: redis-server is not installed"
    fi
    if netns_ok; then
      echo "services: network namespaces work here: nodes::netns::a_node_cut_off_from_postgres_is_taken_over_and_rejoins_without_duplicates runs"
    else
      echo "services: SKIPPING nodes::netns::a_node_cut_off_from_postgres_is_taken_over_and_rejoins_without_duplicates: network namespaces need root and iproute2 (ip netns)"
    fi
    if answers 5432; then
      echo "services: PostgreSQL at 127.0.0.1:5432 answers: the store conformance suite runs on SQLite and PostgreSQL (database herald_test, a schema per test), the HTTP suite runs a second time on PostgreSQL, and the several-node tests (nodes::) run herald processes on it"
    else
      echo "services: SKIPPING the PostgreSQL half of the store conformance suite, parity::both_schemas_have_the_same_tables_columns_and_indexes, differential::random_operations_leave_both_backends_alike and the HTTP suite's PostgreSQL run and the several-node tests (nodes::): nothing listens on 127.0.0.1:5432"
    fi
    ;;
  skips)
    answers 6379 || echo "--skip readyz_checks_a_live_redis"
    command -v redis-server >/dev/null || echo "--skip two_nodes_admit_together_what_one_bucket_allows --skip limits_fall_back_to_each_node_while_redis_is_down_and_share_again_after --skip the_live_feed_crosses_nodes_and_survives_a_redis_restart --skip redis_stopping_never_stops_delivery_and_what_it_shares_comes_back"
    netns_ok || echo "--skip a_node_cut_off_from_postgres_is_taken_over_and_rejoins_without_duplicates"
    answers 5432 || echo "--skip parity::both_schemas_have_the_same_tables_columns_and_indexes --skip differential:: --skip nodes::"
    ;;
  postgres)
    answers 5432 || echo "skip"
    ;;
  *) echo "usage: $0 [report|skips|postgres]" >&2; exit 2 ;;
esac
