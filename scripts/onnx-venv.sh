#!/usr/bin/env bash
# Installs onnxruntime and onnx (pinned in tools/onnx-requirements.txt, from
# PyPI) into a virtual environment under target/onnx-venv, for the inference
# differential tests, and prints the variable they read:
#
#   eval "$(scripts/onnx-venv.sh)"   # exports VERIFLOP_TEST_PYTHON
#   cargo test -p veriflop-infer
#
# Needs python3 with venv (on Debian, python3-venv). Status messages go to
# stderr; stdout holds only the `export` line.
set -euo pipefail
cd "$(dirname "$0")/.."

REQ=tools/onnx-requirements.txt
VENV=${VERIFLOP_ONNX_VENV:-$PWD/target/onnx-venv}
STAMP="$VENV/.requirements"

if ! cmp -s "$REQ" "$STAMP" 2>/dev/null; then
    echo "onnx-venv: installing $(grep -v '^#' "$REQ" | tr '\n' ' ')from PyPI into $VENV" >&2
    rm -rf "$VENV"
    python3 -m venv "$VENV" >&2
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQ" >&2
    cp "$REQ" "$STAMP"
fi
echo "export VERIFLOP_TEST_PYTHON=$VENV/bin/python"
