#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# The cost of a request that must fail, and the address space reserved at
# the first malloc, for Ferroc's libferroc.so and the peers, each preloaded
# into the same program (bench/failing_requests.c). Prints a markdown table
# of the median of REPS runs (default 3) per allocator.
#
#   bench/failing_requests.sh <libferroc.so> [REPS]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/peers.sh"

lib=${1:?usage: failing_requests.sh <libferroc.so> [reps]}
reps=${2:-3}
lib=$(cd "$(dirname "$lib")" && pwd)/$(basename "$lib")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cc -O2 -o "$work/failing_requests" "$here/failing_requests.c"

declare -A libs
peer_libs "$lib"
order=("${peer_names[@]}")

echo "| allocator | VmSize after the first malloc | VmRSS | malloc(SIZE_MAX - i): ns | faults | 64 GiB under a 1 GiB RLIMIT_AS: ns | faults | small pair alone: ns | errno not ENOMEM |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for name in "${order[@]}"; do
  preload=${libs[$name]}
  if [[ -n $preload && ! -f $preload ]]; then
    echo "| $name | (not installed) | | | | | | | |"
    continue
  fi
  : >"$work/runs"
  for ((r = 0; r < reps; ++r)); do
    LD_PRELOAD=$preload "$work/failing_requests" >>"$work/runs" || {
      echo "| $name | (failed) | | | | | | | |"
      continue 2
    }
  done
  # The median of each column; sizes in MiB.
  python3 - "$name" "$work/runs" <<'PY'
import statistics, sys
name, path = sys.argv[1], sys.argv[2]
rows = [list(map(float, line.split())) for line in open(path) if line.strip()]
med = [statistics.median(col) for col in zip(*rows)]
print(f"| {name} | {med[0] / 1024:.1f} MiB | {med[1] / 1024:.1f} MiB | {med[2]:.0f} | {med[3]:.2f} "
      f"| {med[4]:.0f} | {med[5]:.2f} | {med[6]:.1f} | {max(r[7] for r in rows):.0f} |")
PY
done
