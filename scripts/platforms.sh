#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# Ferroc on other targets: each is cross-compiled once into build/platform-<name> with its
# toolchain file (cmake/toolchains/), and CTest runs the tests an emulator can host in CI time
# (FERROC_EMULATED_TESTS: the Catch2 suite, the global suite, the C API tests, the examples) under
# the emulator the toolchain file names, once per page size of the target.
#
# Sourced by scripts/test.sh (--platforms), which provides record, ctest_counts, $jobs and
# $root; it defines
#
#   platform_targets           the targets, one "name|toolchain|page sizes" entry each
#   run_platform NAME          configures, builds and tests one target, one summary line
#                              for the build and one per page size
#
# The page sizes are KiB, handed to qemu-user as QEMU_PAGESIZE ("-": the emulator's own).
# A target's cross compiler missing is a failure, and so is its emulator (every test fails to
# start): scripts/setup.sh installs both.

# root and jobs are scripts/test.sh's.
# shellcheck disable=SC2154

# name|toolchain file (cmake/toolchains/<it>.cmake)|page sizes in KiB
platform_targets=(
  "aarch64|aarch64-linux-gnu|4 16 64" # Linux on arm64 runs with any of the three
  "ppc64le|powerpc64le-linux-gnu|64" # the page of ppc64le distributions
  "riscv64|riscv64-linux-gnu|4"
  "i686|i686-linux-gnu|4" # 32-bit: the whole address space runs out (ferroc.capi.exhaust)
  "windows|x86_64-w64-mingw32|-" # MinGW-w64 under Wine, with Windows' own page size
)

# platform_entry NAME: the entry of NAME in platform_targets, or nothing.
platform_entry() {
  local entry
  for entry in "${platform_targets[@]}"; do
    if [ "${entry%%|*}" = "$1" ]; then
      echo "$entry"
      return
    fi
  done
}

# platform_names: every target's name, space-separated.
platform_names() {
  local entry names=()
  for entry in "${platform_targets[@]}"; do
    names+=("${entry%%|*}")
  done
  echo "${names[*]}"
}

# run_platform NAME
run_platform() {
  local name="$1" entry toolchain pages dir start status page label log result env
  entry="$(platform_entry "$name")"
  if [ -z "$entry" ]; then
    echo "platforms: unknown target '$name' (known: $(platform_names))" >&2
    record "build/platform-$name" "FAILED (unknown)" "-" "$SECONDS"
    return 1
  fi
  toolchain="$(cut -d'|' -f2 <<<"$entry")"
  pages="$(cut -d'|' -f3 <<<"$entry")"
  dir="build/platform-$name"
  start=$SECONDS
  echo
  echo "==== ${dir} (${toolchain}, pages: ${pages} KiB) ===="
  if ! command -v "${toolchain}-g++" >/dev/null 2>&1; then
    echo "platforms: ${toolchain}-g++ is not installed (scripts/setup.sh installs it)" >&2
    record "$dir" "FAILED (no compiler)" "-" "$start"
    return 1
  fi
  # -O2 without debug information: the same code as RelWithDebInfo, built in
  # less time. Nothing is installed from here, so the libraries no test uses
  # are not built.
  cmake -S . -B "$dir" \
    -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/${toolchain}.cmake" \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_FLAGS_RELEASE="-O2 -DNDEBUG" \
    -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" \
    -DFERROC_WARNINGS_AS_ERRORS=ON \
    -DFERROC_INSTALL=OFF || {
    record "$dir" "FAILED (configure)" "-" "$start"
    return 1
  }
  cmake --build "$dir" -j"$jobs" || {
    record "$dir" "FAILED (build)" "-" "$start"
    return 1
  }
  record "$dir (build)" passed "-" "$start"
  status=0
  for page in $pages; do
    start=$SECONDS
    label="$dir ${page}k"
    env=()
    if [ "$page" = - ]; then
      label="$dir"
      # Wine keeps its prefix (its Windows installation) in the build tree,
      # made on the first run; its debug channels are noise in the logs.
      case "$toolchain" in
      *-mingw32)
        env=(WINEPREFIX="$root/$dir/wine-prefix" WINEDEBUG=-all)
        # Made before the tests: two programs started at once in a prefix
        # that does not exist yet both make it, each with its own server
        # directory, and the one whose name is not kept cannot connect.
        env "${env[@]}" wineboot --init && env "${env[@]}" wineserver --wait || {
          record "$label" "FAILED (wine prefix)" "-" "$start"
          status=1
          continue
        }
        ;;
      esac
    else
      env=(QEMU_PAGESIZE=$((page * 1024)))
    fi
    echo
    echo "==== ${label}: tests (FERROC_TEST_SCALE=${FERROC_TEST_SCALE:-1}) ===="
    log="$dir/ctest-${page/-/run}.log"
    result=0
    env "${env[@]}" ctest --test-dir "$dir" --output-on-failure --no-tests=error -j"$jobs" 2>&1 |
      tee "$log" || result=$?
    if [ "$result" -ne 0 ]; then
      record "$label" "FAILED (tests)" "$(ctest_counts "$log")" "$start"
      status=1
    else
      record "$label" passed "$(ctest_counts "$log")" "$start"
    fi
  done
  return "$status"
}
