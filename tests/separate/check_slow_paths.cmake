# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# cmake -DOBJECTS=<objects> -DLIBRARY=<ferroc_separate> -DNM=<nm> -P check_slow_paths.cmake
# Fails unless the library defines the slow paths of the default
# configuration and the program's objects only refer to them.
set(slow_paths
    "Heap<ferroc::[a-z0-9_]+::MmapAlloc>::allocate_slow"
    "Heap<ferroc::[a-z0-9_]+::MmapAlloc>::deallocate_slow"
    "Context<ferroc::[a-z0-9_]+::MmapAlloc>::take_page_from_new_segment"
    "Arenas<ferroc::[a-z0-9_]+::MmapAlloc>::claim_in")

function(symbols file out)
  execute_process(COMMAND ${NM} -C ${file} OUTPUT_VARIABLE text RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${NM} ${file} failed")
  endif()
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

symbols("${LIBRARY}" library)
foreach(sym IN LISTS slow_paths)
  if(NOT library MATCHES " [TW] [^\n]*${sym}")
    message(FATAL_ERROR "the library does not define ${sym}")
  endif()
endforeach()

set(referenced 0)
foreach(object IN LISTS OBJECTS)
  symbols("${object}" text)
  foreach(sym IN LISTS slow_paths)
    if(text MATCHES " [TWt] [^\n]*${sym}")
      message(FATAL_ERROR "${object} compiles ${sym} itself")
    endif()
  endforeach()
  # allocate_slow, or in checked mode the instrumented paths that take the
  # fast path's place.
  if(text MATCHES " U [^\n]*Heap<ferroc::[a-z0-9_]+::MmapAlloc>::(allocate_slow|allocate_instrumented)")
    math(EXPR referenced "${referenced} + 1")
  endif()
endforeach()
if(referenced EQUAL 0)
  message(FATAL_ERROR "no object calls the library's allocate_slow or allocate_instrumented")
endif()
message(STATUS "slow paths: in the library only; ${referenced} object(s) call them")
