#!/usr/bin/env bash
# Runs every fuzz target: first over its committed corpus (each input once: a
# crash found before stays fixed), then for SECONDS of new inputs.
#   tests/fuzz/run-fuzz.sh BUILD_DIR SECONDS [grow]
# With "grow", new interesting inputs are added to tests/fuzz/corpus/<target>
# (`make fuzz`); otherwise they go to a scratch directory (`make test`).
# Prints the executions per target; exits 1 on the first crash, leaving the
# input in BUILD_DIR/fuzz-artifacts/.
set -euo pipefail
build=$1 seconds=$2 grow=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
artifacts=$build/fuzz-artifacts
mkdir -p "$artifacts"
export ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for fuzzer in "$build"/tests/fuzz/*_fuzz; do
  name=$(basename "$fuzzer" _fuzz)
  corpus=$here/corpus/$name
  scratch=$(mktemp -d)
  log=$artifacts/$name.log
  # -timeout: one input that takes longer is a hang, reported as a crash.
  flags=(-timeout=10 -rss_limit_mb=4096 -max_len=262144 -artifact_prefix="$artifacts/$name-" -print_final_stats=1)
  if ! "$fuzzer" "${flags[@]}" -runs=0 "$corpus" >"$log" 2>&1; then
    echo "fuzz $name: an input of the corpus fails:" >&2; tail -40 "$log" >&2; rm -rf "$scratch"; exit 1
  fi
  replayed=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  # A bundle of a few records fits in 20 KiB; larger inputs only slow the
  # search down (a few hundred executions a second instead of about 8000).
  fuzz_flags=()
  [[ $name == evidence_bundle ]] && fuzz_flags=(-max_len=20480)
  dirs=("$scratch" "$corpus")
  [[ $grow == grow ]] && dirs=("$corpus")
  if ! "$fuzzer" "${flags[@]}" "${fuzz_flags[@]}" -max_total_time="$seconds" "${dirs[@]}" >"$log" 2>&1; then
    echo "fuzz $name: crash (input in $artifacts):" >&2; tail -60 "$log" >&2; rm -rf "$scratch"; exit 1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  echo "fuzz $name: corpus of $(ls "$corpus" | wc -l) replayed ($replayed runs), then $runs executions in ${seconds} s, no crash"
  rm -rf "$scratch"
done
