#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# Builds Ferroc's tests, benchmarks and examples and runs the test suite.
#
#   scripts/test.sh                      # build/test: RelWithDebInfo, warnings are errors
#   scripts/test.sh --sanitize           # also build/asan (address,undefined) and build/tsan (thread)
#   scripts/test.sh --checked            # also build/checked: checked mode and Valgrind tracking,
#                                        # the suites under Valgrind memcheck
#   scripts/test.sh --fuzz[=SECONDS]     # also the libFuzzer target, 60 s from the seed corpus
#   scripts/test.sh --docs               # also the reference documentation (scripts/docs.sh):
#                                        # Doxygen into build/docs/html, warnings are errors
#   scripts/test.sh --all                # all of the above (what CI runs)
#   scripts/test.sh --compiler clang     # the same with clang++ (build dirs get a -clang suffix)
#
# Exits non-zero when any configuration fails to configure, build or pass.
set -euo pipefail

usage() {
  sed -n '4,15s/^# \{0,1\}//p' "$0"
  echo "Options: --sanitize, --checked, --fuzz[=SECONDS], --docs, --all, --compiler gcc|clang, -h|--help"
}

sanitize=0
checked=0
fuzz_seconds=0
docs=0
compiler=gcc
while [ $# -gt 0 ]; do
  case "$1" in
  --sanitize) sanitize=1 ;;
  --checked) checked=1 ;;
  --fuzz) fuzz_seconds=60 ;;
  --fuzz=*) fuzz_seconds="${1#--fuzz=}" ;;
  --docs) docs=1 ;;
  --all)
    sanitize=1
    checked=1
    fuzz_seconds=60
    docs=1
    ;;
  --compiler)
    [ $# -ge 2 ] || {
      echo "test.sh: --compiler needs a value (gcc or clang)" >&2
      exit 2
    }
    compiler="$2"
    shift
    ;;
  --compiler=*) compiler="${1#--compiler=}" ;;
  -h | --help)
    usage
    exit 0
    ;;
  *)
    echo "test.sh: unknown option '$1'" >&2
    usage >&2
    exit 2
    ;;
  esac
  shift
done

case "$compiler" in
gcc | g++) cc=gcc cxx=g++ suffix= ;;
clang | clang++) cc=clang cxx=clang++ suffix=-clang ;;
*)
  echo "test.sh: unknown compiler '$compiler' (use gcc or clang)" >&2
  exit 2
  ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

"$root/scripts/setup.sh"

jobs=2

# run_config NAME SANITIZE BUILD_TYPE_FLAGS...
# Configures build/NAME, builds it and runs CTest in it.
run_config() {
  local name="$1" sanitize_value="$2"
  shift 2
  local dir="build/${name}${suffix}"
  echo
  local shown=$cxx arg
  for arg in "$@"; do
    case "$arg" in -DCMAKE_CXX_COMPILER=*) shown=${arg#*=} ;; esac
  done
  echo "==== ${dir} (compiler ${shown}, sanitize '${sanitize_value}') ===="
  cmake -S . -B "$dir" \
    -DCMAKE_C_COMPILER="$cc" \
    -DCMAKE_CXX_COMPILER="$cxx" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DFERROC_WARNINGS_AS_ERRORS=ON \
    -DFERROC_SANITIZE="$sanitize_value" \
    "$@" || return 1
  cmake --build "$dir" -j"$jobs" || return 1
  ctest --test-dir "$dir" --output-on-failure --no-tests=error -j"$jobs" || return 1
}

failed=()

run_config test "" || failed+=("build/test${suffix}")

if [ "$sanitize" -eq 1 ]; then
  # Sanitizer builds keep assertions (no NDEBUG) and use -O1, the usual
  # trade-off between speed and precise reports.
  san_flags=(-DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g")

  export ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:strict_string_checks=1}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
  # The sanitizer builds use the other compiler, so that every run of this
  # script compiles everything warning-free with both g++ and clang++.
  if [ "$compiler" = gcc ] || [ "$compiler" = g++ ]; then
    other=(-DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++)
  else
    other=(-DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_COMPILER=g++)
  fi
  run_config asan "address,undefined" "${san_flags[@]}" "${other[@]}" || failed+=("build/asan${suffix}")

  export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"
  run_config tsan "thread" "${san_flags[@]}" "${other[@]}" || failed+=("build/tsan${suffix}")
fi

if [ "$checked" -eq 1 ]; then
  # Checked mode everywhere (death tests, the suites without false alarms)
  # and Valgrind tracking, with the suites run once more under memcheck.
  # Benchmarks and examples add nothing here.
  run_config checked "" -DFERROC_CHECKED=ON -DFERROC_TRACK=valgrind \
    -DFERROC_BUILD_BENCH=OFF -DFERROC_BUILD_EXAMPLES=OFF || failed+=("build/checked${suffix}")
fi

if [ "$fuzz_seconds" != 0 ]; then
  "$root/scripts/fuzz.sh" "$fuzz_seconds" || failed+=("fuzz")
fi

if [ "$docs" -eq 1 ]; then
  echo
  echo "==== build/docs (Doxygen, warnings are errors) ===="
  "$root/scripts/docs.sh" || failed+=("docs")
fi

if [ "${#failed[@]}" -ne 0 ]; then
  echo
  echo "test.sh: FAILED in ${failed[*]}" >&2
  exit 1
fi
