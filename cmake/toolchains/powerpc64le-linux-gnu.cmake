# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# Cross-compiling Ferroc for 64-bit little-endian POWER Linux (ppc64le) with Debian's cross compiler
# (apt-get install g++-powerpc64le-linux-gnu qemu-user), the tests run under qemu-user:
#
#   cmake -S . -B build/ppc64le -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/powerpc64le-linux-gnu.cmake
#   cmake --build build/ppc64le -j2
#   ctest --test-dir build/ppc64le
#
# ppc64le Linux runs with 64 KiB pages; qemu-user gives the emulated
# process the host's page size unless told otherwise:
#
#   QEMU_PAGESIZE=65536 ctest --test-dir build/ppc64le
#
# (qemu 7.2 crashes so in any Catch2 program, in glibc's malloc: the C API
# tests run, the Catch2 suites need a newer qemu or 4 KiB pages.)
#
# Shared settings (compilers, search paths, the emulator): cross-linux-gnu.cmake.

set(FERROC_CROSS_TRIPLE powerpc64le-linux-gnu)
set(FERROC_CROSS_PROCESSOR ppc64le)
set(FERROC_CROSS_QEMU qemu-ppc64le)
include("${CMAKE_CURRENT_LIST_DIR}/cross-linux-gnu.cmake")
