#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# What including Ferroc costs a file: compiles the files of bench/compile_time/
# with -O2 -c, header-only and with FERROC_SEPARATE_COMPILATION=1, with each
# compiler, REPS times interleaved, and prints a Markdown table of the median
# CPU time (user + system of the compiler and assembler) and of the object
# size, with each file's ratio to, and difference from, the std::allocator
# baseline. CPU time, not wall time: it does not count waiting for a busy
# machine's other work.
#
#   bench/compile_time.sh             # g++ and clang++, 5 repetitions
#   REPS=9 COMPILERS="g++" bench/compile_time.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
reps="${REPS:-5}"
compilers="${COMPILERS:-g++ clang++}"
src="$root/bench/compile_time"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cases=(
  "std_allocator|-|std::vector<int> (baseline)"
  "ferroc_allocator|header-only|\`<ferroc/ferroc.hpp>\`, ferroc::allocator"
  "ferroc_allocator|separate|\`<ferroc/ferroc.hpp>\`, ferroc::allocator"
  "allocator_header|header-only|\`<ferroc/global/allocator.hpp>\`, ferroc::allocator"
  "allocator_header|separate|\`<ferroc/global/allocator.hpp>\`, ferroc::allocator"
)

# measure <compiler> <file> <mode> -> "seconds bytes"
measure() {
  local cxx="$1" file="$2" mode="$3" flags=()
  [ "$mode" = separate ] && flags=(-DFERROC_SEPARATE_COMPILATION=1)
  local obj="$work/out.o"
  local t
  t=$({ /usr/bin/time -f "%U %S" "$cxx" -std=c++20 -O2 -I"$root/include" "${flags[@]}" \
    -c "$src/$file.cpp" -o "$obj" 2>&1 >/dev/null; } | tail -1)
  echo "$(awk '{printf "%.3f", $1 + $2}' <<<"$t") $(stat -c %s "$obj")"
}

for cxx in $compilers; do
  command -v "$cxx" >/dev/null || {
    echo "compile_time.sh: $cxx not found; skipped" >&2
    continue
  }
  : >"$work/$cxx.txt"
  for ((r = 1; r <= reps; r++)); do
    for i in "${!cases[@]}"; do
      IFS='|' read -r file mode _ <<<"${cases[$i]}"
      echo "$i $(measure "$cxx" "$file" "$mode")" >>"$work/$cxx.txt"
    done
  done
done

median() { sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

echo "Compile time of one file at -O2 (CPU seconds, median of $reps interleaved runs)"
echo
echo "| compiler | file | mode | seconds | vs std::allocator | object bytes |"
echo "|---|---|---|---:|---:|---:|"
for cxx in $compilers; do
  [ -f "$work/$cxx.txt" ] || continue
  base=$(awk '$1 == 0 {print $2}' "$work/$cxx.txt" | median)
  version=$("$cxx" --version | head -1 | sed 's/ (.*)//')
  for i in "${!cases[@]}"; do
    IFS='|' read -r _ mode label <<<"${cases[$i]}"
    sec=$(awk -v i="$i" '$1 == i {print $2}' "$work/$cxx.txt" | median)
    bytes=$(awk -v i="$i" '$1 == i {print $3}' "$work/$cxx.txt" | median)
    vs=$(awk -v s="$sec" -v b="$base" 'BEGIN {printf "%.2f× (%+.2f s)", s / b, s - b}')
    [ "$i" -eq 0 ] && vs="1.00×"
    echo "| $version | $label | $mode | $sec | $vs | $bytes |"
  done
done
