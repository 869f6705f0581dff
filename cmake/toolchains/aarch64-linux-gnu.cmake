# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# Cross-compiling Ferroc for 64-bit ARM Linux (aarch64) with Debian's cross compiler
# (apt-get install g++-aarch64-linux-gnu qemu-user), the tests run under qemu-user:
#
#   cmake -S . -B build/aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake
#   cmake --build build/aarch64 -j2
#   ctest --test-dir build/aarch64
#
# The page size of the emulated process is the host's (4 KiB) unless
# QEMU_PAGESIZE says otherwise; aarch64 Linux runs with 4, 16 or 64 KiB:
#
#   QEMU_PAGESIZE=65536 ctest --test-dir build/aarch64
#
# Shared settings (compilers, search paths, the emulator): cross-linux-gnu.cmake.

set(FERROC_CROSS_TRIPLE aarch64-linux-gnu)
set(FERROC_CROSS_PROCESSOR aarch64)
set(FERROC_CROSS_QEMU qemu-aarch64)
include("${CMAKE_CURRENT_LIST_DIR}/cross-linux-gnu.cmake")
