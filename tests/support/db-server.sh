#!/usr/bin/env bash
# A throwaway PostgreSQL or MariaDB server on loopback for the database tests.
#   db-server.sh start postgres|mariadb DIR PORT   create (first time) and start; prints its URL
#   db-server.sh stop  postgres|mariadb DIR        stop it (the data stays for the next start)
#   db-server.sh destroy postgres|mariadb DIR      stop it and delete DIR
#   db-server.sh sql postgres|mariadb DIR PORT DB SQL   run SQL in database DB (as the user "audit")
# The server listens on 127.0.0.1:PORT only and asks for a password (in DIR/password);
# the user is "audit", the database "audit". Run as root, the server runs as the
# postgres or mysql user that Debian's packages create (neither runs as root).
set -euo pipefail

action=$1 kind=$2 dir=$3 port=${4:-} database=${5:-audit} sql=${6:-}

as_service_user() {
  if [[ $(id -u) == 0 ]]; then runuser -u "$service_user" -- "$@"; else "$@"; fi
}

case $kind in
  postgres)
    service_user=postgres
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    [[ -x $bin/postgres ]] || { echo "db-server: PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 2; }
    ;;
  mariadb)
    service_user=mysql
    command -v mariadbd >/dev/null || [[ -x /usr/sbin/mariadbd ]] ||
      { echo "db-server: MariaDB is not installed (apt-get install mariadb-server)" >&2; exit 2; }
    ;;
  *) echo "db-server: unknown server '$kind' (postgres or mariadb)" >&2; exit 2 ;;
esac

create() {
  mkdir -p "$dir"
  chmod 0700 "$dir"
  [[ $(id -u) == 0 ]] && chown "$service_user:" "$dir"
  as_service_user sh -c "umask 077; head -c 18 /dev/urandom | base64 | tr '+/' '-_' > '$dir/password'"
  case $kind in
    postgres)
      as_service_user "$bin/initdb" -D "$dir/data" -U audit --pwfile="$dir/password" \
        --auth-local=scram-sha-256 --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; exit 1; }
      ;;
    mariadb)
      as_service_user mariadb-install-db --no-defaults --datadir="$dir/data" --auth-root-authentication-method=socket \
        --skip-test-db >"$dir/install.log" 2>&1 || { cat "$dir/install.log" >&2; exit 1; }
      local password
      password=$(cat "$dir/password")
      as_service_user sh -c "umask 077; cat > '$dir/init.sql'" <<SQL
CREATE DATABASE IF NOT EXISTS audit CHARACTER SET utf8mb4;
CREATE USER IF NOT EXISTS 'audit'@'127.0.0.1' IDENTIFIED BY '$password';
GRANT ALL PRIVILEGES ON *.* TO 'audit'@'127.0.0.1';
SQL
      ;;
  esac
}

start() {
  [[ -n $port ]] || { echo "db-server: start needs a port" >&2; exit 2; }
  [[ -d $dir/data ]] || create
  case $kind in
    postgres)
      as_service_user "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=on" start >/dev/null
      # The database the tests use, created once (the user "audit" is the superuser).
      PGPASSWORD=$(cat "$dir/password") "$bin/psql" -h 127.0.0.1 -p "$port" -U audit -d postgres -qtAc \
        "SELECT 1 FROM pg_database WHERE datname='audit'" | grep -q 1 ||
        PGPASSWORD=$(cat "$dir/password") "$bin/createdb" -h 127.0.0.1 -p "$port" -U audit audit
      echo "postgres://audit@127.0.0.1:$port/audit"
      ;;
    mariadb)
      as_service_user sh -c "nohup mariadbd --no-defaults --datadir='$dir/data' --socket='$dir/mysqld.sock' \
        --pid-file='$dir/mysqld.pid' --port=$port --bind-address=127.0.0.1 --init-file='$dir/init.sql' \
        --log-error='$dir/server.log' >/dev/null 2>&1 &"
      for _ in $(seq 1 300); do
        if mariadb-admin --no-defaults -h 127.0.0.1 -P "$port" -u audit -p"$(cat "$dir/password")" ping \
          >/dev/null 2>&1; then
          echo "mysql://audit@127.0.0.1:$port/audit"
          return
        fi
        sleep 0.1
      done
      echo "db-server: MariaDB did not start; its log:" >&2
      tail -20 "$dir/server.log" >&2
      exit 1
      ;;
  esac
}

stop() {
  case $kind in
    postgres)
      [[ -f $dir/data/postmaster.pid ]] && as_service_user "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
      ;;
    mariadb)
      if [[ -f $dir/mysqld.pid ]]; then
        local pid
        pid=$(cat "$dir/mysqld.pid")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      fi
      ;;
  esac
  return 0
}

run_sql() {
  case $kind in
    postgres) PGPASSWORD=$(cat "$dir/password") "$bin/psql" -h 127.0.0.1 -p "$port" -U audit -d "$database" \
      -v ON_ERROR_STOP=1 -qtA -F $'\t' -c "$sql" ;;
    mariadb) mariadb --no-defaults -h 127.0.0.1 -P "$port" -u audit -p"$(cat "$dir/password")" -N -B \
      -e "$sql" "$database" ;;
  esac
}

case $action in
  start) start ;;
  sql) run_sql ;;
  stop) stop ;;
  destroy) stop; rm -rf "$dir" ;;
  *) echo "db-server: unknown action '$action' (start, stop, destroy, sql)" >&2; exit 2 ;;
esac
