# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# Cross-compiling Ferroc for 32-bit x86 Linux (i686) with Debian's cross compiler
# (apt-get install g++-i686-linux-gnu qemu-user), the tests run under qemu-user:
#
#   cmake -S . -B build/i686 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/i686-linux-gnu.cmake
#   cmake --build build/i686 -j2
#   ctest --test-dir build/i686
#
# On an x86-64 build machine the tests run without an emulator (below).
#
# Shared settings (compilers, search paths, the emulator): cross-linux-gnu.cmake.

set(FERROC_CROSS_TRIPLE i686-linux-gnu)
set(FERROC_CROSS_PROCESSOR i686)
set(FERROC_CROSS_QEMU qemu-i386)
include("${CMAKE_CURRENT_LIST_DIR}/cross-linux-gnu.cmake")

# An x86-64 Linux kernel runs 32-bit x86 programs itself (IA-32 emulation, on
# in Debian's kernels): the target's dynamic loader then starts the tests,
# faster than qemu-i386, whose 7.2 release hangs in a program's first
# pthread_create. The loader's --version tells whether the kernel can.
set(_ferroc_i686_root /usr/${FERROC_CROSS_TRIPLE})
if(CMAKE_HOST_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$"
   AND EXISTS ${_ferroc_i686_root}/lib/ld-linux.so.2)
  execute_process(COMMAND ${_ferroc_i686_root}/lib/ld-linux.so.2 --version
                  RESULT_VARIABLE _ferroc_i686_native OUTPUT_QUIET ERROR_QUIET)
  if(_ferroc_i686_native EQUAL 0)
    set(CMAKE_CROSSCOMPILING_EMULATOR
        "${_ferroc_i686_root}/lib/ld-linux.so.2;--library-path;${_ferroc_i686_root}/lib")
  endif()
endif()
