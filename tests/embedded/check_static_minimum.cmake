# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# cmake -DCXX=<compiler> -DFERROC_INCLUDE_DIR=<include> -DSOURCE=<static_minimum.cpp>
#       [-DEXTRA_FLAGS=<flags;...>] -P check_static_minimum.cmake
#
# A Static region too small for the geometry is a compile-time error that
# names the minimum; a region of the minimum size compiles.

cmake_minimum_required(VERSION 3.20)

foreach(_var CXX FERROC_INCLUDE_DIR SOURCE)
  if(NOT ${_var})
    message(FATAL_ERROR "pass -D${_var}=...")
  endif()
endforeach()

function(_compile segments extra defines out_result out_output)
  execute_process(
    COMMAND "${CXX}" -std=c++20 -fsyntax-only ${EXTRA_FLAGS} ${defines} "-I${FERROC_INCLUDE_DIR}"
            "-DREGION_SEGMENTS=${segments}" "-DREGION_EXTRA_BYTES=${extra}" "${SOURCE}"
    RESULT_VARIABLE _result
    OUTPUT_VARIABLE _output
    ERROR_VARIABLE _output)
  set(${out_result} "${_result}" PARENT_SCOPE)
  set(${out_output} "${_output}" PARENT_SCOPE)
endfunction()

# must_fail WHAT SEGMENTS EXTRA DEFINES MESSAGE / must_compile WHAT SEGMENTS EXTRA DEFINES
function(must_fail what segments extra defines message)
  _compile(${segments} ${extra} "${defines}" _result _output)
  if(_result EQUAL 0)
    message(FATAL_ERROR "${what} compiled; it must be rejected")
  endif()
  if(NOT _output MATCHES "${message}")
    message(FATAL_ERROR "${what} failed without naming its minimum:\n${_output}")
  endif()
endfunction()
function(must_compile what segments extra defines)
  _compile(${segments} ${extra} "${defines}" _result _output)
  if(NOT _result EQUAL 0)
    message(FATAL_ERROR "${what} did not compile:\n${_output}")
  endif()
endfunction()

must_fail("Static<one segment>" 1 0 "" "N must be at least two segments")
must_compile("Static<two segments>" 2 0 "")
if(NOT EXTRA_FLAGS MATCHES "FERROC_SINGLE_THREADED=1")
  must_fail("Global<Static<two segments>>" 2 0 "-DREGION_GLOBAL"
            "N must be at least two segments and 64 KiB of thread data")
  must_compile("Global<Static<two segments + 64 KiB>>" 2 65536 "-DREGION_GLOBAL")
endif()
message(STATUS "regions below their minimum are rejected with it; regions of the minimum compile")
