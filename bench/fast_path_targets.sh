#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# The instruction counts of the malloc and free fast paths on every target, read from the
# disassembly of the Release drop-in library (bench/fast_path_disasm.py): x86-64 natively, the
# others cross-built with their toolchain files (cmake/toolchains/). Windows has no drop-in
# library; its counts are those of fe_malloc and fe_free in ferroc.dll.
#
#   bench/fast_path_targets.sh [BUILD_ROOT]     # default: build/fast-path
#
# Prints a Markdown table. A target whose cross compiler is missing is left out, with a note
# (scripts/setup.sh installs them all). Needs no emulator: nothing is run.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/build/fast-path}"
mkdir -p "$out"

# name|toolchain file ("-": native)|objdump|library|symbols
targets=(
  "x86-64|-|objdump|libferroc.so|malloc free"
  "aarch64|aarch64-linux-gnu|aarch64-linux-gnu-objdump|libferroc.so|malloc free"
  "ppc64le|powerpc64le-linux-gnu|powerpc64le-linux-gnu-objdump|libferroc.so|malloc free"
  "riscv64|riscv64-linux-gnu|riscv64-linux-gnu-objdump|libferroc.so|malloc free"
  "i686|i686-linux-gnu|i686-linux-gnu-objdump|libferroc.so|malloc free"
  "windows|x86_64-w64-mingw32|x86_64-w64-mingw32-objdump|ferroc.dll|fe_malloc fe_free"
)

echo "| target | malloc | free | pair |"
echo "|---|---:|---:|---:|"
notes=()
for entry in "${targets[@]}"; do
  IFS='|' read -r name toolchain objdump library symbols <<<"$entry"
  if ! command -v "$objdump" >/dev/null 2>&1; then
    notes+=("$name: $objdump is not installed")
    continue
  fi
  dir="$out/$name"
  args=(-DCMAKE_BUILD_TYPE=Release -DFERROC_BUILD_TESTS=OFF -DFERROC_BUILD_BENCH=OFF
    -DFERROC_BUILD_EXAMPLES=OFF -DFERROC_INSTALL=OFF)
  target=ferroc_preload
  if [ "$toolchain" != - ]; then
    args+=(-DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/$toolchain.cmake")
  fi
  if [ "$name" = windows ]; then
    target=ferroc_c
  fi
  if ! cmake -S "$root" -B "$dir" "${args[@]}" >"$dir.log" 2>&1 ||
    ! cmake --build "$dir" --target "$target" -j2 >>"$dir.log" 2>&1; then
    notes+=("$name: the build failed (see $dir.log)")
    continue
  fi
  lib="$(find "$dir" -name "$library" -print -quit)"
  read -r -a syms <<<"$symbols"
  counts=()
  for sym in "${syms[@]}"; do
    counts+=("$("$root/bench/fast_path_disasm.py" --objdump "$objdump" "$lib" "$sym" | cut -d' ' -f2)")
  done
  echo "| $name | ${counts[0]} | ${counts[1]} | $((counts[0] + counts[1])) |"
done
for note in "${notes[@]+"${notes[@]}"}"; do
  echo
  echo "Left out: $note"
done
