#!/bin/sh
# CI check: recompiles the sources into a temporary directory with the pinned
# solc and fails if the committed artifacts in contracts/out/ differ.
# Needs: npm ci --prefix contracts
set -eu
cd "$(dirname "$0")"
if [ ! -d node_modules/solc ]; then
  echo "contracts/node_modules is missing: run 'npm ci --prefix contracts'" >&2
  exit 2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
node scripts/compile.js "$tmp"
if ! diff -r out "$tmp" >"$tmp.diff" 2>&1; then
  head -n 40 "$tmp.diff" >&2
  rm -f "$tmp.diff"
  echo "contracts/out/ does not match contracts/src/: run contracts/build.sh and commit contracts/out/" >&2
  exit 1
fi
rm -f "$tmp.diff"
echo "contracts/out/ matches contracts/src/ (solc $(node -p "require('./package.json').devDependencies.solc"))"
