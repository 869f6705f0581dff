#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# Builds Ferroc's tests, benchmarks and examples and runs the test suite.
#
#   scripts/test.sh                      # build/test: RelWithDebInfo, warnings are errors
#   scripts/test.sh --sanitize           # also build/asan (address,undefined) and build/tsan (thread)
#   scripts/test.sh --secure             # also build/secure: the whole suite in secure mode
#   scripts/test.sh --checked            # also build/checked: checked mode and Valgrind tracking,
#                                        # the suites under Valgrind memcheck
#   scripts/test.sh --fuzz[=SECONDS]     # also the libFuzzer target, 60 s from the seed corpus
#   scripts/test.sh --docs               # also the reference documentation (scripts/docs.sh):
#                                        # Doxygen into build/docs/html, warnings are errors
#   scripts/test.sh --platforms[=LIST]   # also other targets, cross-compiled into
#                                        # build/platform-<name>, the tests under qemu-user
#                                        # (scripts/platforms.sh: aarch64 with 4, 16 and 64 KiB
#                                        # pages, ppc64le, riscv64, i686; LIST: some of them,
#                                        # comma-separated)
#   scripts/test.sh --all                # all of the above (what CI runs)
#   scripts/test.sh --compiler clang     # the same with clang++ (build dirs get a -clang suffix)
#
# Ends with a summary: one line per configuration (its build folder, or fuzz and docs: passed
# or FAILED, the tests that passed of those CTest ran, the time it took), then the verdict.
# Exits non-zero when any configuration fails to configure, build or pass.
set -euo pipefail

usage() {
  sed -n '4,24s/^# \{0,1\}//p' "$0"
  echo "Options: --sanitize, --secure, --checked, --fuzz[=SECONDS], --docs, --platforms[=LIST], --all,"
  echo "         --compiler gcc|clang, -h|--help"
}

sanitize=0
checked=0
secure=0
fuzz_seconds=0
docs=0
platforms=""
compiler=gcc
while [ $# -gt 0 ]; do
  case "$1" in
  --sanitize) sanitize=1 ;;
  --checked) checked=1 ;;
  --secure) secure=1 ;;
  --fuzz) fuzz_seconds=60 ;;
  --fuzz=*) fuzz_seconds="${1#--fuzz=}" ;;
  --docs) docs=1 ;;
  --platforms) platforms=all ;;
  --platforms=*) platforms="${1#--platforms=}" ;;
  --all)
    sanitize=1
    checked=1
    secure=1
    fuzz_seconds=60
    docs=1
    platforms=all
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
started=$SECONDS

# The summary's lines, one per configuration, and the configurations that failed.
summary=()
failed=()

# record NAME RESULT TESTS START: the summary line of a configuration that started at START
# (in $SECONDS); a RESULT other than "passed" also counts it as failed.
record() {
  local seconds=$((SECONDS - $4))
  summary+=("$(printf '%-22s %-20s %-34s %dm%02ds' "$1" "$2" "$3" $((seconds / 60)) $((seconds % 60)))")
  if [ "$2" != passed ]; then
    failed+=("$1")
  fi
}

# ctest_counts LOG: "<passed>/<total> tests passed" from CTest's output in LOG (and how many
# were skipped), or "-" when it has no such line.
ctest_counts() {
  local line failed_tests total skipped
  line="$(grep -E '% tests passed, [0-9]+ tests? failed out of [0-9]+' "$1" | tail -n 1)" || true
  if [ -z "$line" ]; then
    echo "-"
    return
  fi
  failed_tests="$(sed -E 's/.* ([0-9]+) tests? failed out of [0-9]+.*/\1/' <<<"$line")"
  total="$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line")"
  skipped="$(grep -c -E '^[[:space:]]*[0-9]+ - .* \(Skipped\)$' "$1")" || true
  echo "$((total - failed_tests))/$total tests passed$([ "${skipped:-0}" -eq 0 ] || echo ", $skipped skipped")"
}

# run_config NAME SANITIZE BUILD_TYPE_FLAGS...
# Configures build/NAME, builds it and runs CTest in it; records its summary line and returns
# non-zero when a step failed.
run_config() {
  local name="$1" sanitize_value="$2"
  shift 2
  local dir="build/${name}${suffix}" start=$SECONDS status=0
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
    "$@" || {
    record "$dir" "FAILED (configure)" "-" "$start"
    return 1
  }
  cmake --build "$dir" -j"$jobs" || {
    record "$dir" "FAILED (build)" "-" "$start"
    return 1
  }
  # CTest's output also goes to a log, for the summary's counts.
  ctest --test-dir "$dir" --output-on-failure --no-tests=error -j"$jobs" 2>&1 |
    tee "$dir/ctest.log" || status=$?
  if [ "$status" -ne 0 ]; then
    record "$dir" "FAILED (tests)" "$(ctest_counts "$dir/ctest.log")" "$start"
    return 1
  fi
  record "$dir" passed "$(ctest_counts "$dir/ctest.log")" "$start"
}

run_config test "" || true

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
  run_config asan "address,undefined" "${san_flags[@]}" "${other[@]}" || true

  export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"
  run_config tsan "thread" "${san_flags[@]}" "${other[@]}" || true
fi

if [ "$secure" -eq 1 ]; then
  # Secure mode everywhere: the suites and the benchmarks' smoke tests run
  # with every mitigation on. Examples add nothing here.
  run_config secure "" -DFERROC_SECURE=ON -DFERROC_BUILD_EXAMPLES=OFF || true
fi

if [ "$checked" -eq 1 ]; then
  # Checked mode everywhere (death tests, the suites without false alarms)
  # and Valgrind tracking, with the suites run once more under memcheck.
  # Benchmarks and examples add nothing here.
  run_config checked "" -DFERROC_CHECKED=ON -DFERROC_TRACK=valgrind \
    -DFERROC_BUILD_BENCH=OFF -DFERROC_BUILD_EXAMPLES=OFF || true
fi

if [ "$fuzz_seconds" != 0 ]; then
  start=$SECONDS
  if "$root/scripts/fuzz.sh" "$fuzz_seconds"; then
    record fuzz passed "${fuzz_seconds} s of fuzzing" "$start"
  else
    record fuzz FAILED "${fuzz_seconds} s of fuzzing" "$start"
  fi
fi

if [ "$docs" -eq 1 ]; then
  echo
  echo "==== build/docs (Doxygen, warnings are errors) ===="
  start=$SECONDS
  if "$root/scripts/docs.sh"; then
    record docs passed "-" "$start"
  else
    record docs FAILED "-" "$start"
  fi
fi

if [ -n "$platforms" ]; then
  # The cross builds use their own compilers, whatever --compiler says.
  # shellcheck source-path=SCRIPTDIR source=platforms.sh
  . "$root/scripts/platforms.sh"
  if [ "$platforms" = all ]; then
    platforms="$(platform_names)"
  fi
  for name in ${platforms//,/ }; do
    run_platform "$name" || true
  done
fi

total_seconds=$((SECONDS - started))
total_time="$((total_seconds / 60))m$(printf '%02d' $((total_seconds % 60)))s"
echo
echo "==== summary ===="
printf '%s\n' "${summary[@]}"
configurations="${#summary[@]} configuration$([ "${#summary[@]}" -eq 1 ] || echo s)"
if [ "${#failed[@]}" -ne 0 ]; then
  echo "test.sh: FAILED in ${failed[*]} (${#failed[@]} of $configurations, $total_time)" >&2
  exit 1
fi
echo "test.sh: passed, $configurations ($total_time)"
