# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# Cross-compiling Ferroc for 32-bit x86 Linux (i686) with Debian's cross compiler
# (apt-get install g++-i686-linux-gnu qemu-user), the tests run under qemu-user:
#
#   cmake -S . -B build/i686 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/i686-linux-gnu.cmake
#   cmake --build build/i686 -j2
#   ctest --test-dir build/i686
#
# qemu-i386 runs the 32-bit programs the same way on any host; an x86-64
# kernel with 32-bit support runs them natively too.
#
# Shared settings (compilers, search paths, the emulator): cross-linux-gnu.cmake.

set(FERROC_CROSS_TRIPLE i686-linux-gnu)
set(FERROC_CROSS_PROCESSOR i686)
set(FERROC_CROSS_QEMU qemu-i386)
include("${CMAKE_CURRENT_LIST_DIR}/cross-linux-gnu.cmake")
