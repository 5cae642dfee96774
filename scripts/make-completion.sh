#!/usr/bin/env bash
# Bash completion for mcp-audit, made from the commands' own help: the
# commands, then each command's options.
#   scripts/make-completion.sh BINARY OUT
set -euo pipefail
binary=$1
out=$2
commands=$("$binary" --help | awk '/^Subcommands:/ {on = 1; next} on && /^  [a-z]/ {print $1}')
{
  echo '# bash completion for mcp-audit (made from its --help)'
  echo '_mcp_audit() {'
  echo '  local cur=${COMP_WORDS[COMP_CWORD]} options=""'
  echo '  if ((COMP_CWORD == 1)); then'
  echo "    mapfile -t COMPREPLY < <(compgen -W \"$(echo $commands) --help --version\" -- \"\$cur\")"
  echo '    return'
  echo '  fi'
  echo '  case ${COMP_WORDS[1]} in'
  for command in $commands; do
    options=$("$binary" "$command" --help | grep -oE '^ +(-[a-zA-Z],)?--[a-z][a-z0-9-]*' |
      grep -oE -- '--[a-z][a-z0-9-]*' | sort -u | tr '\n' ' ')
    echo "    $command) options=\"${options% }\" ;;"
  done
  echo '  esac'
  echo '  if [[ $cur == -* ]]; then'
  echo '    mapfile -t COMPREPLY < <(compgen -W "$options" -- "$cur")'
  echo '  else'
  echo '    mapfile -t COMPREPLY < <(compgen -f -- "$cur")'
  echo '  fi'
  echo '}'
  echo 'complete -F _mcp_audit mcp-audit'
} >"$out"
