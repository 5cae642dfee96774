#!/usr/bin/env bash
# Installs mcpaudit (the dev component: what mcp-audit-dev holds) into a scratch
# prefix, builds examples/custom_server against its core component with
# find_package(mcpaudit COMPONENTS core), checks that it links no database
# client, and that a call to its tool is audited in a signed journal that
# verifies; then that a sink type opens when its component is linked.
set -euo pipefail
build_dir=$1
source_dir=$(cd "$(dirname "$0")/../.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

cmake --install "$build_dir" --prefix "$scratch/prefix" --component dev >/dev/null
cmake -S "$source_dir/examples/custom_server" -B "$scratch/build" -G Ninja \
  -DCMAKE_PREFIX_PATH="$scratch/prefix" >/dev/null
cmake --build "$scratch/build" >/dev/null

# The core alone pulls in no database client, no libcurl, no SQLite.
needed=$(readelf -d "$scratch/build/custom_server" | grep NEEDED || true)
for library in libpq libmariadb libcurl libsqlite3 libz.so; do
  ! grep -q "$library" <<<"$needed" || { echo "custom_server (core only) needs $library: $needed" >&2; exit 1; }
done

# A sink type opens when its component is linked, and is refused by name when it is not.
for components in "" "sqlite"; do
  cmake -S "$source_dir/tests/cli/find_package_sinks" -B "$scratch/sinks-$components" -G Ninja \
    -DCMAKE_PREFIX_PATH="$scratch/prefix" -DSINK_COMPONENTS="$components" >/dev/null
  cmake --build "$scratch/sinks-$components" >/dev/null
done
said=$("$scratch/sinks-/open_sink" "sqlite://$scratch/store.db" || true)
[[ $said == "refused: sink store: sinks of type 'sqlite' are in the component mcpaudit::sqlite, which this program does not link" ]] ||
  { echo "core only, a sqlite sink: $said" >&2; exit 1; }
said=$("$scratch/sinks-sqlite/open_sink" "sqlite://$scratch/store.db")
[[ $said == "opened" && -f $scratch/store.db ]] || { echo "with mcpaudit::sqlite, a sqlite sink: $said" >&2; exit 1; }
said=$("$scratch/sinks-sqlite/open_sink" "postgres://audit@localhost/audit" || true)
[[ $said == *"component mcpaudit::postgres, which this program does not link"* ]] ||
  { echo "with mcpaudit::sqlite, a postgres sink: $said" >&2; exit 1; }

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
echo "find_package(mcpaudit COMPONENTS core) builds a server that links no database client, audits its call, and its signed journal verifies; sink components register their types"
