# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# Windows x86-64 with MinGW-w64's g++ (the posix threads variant, whose
# std::thread the tests use), cross-compiled from Linux; ctest runs the tests
# under Wine:
#
#   cmake -S . -B build/windows \
#         -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/x86_64-w64-mingw32.cmake
#   cmake --build build/windows -j2
#   wineboot --init && wineserver --wait
#   WINEDEBUG=-all ctest --test-dir build/windows -j2
#
# (Debian: g++-mingw-w64-x86-64-posix and wine. WINEPREFIX chooses Wine's
# configuration folder as usual. wineboot makes it before the tests: programs
# started in parallel in a folder that does not exist yet race to make it, and
# the loser cannot reach Wine's server.)
#
# Everything is linked with -static: the C and C++ runtimes and winpthreads go
# into each executable and into ferroc.dll, so a program runs where it is
# built, under Wine or copied to Windows, without the compiler's DLLs
# (libstdc++-6.dll, libgcc_s_seh-1.dll, libwinpthread-1.dll) beside it.

set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(_ferroc_mingw x86_64-w64-mingw32)
set(CMAKE_C_COMPILER ${_ferroc_mingw}-gcc-posix)
set(CMAKE_CXX_COMPILER ${_ferroc_mingw}-g++-posix)
set(CMAKE_RC_COMPILER ${_ferroc_mingw}-windres)

# Headers, libraries and packages of the target only; programs of the host.
set(CMAKE_FIND_ROOT_PATH /usr/${_ferroc_mingw})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-static")

find_program(FERROC_WINE wine)
if(FERROC_WINE)
  set(CMAKE_CROSSCOMPILING_EMULATOR "${FERROC_WINE}")
endif()
unset(_ferroc_mingw)
