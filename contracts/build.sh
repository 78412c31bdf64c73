#!/bin/sh
# Recompiles contracts/src/**/*.sol into contracts/out/ with the pinned solc.
# First time: npm ci --prefix contracts
set -eu
cd "$(dirname "$0")"
if [ ! -d node_modules/solc ]; then
  echo "contracts/node_modules is missing: run 'npm ci --prefix contracts'" >&2
  exit 2
fi
exec node scripts/compile.js out
