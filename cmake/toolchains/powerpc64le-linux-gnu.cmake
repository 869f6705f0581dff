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
# qemu 7.2 crashes so when a C++ program loads the cross libstdc++ as a
# shared library; linked in (-static-libstdc++), the programs run. The
# C library stays shared, so the drop-in library's tests still preload.

set(FERROC_CROSS_TRIPLE powerpc64le-linux-gnu)
set(FERROC_CROSS_PROCESSOR ppc64le)
set(FERROC_CROSS_QEMU qemu-ppc64le)
include("${CMAKE_CURRENT_LIST_DIR}/cross-linux-gnu.cmake")

set(CMAKE_EXE_LINKER_FLAGS_INIT "-static-libstdc++ -static-libgcc")
