#!/usr/bin/env bash
# Installs mcpaudit (the dev component: what mcp-audit-dev holds) into a scratch
# prefix, builds examples/custom_server against it with find_package(mcpaudit),
# and checks that a call to its tool is audited in a signed journal that verifies.
set -euo pipefail
build_dir=$1
source_dir=$(cd "$(dirname "$0")/../.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

cmake --install "$build_dir" --prefix "$scratch/prefix" --component dev >/dev/null
cmake -S "$source_dir/examples/custom_server" -B "$scratch/build" -G Ninja \
  -DCMAKE_PREFIX_PATH="$scratch/prefix" >/dev/null
cmake --build "$scratch/build" >/dev/null

"$build_dir/mcp-audit" keygen --out "$scratch/keys" >/dev/null
reply=$(printf '%s\n' \
  '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"sh","version":"1"}}}' \
  '{"jsonrpc":"2.0","method":"notifications/initialized"}' \
  '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"greet","arguments":{"name":"Ada"}}}' |
  "$scratch/build/custom_server" "$scratch/audit" "$scratch/keys/audit-signing.key")
echo "$reply" | grep -q '"text":"Hello, Ada, from example-user"' || { echo "unexpected reply: $reply" >&2; exit 1; }
record=$(cat "$scratch/audit"/segment-*.jsonl | grep '"event_type":"tool_call"')
for expected in '"tool":"greet"' '"outcome":"success"' '"user":{"id":"example-user"}' \
                '"params":{"name":"Ada"}' '"resources":["urn:example:person:Ada"]'; do
  grep -qF "$expected" <<<"$record" || { echo "record lacks $expected: $record" >&2; exit 1; }
done
# The journal's start, the session's start, the call, the session's end, the journal's signed end.
types=$(cat "$scratch/audit"/segment-*.jsonl | grep -o '"event_type":"[a-z_]*"' | cut -d'"' -f4 | tr '\n' ' ')
[[ $types == "audit_started session_start tool_call session_end audit_stopped checkpoint " ]] ||
  { echo "unexpected records: $types" >&2; exit 1; }
"$build_dir/mcp-audit" verify --audit-dir "$scratch/audit" --pubkey "$scratch/keys/audit-signing.pub" >"$scratch/verify.txt" ||
  { echo "verify: $(cat "$scratch/verify.txt")" >&2; exit 1; }
grep -q 'signed' "$scratch/verify.txt" || { echo "verify checked no signature: $(cat "$scratch/verify.txt")" >&2; exit 1; }
echo "find_package(mcpaudit) build works, audits its call, and its signed journal verifies"
