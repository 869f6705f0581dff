# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# Helpers for Ferroc's own targets (tests, benchmarks, examples, compiled
# extras). Nothing here touches the ferroc::ferroc interface target: users
# get no warning flags or sanitizers forced on them.

include_guard(GLOBAL)

# FERROC_SANITIZE is a comma-separated list; accept only combinations that the
# compilers can build together.
set(_ferroc_sanitize_known "" "address" "undefined" "address,undefined" "undefined,address"
                           "thread" "thread,undefined" "undefined,thread")
if(NOT FERROC_SANITIZE IN_LIST _ferroc_sanitize_known)
  message(
    FATAL_ERROR
      "FERROC_SANITIZE=\"${FERROC_SANITIZE}\" is not supported; use \"\", \"address,undefined\" or \"thread\"")
endif()
unset(_ferroc_sanitize_known)

if(FERROC_SANITIZE AND MSVC)
  message(FATAL_ERROR "FERROC_SANITIZE is only supported with GCC and Clang")
endif()

if(FERROC_SANITIZE)
  message(STATUS "ferroc: sanitizers for tests, benchmarks and examples: ${FERROC_SANITIZE}")
endif()

# ferroc_target_options(<target>)
#
# Adds Ferroc's warning flags (-Wall -Wextra -Wpedantic, plus -Werror when
# FERROC_WARNINGS_AS_ERRORS is ON) and the sanitizers named by FERROC_SANITIZE
# to <target>, for compiling and linking. Call it on every executable or
# library that the tests, benchmarks and examples define.
function(ferroc_target_options target)
  if(NOT TARGET "${target}")
    message(FATAL_ERROR "ferroc_target_options: no target named \"${target}\"")
  endif()

  get_target_property(_type "${target}" TYPE)
  if(_type STREQUAL "INTERFACE_LIBRARY")
    set(_scope INTERFACE)
  else()
    set(_scope PRIVATE)
  endif()

  if(MSVC)
    target_compile_options("${target}" ${_scope} /W4 /permissive-)
    if(FERROC_WARNINGS_AS_ERRORS)
      target_compile_options("${target}" ${_scope} /WX)
    endif()
  else()
    target_compile_options("${target}" ${_scope} -Wall -Wextra -Wpedantic)
    if(FERROC_WARNINGS_AS_ERRORS)
      target_compile_options("${target}" ${_scope} -Werror)
    endif()
  endif()

  if(FERROC_SANITIZE)
    set(_flags "-fsanitize=${FERROC_SANITIZE}" -fno-omit-frame-pointer)
    if(FERROC_SANITIZE MATCHES "undefined")
      # A UB report must fail the test, not scroll by.
      list(APPEND _flags -fno-sanitize-recover=all)
    endif()
    target_compile_options("${target}" ${_scope} ${_flags})
    target_link_options("${target}" ${_scope} ${_flags})
  endif()
endfunction()

# ferroc_embedded_options(<target>)
#
# The embedded configuration that tests and examples are built in besides
# the default one (see docs/embedded.md): 64 KiB segments with
# 4 KiB small and 16 KiB medium pages, single-threaded, and with GCC or
# Clang without exceptions and RTTI.
function(ferroc_embedded_options target)
  target_compile_definitions(
    "${target}" PRIVATE FERROC_SEGMENT_SHIFT=16 FERROC_SMALL_PAGE_SHIFT=12
                        FERROC_MEDIUM_PAGE_SHIFT=14 FERROC_SINGLE_THREADED=1)
  ferroc_no_exceptions_options("${target}")
endfunction()

# ferroc_no_exceptions_options(<target>): -fno-exceptions -fno-rtti (GCC, Clang).
function(ferroc_no_exceptions_options target)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options("${target}" PRIVATE -fno-exceptions -fno-rtti)
  endif()
endfunction()
