#!/usr/bin/env bash
# The configuration the package installs as /etc/mcp-audit/config.toml: the
# example with every default, serving on 127.0.0.1:8080 with its journal in
# /var/lib/mcp-audit/audit; checked by the command itself.
#   scripts/make-packaged-config.sh BINARY OUT
set -euo pipefail
binary=$1
out=$2
"$binary" config example |
  sed -e 's|^dir = "./var/audit"   |dir = "/var/lib/mcp-audit/audit"|' \
      -e 's|^listen = ""                |listen = "127.0.0.1:8080"  |' >"$out.new"
grep -q '^dir = "/var/lib/mcp-audit/audit"' "$out.new"
grep -q '^listen = "127.0.0.1:8080"' "$out.new"
"$binary" config check "$out.new" >/dev/null
mv "$out.new" "$out"
