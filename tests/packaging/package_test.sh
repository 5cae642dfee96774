#!/usr/bin/env bash
# The Debian package as an operator meets it: `dpkg -i`, the service started
# as its unit starts it (no systemd here: the unit's ExecStart, as its User,
# with its UMask), calls made, the configuration reloaded, the package
# removed and purged, and the journal kept and verifiable throughout.
#   tests/packaging/package_test.sh BUILD_DIR
set -euo pipefail
build=$(realpath "$1")
if [[ $(id -u) != 0 ]]; then
  echo "SKIP: installing a package needs root" >&2
  exit 77
fi
# Never on a machine where mcp-audit lives: the test removes what it installs.
if dpkg-query -W -f='${Status}' mcp-audit 2>/dev/null | grep -q installed ||
  [[ -e /var/lib/mcp-audit || -e /etc/mcp-audit || -d /run/systemd/system ]] ||
  getent passwd mcp-audit >/dev/null; then
  echo "SKIP: this machine has mcp-audit's user, files or a running systemd; the test would touch them" >&2
  exit 77
fi
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
work=$(mktemp -d)
server=""
cleanup() {
  [[ -n $server ]] && kill -9 "$server" 2>/dev/null
  dpkg --purge mcp-audit >/dev/null 2>&1 || true
  rm -rf /var/lib/mcp-audit /etc/mcp-audit "$work"
  deluser --system mcp-audit >/dev/null 2>&1 || true
}
trap cleanup EXIT

(cd "$build" && cpack -G DEB >"$work/cpack.log") || fail "cpack: $(cat "$work/cpack.log")"
deb=$(ls "$build"/mcp-audit_*.deb)
dpkg -i "$deb" >"$work/dpkg.log" 2>&1 || fail "dpkg -i: $(cat "$work/dpkg.log")"

# What the package put in place.
[[ $(getent passwd mcp-audit | cut -d: -f7) == /usr/sbin/nologin ]] || fail "no system user mcp-audit"
[[ $(stat -c '%a %U' /var/lib/mcp-audit) == "700 mcp-audit" ]] ||
  fail "/var/lib/mcp-audit is $(stat -c '%a %U' /var/lib/mcp-audit)"
[[ $(stat -c '%a %U %G' /etc/mcp-audit/config.toml) == "640 root mcp-audit" ]] ||
  fail "/etc/mcp-audit/config.toml is $(stat -c '%a %U %G' /etc/mcp-audit/config.toml)"
zcat /usr/share/man/man1/mcp-audit.1.gz | grep -q '^\.SS reload' || fail "the man page lacks the reload command"
completed=$(bash -c 'source /usr/share/bash-completion/completions/mcp-audit
  COMP_WORDS=(mcp-audit verify --pu); COMP_CWORD=2; _mcp_audit; echo "${COMPREPLY[*]}"')
[[ $completed == --pubkey ]] || fail "completion of 'mcp-audit verify --pu' gave '$completed'"
unit=/usr/lib/systemd/system/mcp-audit.service
for line in User=mcp-audit ProtectSystem=strict ReadWritePaths=/var/lib/mcp-audit NoNewPrivileges=yes \
  PrivateTmp=yes CapabilityBoundingSet= UMask=0077; do
  grep -qx "$line" "$unit" || fail "the unit lacks $line"
done
if command -v systemd-analyze >/dev/null; then
  problems=$(systemd-analyze verify --man=no "$unit" 2>&1) || true
  [[ -z $problems ]] || fail "systemd-analyze verify: $problems"
fi

# The service as the unit starts it, on a port of its own (the operator edits the conffile).
sed -i 's|^listen = "127.0.0.1:8080"|listen = "127.0.0.1:0"   |' /etc/mcp-audit/config.toml
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
user=$(sed -n 's/^User=//p' "$unit")
(
  cd /
  umask "$(sed -n 's/^UMask=//p' "$unit")"
  exec setpriv --reuid="$user" --regid="$user" --init-groups --no-new-privs -- $exec_start
) >"$work/serve.log" 2>&1 &
server=$!
port=""
for _ in $(seq 300); do
  port=$(sed -n 's|.*endpoint: *http://127.0.0.1:\([0-9]*\).*|\1|p' "$work/serve.log")
  [[ -n $port ]] && break
  kill -0 "$server" 2>/dev/null || fail "the service did not start: $(cat "$work/serve.log")"
  sleep 0.1
done
[[ -n $port ]] || fail "the service printed no endpoint: $(cat "$work/serve.log")"
base=http://127.0.0.1:$port
[[ $(curl -s "$base/healthz") == '{"status":"alive"}' ]] || fail "/healthz"
curl -s -f "$base/readyz" | grep -q '"ready":true' || fail "/readyz: $(curl -s "$base/readyz")"

mcp=(-s -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream')
session=$(curl "${mcp[@]}" -D - -o /dev/null "$base/mcp" -d \
  '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"package-test","version":"1"}}}' |
  tr -d '\r' | sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: //p')
[[ -n $session ]] || fail "initialize gave no session"
curl "${mcp[@]}" -H "Mcp-Session-Id: $session" "$base/mcp" -d '{"jsonrpc":"2.0","method":"notifications/initialized"}' >/dev/null
answer=$(curl "${mcp[@]}" -H "Mcp-Session-Id: $session" "$base/mcp" -d \
  '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"catalog_search","arguments":{"query":"orders"}}}')
grep -q '"result"' <<<"$answer" || fail "tools/call: $answer"

# The operator's reload, as the service's user (as `systemctl reload` signals it).
setpriv --reuid="$user" --regid="$user" --init-groups -- /usr/bin/mcp-audit reload \
  --audit-dir /var/lib/mcp-audit/audit >"$work/reload.log" 2>&1 || fail "reload: $(cat "$work/reload.log")"
kill -TERM "$server"
wait "$server" || fail "the service did not stop cleanly: $(cat "$work/serve.log")"
server=""
find /var/lib/mcp-audit/audit -name '*.jsonl' | grep -q . || fail "no journal segment"
bad=$(find /var/lib/mcp-audit/audit -type f \( ! -user mcp-audit -o -perm /077 \) -print)
[[ -z $bad ]] || fail "audit files not private to mcp-audit: $bad"

# Removed, then purged: the journal stays, whole.
dpkg -r mcp-audit >"$work/dpkg.log" 2>&1 || fail "dpkg -r: $(cat "$work/dpkg.log")"
[[ ! -e /usr/bin/mcp-audit ]] || fail "dpkg -r left /usr/bin/mcp-audit"
dpkg --purge mcp-audit >"$work/dpkg.log" 2>&1 || fail "dpkg --purge: $(cat "$work/dpkg.log")"
"$build/mcp-audit" verify --audit-dir /var/lib/mcp-audit/audit >"$work/verify.log" 2>&1 ||
  fail "verify after purge: $(cat "$work/verify.log")"
calls=$("$build/mcp-audit" query --audit-dir /var/lib/mcp-audit/audit --tool catalog_search --format json | wc -l)
[[ $calls == 1 ]] || fail "the journal holds $calls records of the call, not 1"
grep -q '"event_type":"config_reload"' /var/lib/mcp-audit/audit/*.jsonl || fail "the reload left no record"
echo "the package installs, serves as its unit would, reloads, and leaves a journal that verifies"
