#!/usr/bin/env bash
# The man page mcp-audit(1), made by help2man from the commands' own help:
# `mcp-audit --help`, then each command's.
#   scripts/make-manpage.sh BINARY OUT.1.gz
set -euo pipefail
binary=$(realpath "$1")
out=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ln -s "$binary" "$work/mcp-audit"  # so that the usage lines say `mcp-audit`
export PATH="$work:$PATH"
commands=$(mcp-audit --help | awk '/^Subcommands:/ {on = 1; next} on && /^  [a-z]/ {print $1}')
{
  echo '[COMMANDS]'
  for command in $commands; do
    echo ".SS $command"
    echo '.nf'
    mcp-audit "$command" --help | sed -e 's/\\/\\e/g' -e "s/^[.']/\\\\\\&&/"
    echo '.fi'
  done
  cat <<'FILES'
[FILES]
.TP
.I /etc/mcp-audit/config.toml
The configuration of the service (\fBmcp-audit config example\fR prints every key).
.TP
.I /var/lib/mcp-audit/audit
The journal: segment files (0600) and their hash chain, the shippers' cursors.
.TP
.I /usr/lib/systemd/system/mcp-audit.service
The unit: \fBsystemctl reload mcp-audit\fR re-reads the configuration.
[SEE ALSO]
The README of mcp-audit, section "Operating it".
FILES
} >"$work/include"
help2man --no-info --no-discard-stderr \
  --name "compliance-grade audit logging for MCP servers" \
  --include "$work/include" --output "$work/mcp-audit.1" mcp-audit
gzip -9n -c "$work/mcp-audit.1" >"$out"
