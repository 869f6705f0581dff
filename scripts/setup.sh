#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# Installs what building, testing and benchmarking Ferroc needs, on Debian or
# Ubuntu. Idempotent: when every package is already there it changes nothing
# and needs no network.
set -euo pipefail

packages=(
  build-essential # g++, make
  cmake
  clang
  clang-format
  clang-tidy
  pkg-config
  catch2                  # tests (Catch2 v2)
  libbenchmark-dev        # micro benchmarks
  libmimalloc-dev         # benchmark comparison
  libjemalloc-dev         # benchmark comparison
  libgoogle-perftools-dev # benchmark comparison (tcmalloc)
  valgrind
  sqlite3 # a real program run under the drop-in library (tests, benchmarks)
  time    # /usr/bin/time: peak RSS of the real-program benchmarks
  python3
  python3-matplotlib # benchmark plots
  doxygen            # reference documentation (scripts/docs.sh)
  # Other targets (scripts/platforms.sh): cross compilers, and emulators for their tests
  qemu-user
  g++-aarch64-linux-gnu
  g++-powerpc64le-linux-gnu
  g++-riscv64-linux-gnu
  g++-i686-linux-gnu
  g++-mingw-w64-x86-64-posix # Windows, under Wine
  wine
)
if ! command -v dpkg >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup: not a Debian-like system; make sure these (or their equivalents) are installed:" >&2
  echo "  ${packages[*]}" >&2
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed'; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup: all packages present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  sudo=(sudo)
fi
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends "${missing[@]}"
