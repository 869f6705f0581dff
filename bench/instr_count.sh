#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# Instructions per allocate + deallocate pair, counted by valgrind's callgrind.
#
#   bench/instr_count.sh [BIN_DIR]
#
# BIN_DIR holds `instr_count` (and `instr_count_mimalloc` when mimalloc was found, and
# `instr_count_stats`, the same built with FERROC_STAT=1: rows "+stat"); it defaults
# to build/release/bench. Each case runs twice, with N1 and N2 pairs; the difference of the two
# instruction totals (Ir) divided by N2 - N1 is the cost of one pair, free of start-up, warm-up
# and exit costs, which are the same in both runs. The loop control (3 instructions per pair, 8
# in batch mode) is included; the "net" columns subtract it (measured with `instr_count none`, the
# same loops without an allocator). Prints a markdown table: allocator x mode x size -> instructions
# per pair.
#
# Environment: N1, N2 (pair counts, multiples of 1000; default 100000 and 200000),
# SIZES (default "32 256"), TARGET (ferroc's budget at 32 B, default 40).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir="${1:-$root/build/release/bench}"
n1="${N1:-100000}"
n2="${N2:-200000}"
sizes="${SIZES:-32 256}"
target="${TARGET:-40}"

if ! command -v valgrind >/dev/null 2>&1; then
  echo "instr_count.sh: valgrind is not installed (apt-get install valgrind)" >&2
  exit 1
fi
if [[ ! -x "$bin_dir/instr_count" ]]; then
  echo "instr_count.sh: $bin_dir/instr_count not found; build the bench targets first" >&2
  exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# count <binary> <allocator> <mode> <pairs> <size> -> total Ir of the whole run
count() {
  local out="$work/callgrind.out"
  if ! valgrind --tool=callgrind --callgrind-out-file="$out" "$@" >"$work/log" 2>&1; then
    echo "instr_count.sh: failed: $*" >&2
    cat "$work/log" >&2
    return 1
  fi
  awk '/^(summary|totals):/ { print $2; exit }' "$out"
}

# per_pair <binary> <allocator> <mode> <size> -> instructions per pair, one decimal
per_pair() {
  local ir1 ir2
  ir1="$(count "$1" "$2" "$3" "$n1" "$4")"
  ir2="$(count "$1" "$2" "$3" "$n2" "$4")"
  awk -v a="$ir1" -v b="$ir2" -v d="$((n2 - n1))" 'BEGIN { printf "%.1f", (b - a) / d }'
}

allocators=(ferroc ferroc-global)
# The statistics build (instr_count_stats, FERROC_STAT=1) of the same loops.
if [[ -x "$bin_dir/instr_count_stats" ]]; then
  allocators+=(ferroc+stat ferroc-global+stat)
fi
allocators+=(glibc)
if [[ -x "$bin_dir/instr_count_mimalloc" ]]; then
  allocators+=(mimalloc)
else
  echo "(mimalloc not built: its rows are left out)" >&2
fi

# The measuring loops alone (no allocator): subtracted to give the "net" columns.
declare -A loop
for mode in pair batch; do
  for size in $sizes; do
    loop[$mode/$size]="$(per_pair "$bin_dir/instr_count" none "$mode" "$size")"
  done
done

header="| allocator | mode |"
rule="|---|---|"
for size in $sizes; do
  header+=" $size B | $size B net |"
  rule+="---:|---:|"
done
echo "Instructions per allocate + deallocate pair (callgrind; difference of runs with $n2 and"
echo "$n1 pairs). \"net\" subtracts the measuring loop itself (the \"loop only\" row)."
echo
echo "$header"
echo "$rule"
for mode in pair batch; do
  row="| loop only | $mode |"
  for size in $sizes; do
    row+=" ${loop[$mode/$size]} | - |"
  done
  echo "$row"
done
verdicts=()
for alloc in "${allocators[@]}"; do
  bin="$bin_dir/instr_count"
  [[ "$alloc" == mimalloc ]] && bin="$bin_dir/instr_count_mimalloc"
  [[ "$alloc" == *+stat ]] && bin="$bin_dir/instr_count_stats"
  for mode in pair batch; do
    row="| $alloc | $mode |"
    for size in $sizes; do
      value="$(per_pair "$bin" "${alloc%+stat}" "$mode" "$size")"
      net="$(awk -v v="$value" -v l="${loop[$mode/$size]}" 'BEGIN { printf "%.1f", v - l }')"
      row+=" $value | $net |"
      if [[ "$alloc" == ferroc && "$size" == 32 ]]; then
        verdicts+=("$(awk -v v="$value" -v n="$net" -v t="$target" -v m="$mode" '
          function verdict(x) {
            return x <= t ? "met" : sprintf("missed by %.1f (%.0f%%)", x - t, 100 * (x - t) / t)
          }
          BEGIN {
            printf "ferroc %s 32 B: %.1f instructions (%s), %.1f net of the loop (%s); target <= %d",
                   m, v, verdict(v), n, verdict(n), t
          }')")
      fi
    done
    echo "$row"
  done
done
echo
for v in "${verdicts[@]}"; do
  echo "$v"
done
