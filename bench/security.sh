#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# How many of mimalloc-bench's security test programs (its folder bench/security) each
# allocator stops before they print "NOT_CAUGHT", with the allocator preloaded into every
# program: Ferroc (libferroc.so, and libferroc-checked.so when it lies beside it), mimalloc,
# jemalloc, tcmalloc and glibc. A benchmark of what the allocators detect, not a test: CI
# does not run it.
#
#   bench/security.sh [options] path/to/mimalloc-bench    # or MIMALLOC_BENCH_DIR=path
#
#   --ferroc LIB       Ferroc's drop-in library (default build/release/libferroc.so, built
#                      first in Release with its checked twin, as scripts/bench.sh builds it)
#   --lib NAME=LIB     one more allocator column, preloaded from LIB (repeatable), e.g.
#                      --lib ferroc-secure=build/release/libferroc-secure.so
#   --allocators A,B   only these columns (default: all that are present)
#   --out FILE         the tables (default build/security/results.md)
#   --build DIR        the programs and the logs (default build/security)
#   --timeout SECONDS  per run (default 10)
#   --jobs N           runs at once (default: the number of cores)
#
# The programs are not part of this repository: get mimalloc-bench with
# `git clone https://github.com/daanx/mimalloc-bench` and pass the checkout (or its
# bench/security folder). They are built out of tree, in --build, as mimalloc-bench's
# CMakeLists.txt builds them: every *.c three times, with -DALLOCATION_SIZE=8, 4096 and
# 256*1024 (<name>_small, _medium, _large) and -Wno-free-nonheap-object -fno-inline
# -fno-builtin-inline -fno-inline-small-functions -fno-ipa-pure-const; every *.cc once, as
# <name>, with -std=c++17 -fsized-deallocation -DALLOCATION_SIZE=4096. mimalloc-bench
# configures that folder without a build type, which its bench/CMakeLists.txt turns into
# Release, so all of them get CMake's Release flags, -O3 -DNDEBUG, and -w (its other -Wno-*
# flags only silence warnings too). The compilers are gcc and g++ ($CC and $CXX override).
#
# A program counts as stopped ("caught") when its stdout lacks NOT_CAUGHT: the allocator
# aborted it, it crashed, or it ended without printing it (impossibly_large_malloc when
# malloc fails, the reuse and zeroing checks when they hold, read/write_zero_size when
# malloc(0) returns NULL). A run that times out without having printed NOT_CAUGHT counts as
# stopped too, and is shown as "timeout" (a hang, e.g. in a corrupted free list). This is
# the rule of mimalloc-bench's bench.sh ("[+]" there), whose timeout is 1 s. Each run has
# stdin from /dev/null; its stderr goes to <build>/logs/<allocator>/<program>.log, whose
# last line is the verdict. Some outcomes depend on the address layout, which ASLR changes from
# run to run: freeing a stack address (invalid_free_stack, invalid_free_alloca) under
# Debian's mimalloc 2.0 crashes in some runs and passes in others.
#
# Output, in --out: the summary per allocator ("name: N of M stopped", and per kind: double
# free, invalid free (including mismatched new/delete[] and sized delete), overflow/underflow,
# use after free (write_after_free*, zero_after_free), zero size, reuse (malloc_reuse*,
# realloc_reuse), other (executable_heap, impossibly_large_malloc, zero_on_malloc)), then the
# table of every program under every allocator. The summary is printed on stdout as well.
# Allocators whose library is missing are skipped with a note; FERROC_BENCH_PEERS adds
# peers (see peers.sh).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/peers.sh"

usage() {
  awk 'NR > 3 && /^#/ { sub(/^# ?/, ""); print; next } NR > 3 { exit }' "${BASH_SOURCE[0]}"
}
die() {
  echo "security.sh: $*" >&2
  exit 2
}
# A path given on the command line is relative to where the command runs.
absolute() {
  case $1 in
  /*) echo "$1" ;;
  *) echo "$PWD/$1" ;;
  esac
}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ferroc=
extra=()
only=
out=
build=
timeout_s=10
jobs=$(nproc 2>/dev/null || echo 2)
mbench=${MIMALLOC_BENCH_DIR:-}
while [ $# -gt 0 ]; do
  case $1 in
  --ferroc | --lib | --allocators | --out | --build | --timeout | --jobs)
    [ $# -ge 2 ] || die "$1 needs a value"
    opt=$1 val=$2
    shift
    ;;
  --*=*) opt=${1%%=*} val=${1#*=} ;;
  -h | --help)
    usage
    exit 0
    ;;
  -*) die "unknown option '$1' (--help lists them)" ;;
  *)
    mbench=$1
    shift
    continue
    ;;
  esac
  case $opt in
  --ferroc) ferroc=$(absolute "$val") ;;
  --lib)
    [[ $val == ?*=?* ]] || die "--lib wants NAME=path/lib.so, not '$val'"
    extra+=("${val%%=*}=$(absolute "${val#*=}")")
    ;;
  --allocators) only=$val ;;
  --out) out=$(absolute "$val") ;;
  --build) build=$(absolute "$val") ;;
  --timeout) timeout_s=$val ;;
  --jobs) jobs=$val ;;
  *) die "unknown option '$opt' (--help lists them)" ;;
  esac
  shift
done
[[ $timeout_s =~ ^[0-9]+$ && $timeout_s -gt 0 ]] || die "--timeout wants whole seconds"
[[ $jobs =~ ^[0-9]+$ && $jobs -gt 0 ]] || die "--jobs wants a positive number"

[ -n "$mbench" ] ||
  die "usage: bench/security.sh [options] path/to/mimalloc-bench (get it with git clone https://github.com/daanx/mimalloc-bench; --help for the options)"
src=$(absolute "$mbench")
if [ ! -f "$src/common.h" ]; then
  src=$src/bench/security
fi
if [ ! -f "$src/CMakeLists.txt" ] || [ ! -f "$src/common.h" ]; then
  die "no bench/security folder with CMakeLists.txt and common.h in '$mbench'"
fi

cd "$root"
build=${build:-$root/build/security}
out=${out:-$build/results.md}
mkdir -p "$build/bin" "$build/logs" "$(dirname "$out")"

# ---------------------------------------------------------------------------
# The allocators
# ---------------------------------------------------------------------------

if [ -z "$ferroc" ]; then
  # As scripts/bench.sh: the Release build in build/release (configured here only if
  # nothing configured it yet), brought up to date.
  rel=$root/build/release
  if [ ! -f "$rel/CMakeCache.txt" ]; then
    echo "==== configure $rel (Release) ====" >&2
    cmake -S "$root" -B "$rel" -DCMAKE_BUILD_TYPE=Release -DFERROC_BUILD_TESTS=OFF \
      -DFERROC_BUILD_BENCH=OFF -DFERROC_BUILD_EXAMPLES=OFF >&2
  fi
  echo "==== build libferroc.so and libferroc-checked.so in $rel ====" >&2
  cmake --build "$rel" -j"$jobs" --target ferroc_preload ferroc_preload_checked >&2
  ferroc=$rel/libferroc.so
fi
[ -f "$ferroc" ] || die "no Ferroc library at $ferroc"

declare -A libs
peer_libs "$ferroc"
ferroc=${libs[ferroc]}
# Ferroc's variants right after it, then the peers (the Debian ones, glibc, FERROC_BENCH_PEERS).
names=(ferroc)
if [ -f "$(dirname "$ferroc")/libferroc-checked.so" ]; then
  libs[ferroc-checked]=$(dirname "$ferroc")/libferroc-checked.so
  names+=(ferroc-checked)
fi
for spec in "${extra[@]}"; do
  name=${spec%%=*}
  # A --lib with the name of a column (ferroc-checked, mimalloc, ...) replaces its library.
  [[ -n ${libs[$name]+set} ]] || names+=("$name")
  libs[$name]=${spec#*=}
done
for name in "${peer_names[@]:1}"; do
  [[ " ${names[*]} " == *" $name "* ]] || names+=("$name")
done
declare -A debian=([mimalloc]=libmimalloc2.0 [jemalloc]=libjemalloc2 [tcmalloc]="libtcmalloc-minimal4 (or libgoogle-perftools4)")
notes=()
present=()
for name in "${names[@]}"; do
  if [ -n "$only" ] && [[ ",$only," != *",$name,"* ]]; then continue; fi
  lib=${libs[$name]}
  if [[ -n $lib && ! -f $lib ]]; then
    note="$name skipped: no $lib"
    [[ -z ${debian[$name]:-} ]] || note+=" (Debian: apt-get install ${debian[$name]})"
    notes+=("$note")
    echo "security.sh: $note" >&2
    continue
  fi
  present+=("$name")
done
for name in ${only//,/ }; do
  [[ -n ${libs[$name]+set} ]] || die "--allocators: no allocator '$name' (there are: ${names[*]})"
done
[ ${#present[@]} -gt 0 ] || die "no allocator to run"

# ---------------------------------------------------------------------------
# The programs
# ---------------------------------------------------------------------------

cc=${CC:-gcc}
cxx=${CXX:-g++}
optimise=(-O3 -DNDEBUG -w)
c_flags=(-Wno-free-nonheap-object -fno-inline -fno-builtin-inline -fno-inline-small-functions
  -fno-ipa-pure-const)
cc_flags=(-std=c++17 -fsized-deallocation -DALLOCATION_SIZE=4096)

# build_one <program> <source> <compiler and flags...>: builds it again when its command,
# its source or common.h changed.
build_one() {
  local prog=$1 file=$2 exe=$build/bin/$1
  shift 2
  local command=("$@" -o "$exe" "$file")
  if [ -x "$exe" ] && [ "$(cat "$exe.cmd" 2>/dev/null)" = "${command[*]}" ] &&
    [ "$exe" -nt "$file" ] && [ "$exe" -nt "$src/common.h" ]; then
    return 0
  fi
  rm -f "$exe" "$exe.cmd"
  if "${command[@]}" 2>"$exe.err"; then
    echo "${command[*]}" >"$exe.cmd"
    rm -f "$exe.err"
  else
    echo "security.sh: failed: ${command[*]}" >&2
    cat "$exe.err" >&2
  fi
}

# Waits until fewer than $jobs background jobs run.
throttle() {
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
}

programs=()
for f in "$src"/*.c "$src"/*.cc; do
  [ -e "$f" ] || continue
  base=$(basename "$f")
  if [[ $f == *.c ]]; then
    for v in small=8 medium=4096 'large=256*1024'; do
      programs+=("${base%.c}_${v%%=*}")
      throttle
      build_one "${base%.c}_${v%%=*}" "$f" "$cc" "${optimise[@]}" "${c_flags[@]}" \
        "-DALLOCATION_SIZE=${v#*=}" &
    done
  else
    programs+=("${base%.cc}")
    throttle
    build_one "${base%.cc}" "$f" "$cxx" "${optimise[@]}" "${cc_flags[@]}" &
  fi
done
wait
[ ${#programs[@]} -gt 0 ] || die "no *.c or *.cc in $src"
echo "==== built ${#programs[@]} programs of $src in $build/bin ====" >&2
for prog in "${programs[@]}"; do
  [ -x "$build/bin/$prog" ] || die "$prog did not build (see above)"
done
mapfile -t programs < <(printf '%s\n' "${programs[@]}" | LC_ALL=C sort)

kind_of() {
  case $1 in
  double_free*) echo "double free" ;;
  invalid_free* | invalid_*delete* | delete_type_size_mismatch*) echo "invalid free" ;;
  *_overflow_* | *_underflow_*) echo "overflow/underflow" ;;
  write_after_free* | zero_after_free*) echo "use after free" ;;
  *_zero_size*) echo "zero size" ;;
  *_reuse*) echo "reuse" ;;
  *) echo "other" ;;
  esac
}
kinds=("double free" "invalid free" "overflow/underflow" "use after free" "zero size" "reuse" "other")

# ---------------------------------------------------------------------------
# The runs
# ---------------------------------------------------------------------------

ulimit -c 0 # the crashes are expected; no core files

# run_one <allocator> <program>: runs it and writes the verdict into
# <build>/logs/<allocator>/<program>.result: "caught <how>", "timeout" or "NOT [<how>]".
run_one() {
  local name=$1 prog=$2 dir=$build/logs/$1 status=0 start how verdict
  local log=$dir/$prog.log stdout
  stdout=$(mktemp "$dir/.stdout.XXXXXX")
  start=${EPOCHREALTIME/[.,]/}
  # The outer redirection takes the shell's own "Segmentation fault" line; the status says it.
  { timeout -k 2 "$timeout_s" env LD_PRELOAD="${libs[$name]}" "$build/bin/$prog" \
    </dev/null >"$stdout" 2>"$log"; } 2>/dev/null || status=$?
  local elapsed=$(((${EPOCHREALTIME/[.,]/} - start) / 1000000))
  if [ "$status" -eq 124 ] || { [ "$status" -eq 137 ] && [ "$elapsed" -ge "$timeout_s" ]; }; then
    how=timeout
  elif [ "$status" -gt 128 ]; then
    how=SIG$(kill -l $((status - 128)) 2>/dev/null || echo "?$((status - 128))")
  else
    how="exit $status"
  fi
  if grep -q --text NOT_CAUGHT "$stdout"; then
    verdict=NOT
    [ "$how" = "exit 0" ] || verdict+=" (then $how)"
  elif [ "$how" = timeout ]; then
    verdict=timeout
  else
    verdict="caught ($how)"
  fi
  rm -f "$stdout"
  echo "[security.sh] ${libs[$name]:-glibc} $prog: $how; verdict: $verdict" >>"$log"
  echo "$verdict" >"$dir/$prog.result"
}

total=$((${#present[@]} * ${#programs[@]}))
echo "==== run ${#programs[@]} programs under ${present[*]} ($total runs, timeout ${timeout_s} s) ====" >&2
n=0
for name in "${present[@]}"; do
  rm -rf "${build:?}/logs/$name"
  mkdir -p "$build/logs/$name"
  for prog in "${programs[@]}"; do
    n=$((n + 1))
    printf '\r  run %d/%d: %-15s %-40s' "$n" "$total" "$name" "$prog" >&2
    throttle
    run_one "$name" "$prog" &
  done
done
wait
echo >&2

# ---------------------------------------------------------------------------
# The tables
# ---------------------------------------------------------------------------

declare -A verdict stopped timeouts kind_total kind_stopped
for name in "${present[@]}"; do
  stopped[$name]=0
  timeouts[$name]=0
  for prog in "${programs[@]}"; do
    v=$(cat "$build/logs/$name/$prog.result" 2>/dev/null || echo "no result")
    verdict[$name,$prog]=$v
    k=$(kind_of "$prog")
    case $v in
    caught* | timeout)
      stopped[$name]=$((${stopped[$name]} + 1))
      kind_stopped[$name,$k]=$((${kind_stopped[$name,$k]:-0} + 1))
      ;;
    esac
    [ "$v" != timeout ] || timeouts[$name]=$((${timeouts[$name]} + 1))
  done
done
for prog in "${programs[@]}"; do
  k=$(kind_of "$prog")
  kind_total[$k]=$((${kind_total[$k]:-0} + 1))
done
m=${#programs[@]}

summary() {
  local name k line
  for name in "${present[@]}"; do
    line="$name: ${stopped[$name]} of $m stopped"
    [ "${timeouts[$name]}" -eq 0 ] || line+=" (${timeouts[$name]} by timeout)"
    line+=" —"
    for k in "${kinds[@]}"; do
      [ -n "${kind_total[$k]:-}" ] || continue
      line+=" $k ${kind_stopped[$name,$k]:-0}/${kind_total[$k]},"
    done
    echo "${line%,}"
  done
}

git_rev() {
  git -C "$1" rev-parse --short HEAD 2>/dev/null | tr -d '\n' || true
  [ -z "$(git -C "$1" status --porcelain --untracked-files=no 2>/dev/null)" ] || printf '+dirty'
}
shown() { # a path, relative to the repository when it lies inside it
  case $1 in
  "") echo "(none: glibc malloc)" ;;
  "$root"/*) echo "${1#"$root"/}" ;;
  *) echo "$1" ;;
  esac
}

{
  echo "# mimalloc-bench security programs, preloaded"
  echo
  echo "- date: $(date -u +%Y-%m-%d); Ferroc $(git_rev "$root"); mimalloc-bench $(git_rev "$src" | grep . || echo '(not a git checkout)')"
  echo "- programs: $m ($(find "$src" -maxdepth 1 -name '*.c' | wc -l) *.c x 3 sizes, $(find "$src" -maxdepth 1 -name '*.cc' | wc -l) *.cc), built with $cc and $cxx ($($cc --version | head -n 1)), ${optimise[*]}; timeout ${timeout_s} s per run"
  for name in "${present[@]}"; do
    echo "- $name: $(shown "${libs[$name]}")"
  done
  for note in "${notes[@]}"; do
    echo "- $note"
  done
  echo
  echo "## Stopped before NOT_CAUGHT"
  echo
  echo '```'
  summary
  echo '```'
  echo
  header="| allocator | stopped | timeouts |"
  sep="| --- | ---: | ---: |"
  for k in "${kinds[@]}"; do
    [ -n "${kind_total[$k]:-}" ] || continue
    header+=" $k (${kind_total[$k]}) |"
    sep+=" ---: |"
  done
  echo "$header"
  echo "$sep"
  for name in "${present[@]}"; do
    row="| $name | ${stopped[$name]} of $m | ${timeouts[$name]} |"
    for k in "${kinds[@]}"; do
      [ -n "${kind_total[$k]:-}" ] || continue
      row+=" ${kind_stopped[$name,$k]:-0} |"
    done
    echo "$row"
  done
  echo
  echo "## Per program"
  echo
  echo "caught (how it ended) / timeout (stopped, but by the timeout) / NOT (printed NOT_CAUGHT;"
  echo "in parentheses how it ended when that was not exit 0). Each run's stderr is in"
  echo "$(shown "$build")/logs/<allocator>/<program>.log."
  echo
  header="| program | kind |"
  sep="| --- | --- |"
  for name in "${present[@]}"; do
    header+=" $name |"
    sep+=" --- |"
  done
  echo "$header"
  echo "$sep"
  for prog in "${programs[@]}"; do
    row="| $prog | $(kind_of "$prog") |"
    for name in "${present[@]}"; do
      v=${verdict[$name,$prog]}
      [[ $v != NOT* ]] || v="**$v**"
      row+=" $v |"
    done
    echo "$row"
  done
} >"$out"

summary
echo "security.sh: tables in $(shown "$out")" >&2
