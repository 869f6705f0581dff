#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# Wall time and peak RSS of real programs under each allocator (preloaded):
# glibc, Ferroc (libferroc.so), mimalloc, jemalloc, tcmalloc. Runs are
# interleaved (every allocator once, then again) so that drift of a busy
# machine spreads over all of them; the table shows medians.
#
#   bench/real_programs.sh <libferroc.so> [repetitions=5]
#
# Programs: python3 building a 1M-entry dict (PYTHONMALLOC=malloc, so every
# object goes through malloc), sqlite3 inserting and summing 300k rows,
# sort of 2M lines, git log -p of this repository, gcc -O2 -c of a
# generated 2000-function source file, and a C++ program (built here with
# g++ -O2) that fills and empties std::map, std::unordered_map, std::list and
# vectors of std::string. The table shows wall time, CPU time (user + system:
# steadier than wall time on a busy machine) and peak RSS.
# FERROC_BENCH_PEERS adds allocators (see peers.sh).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/peers.sh"

lib=${1:?usage: real_programs.sh <libferroc.so> [repetitions]}
reps=${2:-5}
lib=$(cd "$(dirname "$lib")" && pwd)/$(basename "$lib")
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
export LC_ALL=C

declare -A libs
peer_libs "$lib"
present=()
for n in "${peer_names[@]}"; do
  if [[ -z ${libs[$n]} || -f ${libs[$n]} ]]; then present+=("$n"); fi
done

# Inputs, made once.
awk 'BEGIN { srand(1); for (i = 0; i < 2000000; i++) printf "%d %x\n", int(rand() * 1e9), int(rand() * 1e9) }' >lines.txt
awk 'BEGIN { for (i = 0; i < 2000; i++) printf "int f%d(int x) { int s = 0; for (int i = 0; i < x; ++i) s += i * %d ^ (s >> 3); return s; }\n", i, i }' >big.c
cat >containers.cpp <<'CXX'
#include <cstdio>
#include <list>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>
int main() {
  unsigned long sum = 0;
  for (int round = 0; round < 4; ++round) {
    std::map<std::string, std::vector<int>> tree;
    std::unordered_map<long, std::string> table;
    std::list<std::string> chain;
    for (long i = 0; i < 300000; ++i) {
      std::string key = "key-" + std::to_string(i * 7919 % 1000003);
      tree[key].push_back(static_cast<int>(i));
      table.emplace(i * 31, key + key);
      if (i % 3 == 0) chain.push_back(key);
      if (i % 5 == 0) table.erase((i / 2) * 31);
    }
    for (auto const& [k, v] : tree) sum += k.size() + v.size();
    for (auto const& [k, v] : table) sum += v.size();
    chain.sort();
    sum += chain.front().size();
  }
  std::printf("%lu\n", sum);
}
CXX
if command -v g++ >/dev/null; then g++ -O2 -o containers containers.cpp; fi

declare -A programs=(
  [python]="PYTHONMALLOC=malloc /usr/bin/python3 -c 'd = {i: str(i) * 3 for i in range(1000000)}; print(sum(len(v) for v in d.values()))'"
  [sqlite]="sqlite3 :memory: 'CREATE TABLE t(a INTEGER, b TEXT); BEGIN; WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000) INSERT INTO t SELECT x, hex(randomblob(16)) FROM c; COMMIT; SELECT sum(a), count(DISTINCT b) FROM t;'"
  [sort]="sort lines.txt | md5sum"
  [git]="git -C '$repo' log -p | md5sum"
  [gcc]="gcc -O2 -c big.c -o big.o"
  [containers]="./containers"
)
order=(python sqlite sort git gcc containers)
command -v /usr/bin/python3 >/dev/null || unset 'programs[python]'
command -v sqlite3 >/dev/null || unset 'programs[sqlite]'
git -C "$repo" rev-parse >/dev/null 2>&1 || unset 'programs[git]'
[[ -x containers ]] || unset 'programs[containers]'

declare -A times cpu rss
total=$((${#order[@]} * reps * ${#present[@]}))
done_runs=0
for prog in "${order[@]}"; do
  [[ -n ${programs[$prog]:-} ]] || continue
  for ((r = 0; r < reps; r++)); do
    for n in "${present[@]}"; do
      done_runs=$((done_runs + 1))
      printf '\r  run %d/%d: %-7s %-9s' "$done_runs" "$total" "$prog" "$n" >&2
      read -r wall user sys kib < <({ LD_PRELOAD=${libs[$n]} /usr/bin/time -f '%e %U %S %M' bash -c "${programs[$prog]}" >/dev/null; } 2>&1 | tail -n 1)
      times[$prog,$n]+="$wall "
      cpu[$prog,$n]+="$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }') "
      rss[$prog,$n]+="$kib "
    done
  done
done
echo >&2

median() { tr ' ' '\n' | grep . | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

header="| program |"
sep="| --- |"
for n in "${present[@]}"; do header+=" $n s | cpu s | MiB |"; sep+=" ---: | ---: | ---: |"; done
echo "$header"
echo "$sep"
for prog in "${order[@]}"; do
  [[ -n ${programs[$prog]:-} ]] || continue
  row="| $prog |"
  for n in "${present[@]}"; do
    t=$(echo "${times[$prog,$n]}" | median)
    c=$(echo "${cpu[$prog,$n]}" | median)
    m=$(echo "${rss[$prog,$n]}" | median)
    row+=" $t | $c | $(awk -v k="$m" 'BEGIN { printf "%.0f", k / 1024 }') |"
  done
  echo "$row"
done
