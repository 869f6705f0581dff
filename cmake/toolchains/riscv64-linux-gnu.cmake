# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# Cross-compiling Ferroc for 64-bit RISC-V Linux (riscv64) with Debian's cross compiler
# (apt-get install g++-riscv64-linux-gnu qemu-user), the tests run under qemu-user:
#
#   cmake -S . -B build/riscv64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/riscv64-linux-gnu.cmake
#   cmake --build build/riscv64 -j2
#   ctest --test-dir build/riscv64
#
# Shared settings (compilers, search paths, the emulator): cross-linux-gnu.cmake.

set(FERROC_CROSS_TRIPLE riscv64-linux-gnu)
set(FERROC_CROSS_PROCESSOR riscv64)
set(FERROC_CROSS_QEMU qemu-riscv64)
include("${CMAKE_CURRENT_LIST_DIR}/cross-linux-gnu.cmake")
