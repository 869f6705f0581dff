#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# Instructions per malloc+free pair through the real malloc/free symbols,
# for Ferroc's libferroc.so and the peers, each preloaded into the same tiny
# C loop (bench/preload_loop.c). Callgrind counts instructions, so the
# numbers repeat exactly on a busy machine; the loop runs at two lengths and
# the difference is divided by the difference in pairs, which cancels
# start-up and the loop's set-up.
#
#   bench/preload_instr.sh <libferroc.so>
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/peers.sh"

lib=${1:?usage: preload_instr.sh <libferroc.so>}
lib=$(cd "$(dirname "$lib")" && pwd)/$(basename "$lib")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cc -O2 -o "$work/loop" "$here/preload_loop.c"

declare -A libs
peer_libs "$lib"
order=("${peer_names[@]}")

count() { # <preload> <mode> <ops> <size>
  LD_PRELOAD=$1 valgrind --tool=callgrind --callgrind-out-file=/dev/null \
    "$work/loop" "$2" "$3" "$4" 2>&1 | awk '/refs:/ { gsub(",", "", $4); print $4 }'
}

echo "| allocator | 32 B pair | 32 B batch | 256 B pair | 256 B batch |"
echo "| --- | ---: | ---: | ---: | ---: |"
for name in "${order[@]}"; do
  preload=${libs[$name]}
  if [[ -n $preload && ! -f $preload ]]; then
    echo "| $name | (not installed) | | | |"
    continue
  fi
  row="| $name"
  for size in 32 256; do
    for mode in pair batch; do
      # An allocator that does not run under valgrind gets a mark, not a number.
      if short=$(count "$preload" "$mode" 100000 "$size") &&
        long=$(count "$preload" "$mode" 200000 "$size") && [[ -n $short && -n $long ]]; then
        row+=" | $(((long - short) / 100000))"
      else
        row+=" | (fails under valgrind)"
      fi
    done
  done
  echo "$row |"
done
