# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# What the Linux cross toolchain files share: the including file sets
#   FERROC_CROSS_TRIPLE     the GNU triple, e.g. aarch64-linux-gnu
#   FERROC_CROSS_PROCESSOR  CMAKE_SYSTEM_PROCESSOR, e.g. aarch64
#   FERROC_CROSS_QEMU       the qemu-user program that runs its binaries
# and gets Debian's <triple>-gcc/-g++, the target's libraries and headers
# under /usr/<triple>, and, when that qemu is installed, the emulator that
# CTest (and the Catch2 test discovery) runs every test program under.

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR ${FERROC_CROSS_PROCESSOR})

set(CMAKE_C_COMPILER ${FERROC_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${FERROC_CROSS_TRIPLE}-g++)

# Libraries, headers and packages come from the target's tree only; programs
# (cmake, bash, the emulator) from the host.
set(CMAKE_FIND_ROOT_PATH /usr/${FERROC_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# -L: the target's dynamic loader and shared libraries. The emulated page
# size is the host's unless QEMU_PAGESIZE is set in the environment.
find_program(FERROC_CROSS_QEMU_PATH ${FERROC_CROSS_QEMU})
if(FERROC_CROSS_QEMU_PATH)
  set(CMAKE_CROSSCOMPILING_EMULATOR "${FERROC_CROSS_QEMU_PATH};-L;/usr/${FERROC_CROSS_TRIPLE}")
endif()
