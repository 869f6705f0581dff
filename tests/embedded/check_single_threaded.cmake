# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# cmake -DFERROC_INCLUDE_DIR=<include> -P check_single_threaded.cmake
#
# FERROC_SINGLE_THREADED promises no atomics and no thread-local storage:
# the headers reach atomics only through detail/atomic.hpp (plain values in
# that mode), and only the global layer, which that mode leaves out, keeps
# a heap per thread. Fails when any other header names std::atomic,
# std::atomic_ref or thread-local storage directly.

cmake_minimum_required(VERSION 3.20)

if(NOT FERROC_INCLUDE_DIR)
  message(FATAL_ERROR "pass -DFERROC_INCLUDE_DIR=<the include directory>")
endif()

file(GLOB_RECURSE _headers RELATIVE "${FERROC_INCLUDE_DIR}" "${FERROC_INCLUDE_DIR}/ferroc/*.hpp")
set(_allowed "ferroc/detail/atomic.hpp")
set(_checked 0)
set(_offenders "")
foreach(_header IN LISTS _headers)
  if(_header IN_LIST _allowed OR _header MATCHES "^ferroc/global/")
    continue()
  endif()
  math(EXPR _checked "${_checked} + 1")
  file(STRINGS "${FERROC_INCLUDE_DIR}/${_header}" _lines
       REGEX "std::atomic(_ref)?<|thread_local|_Thread_local|__thread")
  foreach(_line IN LISTS _lines)
    list(APPEND _offenders "${_header}: ${_line}")
  endforeach()
endforeach()

if(_checked LESS 10)
  message(FATAL_ERROR "only ${_checked} headers found under ${FERROC_INCLUDE_DIR}/ferroc")
endif()
if(_offenders)
  list(JOIN _offenders "\n  " _report)
  message(FATAL_ERROR "atomics or thread-local storage outside detail/atomic.hpp:\n  ${_report}")
endif()
message(STATUS "${_checked} headers use atomics only through detail/atomic.hpp")
