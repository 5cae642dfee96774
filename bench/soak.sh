#!/usr/bin/env bash
# The soak run (bench/soak.cc) and its chart: soak.png beside soak.csv.
#   bench/soak.sh SOAK_BINARY MCP_AUDIT_BINARY OUT_DIR MINUTES
set -euo pipefail
soak=$1
binary=$2
out=$3
minutes=$4
status=0
"$soak" "$binary" "$out" "$minutes" || status=$?
if [[ -s $out/soak.csv ]] && command -v gnuplot >/dev/null; then
  gnuplot <<PLOT
set terminal png size 1200,1000
set output "$out/soak.png"
set datafile separator ","
set key autotitle columnhead left top
set xlabel "seconds"
set grid
set multiplot layout 4,1 title "mcp-audit soak: $minutes min"
set ylabel "RSS (MiB)"
plot "$out/soak.csv" using 1:(\$2/1024) with lines lw 2 title "RSS"
set ylabel "count"
plot "$out/soak.csv" using 1:3 with lines lw 2 title "open fds", \
     "" using 1:4 with lines lw 2 title "threads"
set ylabel "backlog (MiB)"
plot "$out/soak.csv" using 1:(\$6/1048576) with lines lw 2 title "sqlite backlog", \
     "" using 1:(\$7/1048576) with lines lw 2 title "webhook backlog"
set ylabel "journal (MiB)"
plot "$out/soak.csv" using 1:(\$5/1048576) with lines lw 2 title "journal bytes"
unset multiplot
PLOT
  echo "chart: $out/soak.png"
fi
exit $status
