#!/usr/bin/env bash
# Runs a command (the test suite, a benchmark) against the machine's own PostgreSQL and Redis:
# starts the streaming replica if it is not running, and names the services in the TEST_* variables the
# test harness reads. Variables already set win, so the same command works against any infrastructure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

export TEST_DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
export TEST_REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379}
if [ -z "${TEST_DATABASE_READ_URL:-}" ]; then
  bash "$here/pg-replica.sh" start
  export TEST_DATABASE_READ_URL=postgres://postgres@127.0.0.1:${REPLICA_PORT:-5433}/postgres
fi
exec "$@"
