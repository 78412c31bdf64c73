#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster for the verifier's PostgreSQL tests,
# on a temporary directory and a loopback port, and prints the variables the
# tests read:
#
#   eval "$(scripts/pg-test-server.sh)"      # start; exports VERIFLOP_TEST_PG_URL
#   cargo test -p veriflop-service
#   scripts/pg-test-server.sh stop           # stop it and delete its directory
#
# Needs the Debian package `postgresql` (apt-get install -y postgresql), or any
# PostgreSQL >= 14 whose initdb/pg_ctl are on PATH or in /usr/lib/postgresql/*/bin.
# Runs the server as the `postgres` user when started as root. Port: $PGPORT or 54329.
# Status messages go to stderr; stdout holds only the `export` lines.
set -euo pipefail

find_bin() {
    if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
        dirname "$(command -v pg_ctl)"
        return
    fi
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -z "$d" ] || [ ! -x "$d/pg_ctl" ]; then
        echo "pg-test-server: PostgreSQL not found; install it: apt-get update && apt-get install -y postgresql" >&2
        exit 1
    fi
    echo "$d"
}

BIN=$(find_bin)
STATE_FILE=${VERIFLOP_PG_STATE_FILE:-/tmp/veriflop-pg-test-server.dir}

as_pg() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

if [ "${1:-start}" = stop ]; then
    DIR=${2:-$(cat "$STATE_FILE" 2>/dev/null || true)}
    if [ -n "$DIR" ] && [ -d "$DIR/data" ]; then
        as_pg "$BIN/pg_ctl" -D "$DIR/data" -m immediate stop >&2 || true
        rm -rf "$DIR"
        rm -f "$STATE_FILE"
        echo "pg-test-server: stopped and removed $DIR" >&2
    else
        echo "pg-test-server: nothing to stop" >&2
    fi
    exit 0
fi

PORT=${PGPORT:-54329}
if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --no-create-home postgres
fi
DIR=$(mktemp -d /tmp/veriflop-pg.XXXXXX)
chmod 755 "$DIR"
[ "$(id -u)" = 0 ] && chown postgres "$DIR"
as_pg "$BIN/initdb" -D "$DIR/data" -U veriflop -A trust --no-sync -E UTF8 >"$DIR/initdb.log" 2>&1 || {
    cat "$DIR/initdb.log" >&2
    exit 1
}
as_pg "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
    -o "-k $DIR -p $PORT -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off -c synchronous_commit=off" \
    start >&2 || {
    cat "$DIR/server.log" >&2
    exit 1
}
echo "$DIR" >"$STATE_FILE"
echo "pg-test-server: PostgreSQL on 127.0.0.1:$PORT, data in $DIR (stop: $0 stop)" >&2
echo "export VERIFLOP_TEST_PG_URL=postgres://veriflop@127.0.0.1:$PORT/postgres"
echo "export VERIFLOP_TEST_PG_DIR=$DIR"
