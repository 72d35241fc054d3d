#!/usr/bin/env bash
# A throwaway PostgreSQL for the tests: installs Debian's `postgresql` when no server
# binaries are present, starts (or reuses) a cluster under target/postgres (or, when the
# postgres OS user cannot reach the checkout, under the temp dir) on
# 127.0.0.1, and prints the line that exports its URL:
#
#   eval "$(scripts/postgres.sh)"      # sets WACONTACTS_TEST_POSTGRES_URL
#   scripts/postgres.sh stop           # stops the cluster
#
# The cluster trusts local connections and runs with fsync off: it holds test data
# only. As root, the server runs as the `postgres` OS user (initdb refuses root).
# PGPORT picks the port (default: one derived from this checkout's path, so two
# checkouts on one machine do not collide).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "postgres.sh: $*" >&2; }

find_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
  [[ -n "$dir" && -x "$dir/initdb" ]] && echo "$dir"
}

BIN=$(find_bin || true)
if [[ -z "$BIN" ]]; then
  log "no PostgreSQL server found: installing Debian's postgresql"
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >&2
  BIN=$(find_bin || true)
  [[ -n "$BIN" ]] || { log "installing postgresql gave no server binaries"; exit 1; }
fi

ROOT="$PWD/target/postgres"
PORT=${PGPORT:-$((54000 + $(printf %s "$ROOT" | cksum | cut -d" " -f1) % 1000))}
mkdir -p "$ROOT"

as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    # From /: the checkout may be a directory the postgres user cannot enter.
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}
if [[ $(id -u) -eq 0 ]]; then
  chown postgres: "$ROOT"
  if ! runuser -u postgres -- test -w "$ROOT"; then
    # A checkout under a private directory (/root is 0700): the server cannot reach
    # target/, so the cluster lives in a directory of its own under the temp dir, named
    # for this checkout (the port is derived from the same path, so it stays one cluster).
    ROOT="${TMPDIR:-/tmp}/wacontacts-postgres-$(printf %s "$PWD" | cksum | cut -d" " -f1)"
    log "the postgres user cannot reach target/ (a parent directory is not o+x): using $ROOT"
    mkdir -p "$ROOT" && chown postgres: "$ROOT" && chmod 700 "$ROOT"
  fi
  SUPERUSER=postgres
else
  SUPERUSER=$(id -un)
fi
DATA="$ROOT/data"

if [[ "${1:-}" == "stop" ]]; then
  [[ -f "$DATA/postmaster.pid" ]] && as_owner "$BIN/pg_ctl" -D "$DATA" -m fast stop >&2
  exit 0
fi

if [[ ! -f "$DATA/PG_VERSION" ]]; then
  log "creating a cluster in $DATA"
  as_owner "$BIN/initdb" -D "$DATA" -U "$SUPERUSER" --auth=trust --encoding=UTF8 \
    --locale=C >/dev/null
fi

if ! as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
  log "starting PostgreSQL on 127.0.0.1:$PORT"
  as_owner "$BIN/pg_ctl" -D "$DATA" -l "$ROOT/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -c unix_socket_directories=$ROOT \
        -c max_connections=300 -c fsync=off -c synchronous_commit=off \
        -c full_page_writes=off" start >&2 \
    || { log "PostgreSQL did not start; see $ROOT/server.log"; tail -n 20 "$ROOT/server.log" >&2; exit 1; }
fi

"$BIN/pg_isready" -h 127.0.0.1 -p "$PORT" -t 30 >/dev/null \
  || { log "PostgreSQL does not answer on 127.0.0.1:$PORT"; exit 1; }
echo "export WACONTACTS_TEST_POSTGRES_URL=postgres://$SUPERUSER@127.0.0.1:$PORT/postgres"
