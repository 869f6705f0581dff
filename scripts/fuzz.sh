#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# Builds the libFuzzer target fuzz_heap (clang, ASan + UBSan) in build/fuzz
# and fuzzes the Heap API for the given number of seconds (default 60),
# starting from the committed seed corpus tests/fuzz/corpus:
#
#   scripts/fuzz.sh                          # 60 seconds
#   scripts/fuzz.sh 600                      # ten minutes
#   scripts/fuzz.sh 300 fuzz_heap_checked    # Ferroc built in checked mode
#
# New inputs go to a temporary copy of the corpus, which is deleted at the
# end; the committed corpus is only read. A crash, leak or timeout leaves
# its input in build/fuzz/artifacts/ and makes the script exit non-zero;
# replay it with build/fuzz/tests/fuzz/fuzz_heap <file> (see
# tests/fuzz/README.md).
set -euo pipefail

seconds="${1:-60}"
target="${2:-fuzz_heap}"
case "$seconds" in
'' | *[!0-9]*)
  echo "usage: $0 [seconds=60] [fuzz_heap|fuzz_heap_checked]" >&2
  exit 2
  ;;
esac
case "$target" in
fuzz_heap | fuzz_heap_checked) ;;
*)
  echo "usage: $0 [seconds=60] [fuzz_heap|fuzz_heap_checked]" >&2
  exit 2
  ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

build=build/fuzz
artifacts="$root/$build/artifacts"

echo "==== configuring ${build} (clang++, FERROC_BUILD_FUZZ=ON) ===="
cmake -S . -B "$build" \
  -DCMAKE_C_COMPILER=clang \
  -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DFERROC_WARNINGS_AS_ERRORS=ON \
  -DFERROC_SANITIZE= \
  -DFERROC_BUILD_FUZZ=ON \
  -DFERROC_BUILD_BENCH=OFF \
  -DFERROC_BUILD_EXAMPLES=OFF
echo "==== building ${target} ===="
cmake --build "$build" --target "$target" -j2

fuzzer="$root/$build/tests/fuzz/$target"
work="$(mktemp -d "${TMPDIR:-/tmp}/ferroc-fuzz-corpus.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cp tests/fuzz/corpus/* "$work/"
mkdir -p "$artifacts"
log="$root/$build/$target.log"

echo "==== fuzzing ${target} for ${seconds} s (log: ${build}/${target}.log) ===="
status=0
"$fuzzer" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len=4096 \
  -artifact_prefix="$artifacts/" -print_final_stats=1 \
  "$work" tests/fuzz/corpus >"$log" 2>&1 || status=$?

# The last status line ("#N DONE cov: .. ft: .. corp: .. exec/s: ..": cov
# is the number of covered code edges, ft of features) and the final
# statistics.
echo "==== summary ===="
grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -n 1 || true
grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" || true
if [ "$status" -ne 0 ]; then
  # The report: from the first failed check or sanitizer message on.
  first="$(grep -n -m1 -E 'check failed|==[0-9]+==|runtime error|^ERROR|deadly signal' "$log" |
    cut -d: -f1 || true)"
  if [ -n "$first" ]; then
    tail -n "+$((first > 5 ? first - 5 : 1))" "$log" | head -n 120 >&2
  else
    tail -n 60 "$log" >&2
  fi
  echo "fuzz.sh: ${target} failed (exit status $status); inputs saved in ${build}/artifacts/:" >&2
  ls -l "$artifacts" >&2 || true
  exit "$status"
fi
echo "fuzz.sh: ${target}: no crash in ${seconds} s"
