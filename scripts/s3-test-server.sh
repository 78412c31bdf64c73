#!/usr/bin/env bash
# Starts a throwaway S3-compatible server (moto, pinned, from PyPI) on a
# loopback port for the blob-store tests, with an empty bucket, and prints the
# variables the tests read:
#
#   eval "$(scripts/s3-test-server.sh)"   # start; exports VERIFLOP_TEST_S3_URL, VERIFLOP_TEST_S3_ENDPOINT
#   cargo test -p veriflop-prover --test market s3
#   scripts/s3-test-server.sh stop        # stop it
#
# moto is installed the first time into a virtual environment under
# target/s3-test-venv (python3 with venv; on Debian, python3-venv). Port:
# $VERIFLOP_S3_PORT or 54330. Status messages go to stderr; stdout holds only
# the `export` lines.
set -euo pipefail
cd "$(dirname "$0")/.."

MOTO_VERSION=5.2.5
VENV=${VERIFLOP_S3_VENV:-$PWD/target/s3-test-venv}
STATE_FILE=${VERIFLOP_S3_STATE_FILE:-/tmp/veriflop-s3-test-server.pid}
PORT=${VERIFLOP_S3_PORT:-54330}
BUCKET=veriflop-test

if [ "${1:-start}" = stop ]; then
    pid=$(cat "$STATE_FILE" 2>/dev/null || true)
    if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
        echo "s3-test-server: stopped" >&2
    else
        echo "s3-test-server: nothing to stop" >&2
    fi
    rm -f "$STATE_FILE"
    exit 0
fi

if [ ! -x "$VENV/bin/moto_server" ]; then
    echo "s3-test-server: installing moto[server]==$MOTO_VERSION from PyPI into $VENV" >&2
    rm -rf "$VENV"
    python3 -m venv "$VENV" >&2
    "$VENV/bin/pip" install -q --disable-pip-version-check "moto[server]==$MOTO_VERSION" >&2
fi

LOG=$(mktemp /tmp/veriflop-s3.XXXXXX.log)
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$LOG" 2>&1 &
echo $! >"$STATE_FILE"
# Ready once the bucket can be made (moto takes any credentials).
for i in $(seq 1 150); do
    if "$VENV/bin/python" - "$PORT" "$BUCKET" 2>/dev/null <<'PY'; then
import sys, urllib.request
port, bucket = sys.argv[1], sys.argv[2]
urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/{bucket}", method="PUT"), timeout=2)
PY
        break
    fi
    if [ "$i" = 150 ]; then
        echo "s3-test-server: moto did not start:" >&2
        cat "$LOG" >&2
        exit 1
    fi
    sleep 0.2
done
echo "s3-test-server: S3 (moto $MOTO_VERSION) on 127.0.0.1:$PORT, bucket $BUCKET (stop: $0 stop)" >&2
echo "export VERIFLOP_TEST_S3_URL=s3://$BUCKET"
echo "export VERIFLOP_TEST_S3_ENDPOINT=http://127.0.0.1:$PORT"
