#!/usr/bin/env bash
# Store benchmarks: starts PostgreSQL and MariaDB on loopback (as the tests do),
# then runs store_bench against them and SQLite.
#   bench/store_bench.sh STORE_BENCH_BINARY [SCALE]
set -euo pipefail
binary=$1
scale=${2:-1}
root=$(cd "$(dirname "$0")/.." && pwd)
servers=$root/tests/support/db-server.sh
work=$(mktemp -d)
chmod 0711 "$work"  # the servers run as their own users
cleanup() {
  "$servers" destroy postgres "$work/postgres" || true
  "$servers" destroy mariadb "$work/mariadb" || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

export MCPAUDIT_BENCH_POSTGRES_URL MCPAUDIT_BENCH_MYSQL_URL
MCPAUDIT_BENCH_POSTGRES_URL=$("$servers" start postgres "$work/postgres" "$(free_port)")
MCPAUDIT_BENCH_MYSQL_URL=$("$servers" start mariadb "$work/mariadb" "$(free_port)")
export MCPAUDIT_BENCH_POSTGRES_PASSWORD_FILE=$work/postgres/password
export MCPAUDIT_BENCH_MYSQL_PASSWORD_FILE=$work/mariadb/password
"$binary" "$scale" "${3:-}"
