#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# Builds Ferroc in Release (build/release), runs the examples, the micro benchmarks against
# glibc malloc and mimalloc, the instruction counts, the real programs and the benchmark suite
# (bench/suite.py: the workload programs of bench/workloads under every allocator), and prints
# the result tables.
#
#   scripts/bench.sh               # 5 repetitions per benchmark, medians reported (about an
#                                  # hour on 2 cores, most of it the suite)
#   scripts/bench.sh --quick       # 1 short repetition and short instruction counts (smoke test)
#   scripts/bench.sh --suite-only  # only the build and the benchmark suite
#   scripts/bench.sh --out DIR     # the suite's CSV, table and plots into DIR
#
# The tables are also written to build/release/bench/results.md; the suite's CSV, table and
# plots go to build/release/bench/results/ (with --quick to build/release/bench/results-quick/),
# outside the committed report. `--out bench/results` publishes a run into the report: the
# figures that bench/RESULTS.md and README.md show.
set -euo pipefail

usage() {
  sed -n '4,20s/^# \{0,1\}//p' "$0"
}

quick=0
suite_only=0
out=
while [ $# -gt 0 ]; do
  case "$1" in
  --quick) quick=1 ;;
  --suite-only) suite_only=1 ;;
  --out)
    [ $# -ge 2 ] || {
      echo "bench.sh: --out needs a folder" >&2
      exit 2
    }
    out="$2"
    shift
    ;;
  --out=*) out="${1#--out=}" ;;
  -h | --help)
    usage
    exit 0
    ;;
  *)
    echo "bench.sh: unknown option '$1'" >&2
    usage >&2
    exit 2
    ;;
  esac
  shift
done

# A relative --out is relative to where the command runs, not to the repository.
if [ -n "$out" ] && [ "${out#/}" = "$out" ]; then
  out="$PWD/$out"
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if [ -x "$root/scripts/setup.sh" ]; then
  "$root/scripts/setup.sh"
fi

build="build/release"
jobs=2

echo "==== configure and build $build ===="
cmake -S . -B "$build" \
  -DCMAKE_BUILD_TYPE=Release \
  -DFERROC_BUILD_TESTS=OFF \
  -DFERROC_BUILD_BENCH=ON \
  -DFERROC_BUILD_EXAMPLES=ON \
  -DFERROC_SANITIZE=
cmake --build "$build" -j"$jobs"

if [ "$suite_only" -eq 0 ]; then
  echo
  echo "==== examples ===="
  # Each example checks its own results; `set -e` stops here when one fails.
  examples=(
    "basic 1000"
    "static_region 1024"
    "embedded"
    "threads 4 10000"
    "custom_global 2 2000"
    "exchange 2 200 32"
    "random 10000 100 1"
    "stress 4 5 3"
    "containers 5000"
    "pmr 5000"
  )
  for example in "${examples[@]}"; do
    read -r -a argv <<<"$example"
    if [ -x "$build/examples/${argv[0]}" ]; then
      "$build/examples/${argv[0]}" "${argv[@]:1}"
    fi
  done
fi

# A --quick run's figures say what they are, in every heading of the tables and at the top.
smoke=
mark=
if [ "$quick" -eq 1 ]; then
  smoke="SMOKE RUN (--quick: 1 short repetition of each benchmark, the suite at scale 1) — not a measurement"
  mark=" — smoke run"
fi

results="$build/bench/results.md"
{
  if [ -n "$smoke" ]; then
    echo "# $smoke"
    echo
    echo "These figures show that every benchmark runs, not how fast: run \`scripts/bench.sh\`"
    echo "without --quick to measure."
    echo
  fi
  echo "## Machine"
  echo
  model="$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)"
  mem_kib="$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo 2>/dev/null || true)"
  os="$( (. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-}") || true)"
  cxx_version="$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt" | head -n 1)"
  echo "- CPU: ${model:-unknown}, $(nproc) cores"
  if [ -n "$mem_kib" ]; then
    echo "- memory: $(awk -v k="$mem_kib" 'BEGIN { printf "%.1f", k / 1048576 }') GiB (MemTotal)"
  fi
  echo "- OS: ${os:-$(uname -s)}, $(uname -m)"
  echo "- compiler: $("${cxx_version:-c++}" --version | head -n 1), CMAKE_BUILD_TYPE=Release"
  echo "- date: $(date -u +%Y-%m-%d)"
  if [ -r /proc/loadavg ]; then
    echo "- load average (1, 5, 15 min) before the benchmarks: $(cut -d' ' -f1-3 /proc/loadavg)"
  fi
  echo
} >"$results"

if [ "$suite_only" -eq 0 ]; then
  if [ -x "$build/bench/bench_micro" ]; then
    echo
    echo "==== micro benchmarks ===="
    if [ "$quick" -eq 1 ]; then
      bench_args=(--benchmark_repetitions=1 --benchmark_min_time=0.01)
    else
      bench_args=(--benchmark_repetitions=5 --benchmark_report_aggregates_only=true)
    fi
    jsons=()
    for exe in bench_micro bench_micro_mimalloc; do
      [ -x "$build/bench/$exe" ] || continue
      echo "running $exe (console output in $build/bench/$exe.txt)"
      "$build/bench/$exe" "${bench_args[@]}" \
        --benchmark_out="$build/bench/$exe.json" --benchmark_out_format=json \
        >"$build/bench/$exe.txt" 2>&1
      jsons+=("$build/bench/$exe.json")
    done
    {
      echo "## Time per allocate + deallocate pair${mark}"
      echo
      python3 "$root/bench/report.py" "${jsons[@]}"
      echo
    } >>"$results"
    if [ -x "$build/bench/bench_containers" ]; then
      echo "running bench_containers"
      {
        echo "## Standard containers (ferroc::allocator / ferroc::resource() vs std::allocator / new_delete_resource)${mark}"
        echo
        echo '```'
        "$build/bench/bench_containers" "${bench_args[@]}" 2>&1 | grep -E '^(Benchmark|[a-z_]+.*(median|_mean|ns))' |
          grep -v -E '_(mean|stddev|cv)' || true
        echo '```'
        echo
      } >>"$results"
    fi
  else
    echo "bench.sh: no micro benchmarks (Google Benchmark missing); skipping" >&2
  fi

  if command -v valgrind >/dev/null 2>&1; then
    echo
    echo "==== instruction counts (callgrind) ===="
    instr_env=()
    if [ "$quick" -eq 1 ]; then
      instr_env=(N1=10000 N2=20000)
    fi
    {
      echo "## Instructions per allocate + deallocate pair${mark}"
      echo
      env "${instr_env[@]}" "$root/bench/instr_count.sh" "$build/bench"
      echo
    } >>"$results"
  else
    echo "bench.sh: valgrind missing; skipping the instruction counts" >&2
  fi

  # The drop-in library: instructions per malloc+free through the real symbols,
  # and real programs, each beside glibc, mimalloc, jemalloc and tcmalloc.
  if [ -f "$build/libferroc.so" ]; then
    if command -v valgrind >/dev/null 2>&1; then
      echo
      echo "==== malloc + free through LD_PRELOAD (callgrind) ===="
      {
        echo "## Instructions per malloc + free pair, preloaded${mark}"
        echo
        "$root/bench/preload_instr.sh" "$build/libferroc.so"
        echo
      } >>"$results"
    fi
    echo
    echo "==== failing requests, address space at the first malloc ===="
    fail_reps=3
    [ "$quick" -eq 1 ] && fail_reps=1
    {
      echo "## Failing requests and the first malloc's address space, preloaded (median of $fail_reps)${mark}"
      echo
      "$root/bench/failing_requests.sh" "$build/libferroc.so" "$fail_reps"
      echo
    } >>"$results"
    echo
    echo "==== real programs ===="
    reps=5
    [ "$quick" -eq 1 ] && reps=1
    {
      echo "## Real programs, preloaded (median of $reps: wall seconds, peak RSS MiB)${mark}"
      echo
      "$root/bench/real_programs.sh" "$build/libferroc.so" "$reps"
      echo
    } >>"$results"
  fi
fi

# The benchmark suite: the workload programs under every allocator. Its plots need matplotlib;
# Debian's python3-matplotlib belongs to the system python3, which may not be the first python3
# on PATH.
echo
echo "==== benchmark suite ===="
suite_status=0
if [ ! -d "$root/bench/workloads" ] || [ ! -d "$build/bench/workloads" ]; then
  echo "bench.sh: no workload programs (bench/workloads); skipping the benchmark suite" >&2
else
  python=python3
  if ! python3 -c 'import matplotlib' >/dev/null 2>&1 && [ -x /usr/bin/python3 ] &&
    /usr/bin/python3 -c 'import matplotlib' >/dev/null 2>&1; then
    python=/usr/bin/python3
  fi
  suite_args=(--build "$build" --append-table "$results")
  if [ "$quick" -eq 1 ]; then
    suite_args+=(--quick)
  fi
  if [ -n "$out" ]; then
    suite_args+=(--out "$out")
  fi
  # Progress goes to stderr; the tables (stdout) are in $results and printed below.
  "$python" "$root/bench/suite.py" "${suite_args[@]}" >/dev/null || suite_status=$?
fi

echo
echo "==== results (also in $results) ===="
echo
cat "$results"
if [ -n "$smoke" ]; then
  echo
  echo "bench.sh: $smoke"
fi
if [ "$suite_status" -ne 0 ]; then
  echo "bench.sh: the benchmark suite failed (status $suite_status; failed runs are listed above)" >&2
  exit "$suite_status"
fi
