# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# cmake -DCXX=<compiler> "-DFLAGS=<flags;...>" ["-DDEFINES=<NAME=value;...>"]
#       ["-DLIBS=<flags;...>"] -DSOURCE_DIR=<repository> -DWORK_DIR=<dir>
#       "-DDOCS=<file.md;...>" -P run_examples.cmake
#
# Compiles and runs every ```cpp block of the given Markdown files (paths
# relative to SOURCE_DIR) that contains `int main`, each once, with FLAGS,
# DEFINES, the repository's include directory and LIBS; fails when one
# does not compile or does not exit 0. A block that is not a whole program
# (no `int main`) is not looked at.
#
# An HTML comment on the line before a block's fence changes how it is
# tried (blank lines may lie between):
#
#   <!-- test: skip <why> -->      not compiled; the reason is printed
#   <!-- test: flags <flags> -->   compiled with these flags besides FLAGS
#                                  (e.g. another geometry)
#
# Other `test: NAME` markers name the shell and CMake blocks that
# ferroc.install.docs runs (tests/install-consumer/docs_install.sh); they are
# not this script's.

cmake_minimum_required(VERSION 3.20)

foreach(_var CXX SOURCE_DIR WORK_DIR DOCS)
  if(NOT ${_var})
    message(FATAL_ERROR "pass -D${_var}=...")
  endif()
endforeach()

set(_defines "")
foreach(_define IN LISTS DEFINES)
  list(APPEND _defines "-D${_define}")
endforeach()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

# CMake lists split at `;` (outside brackets), and C++ is full of `;`, `[`,
# `]` and `\`: they stand in for themselves as placeholders until a block
# is written out.
function(_escape text out)
  string(REPLACE "\\" "@FE_BS@" text "${text}")
  string(REPLACE ";" "@FE_SC@" text "${text}")
  string(REPLACE "[" "@FE_LB@" text "${text}")
  string(REPLACE "]" "@FE_RB@" text "${text}")
  set(${out} "${text}" PARENT_SCOPE)
endfunction()
function(_unescape text out)
  string(REPLACE "@FE_RB@" "]" text "${text}")
  string(REPLACE "@FE_LB@" "[" text "${text}")
  string(REPLACE "@FE_SC@" ";" text "${text}")
  string(REPLACE "@FE_BS@" "\\" text "${text}")
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

set(_ran "")
set(_skipped "")
set(_failed "")
set(_problems "")

# Compiles and runs one block; appends to _ran or _failed in the caller.
function(_try name file line source extra)
  set(_src "${WORK_DIR}/${name}.cpp")
  set(_exe "${WORK_DIR}/${name}")
  file(WRITE "${_src}" "${source}")
  separate_arguments(_extra UNIX_COMMAND "${extra}")
  execute_process(
    COMMAND "${CXX}" ${FLAGS} ${_defines} ${_extra} "-I${SOURCE_DIR}/include" "${_src}" -o "${_exe}"
            ${LIBS}
    RESULT_VARIABLE _result
    OUTPUT_VARIABLE _output
    ERROR_VARIABLE _output)
  if(NOT _result EQUAL 0)
    message(STATUS "FAILED to compile: ${file}:${line} (${_src})\n${_output}")
    set(_failed ${_failed} "${file}:${line} (compile)" PARENT_SCOPE)
    return()
  endif()
  execute_process(
    COMMAND "${_exe}"
    RESULT_VARIABLE _result
    OUTPUT_VARIABLE _output
    ERROR_VARIABLE _output
    TIMEOUT 60)
  if(NOT _result EQUAL 0)
    message(STATUS "FAILED to run: ${file}:${line} exited with ${_result}\n${_output}")
    set(_failed ${_failed} "${file}:${line} (run)" PARENT_SCOPE)
    return()
  endif()
  set(_ran ${_ran} "${file}:${line}" PARENT_SCOPE)
endfunction()

foreach(_doc IN LISTS DOCS)
  file(READ "${SOURCE_DIR}/${_doc}" _text)
  _escape("${_text}" _text)
  string(REPLACE "\n" ";" _lines "${_text}")
  string(MAKE_C_IDENTIFIER "${_doc}" _stem)
  set(_number 0)
  set(_in_block OFF)
  set(_marker "")
  set(_marker_line 0)
  foreach(_line IN LISTS _lines)
    math(EXPR _number "${_number} + 1")
    if(_in_block)
      if(_line MATCHES "^```[ \t]*$")
        set(_in_block OFF)
        if(_is_cpp AND _body MATCHES "int main")
          _unescape("${_body}" _source)
          if(_block_marker MATCHES "^skip(.*)$")
            string(STRIP "${CMAKE_MATCH_1}" _why)
            if(_why STREQUAL "")
              list(APPEND _problems "${_doc}:${_block_line}: `test: skip` needs a reason")
            endif()
            list(APPEND _skipped "${_doc}:${_block_line} (${_why})")
          elseif(_block_marker MATCHES "^flags(.*)$")
            _unescape("${CMAKE_MATCH_1}" _flags)
            _try("${_stem}_${_block_line}" "${_doc}" "${_block_line}" "${_source}" "${_flags}")
          else()
            _try("${_stem}_${_block_line}" "${_doc}" "${_block_line}" "${_source}" "")
          endif()
        elseif(NOT _block_marker STREQUAL "")
          list(APPEND _problems "${_doc}:${_block_line}: a `test:` marker before a block that is not a C++ program")
        endif()
      else()
        string(APPEND _body "${_line}\n")
      endif()
      continue()
    endif()
    if(_line MATCHES "^```")
      set(_in_block ON)
      set(_is_cpp OFF)
      if(_line MATCHES "^```(cpp|c\\+\\+)[ \t]*$")
        set(_is_cpp ON)
      endif()
      set(_body "")
      set(_block_line ${_number})
      set(_block_marker "${_marker}")
      set(_marker "")
    elseif(_line MATCHES "^<!-- test: ((skip|flags)( .*)?) -->[ \t]*$")
      if(NOT _marker STREQUAL "")
        list(APPEND _problems "${_doc}:${_marker_line}: a `test:` marker without a block after it")
      endif()
      set(_marker "${CMAKE_MATCH_1}")
      set(_marker_line ${_number})
    elseif(NOT _line MATCHES "^[ \t]*$" AND NOT _marker STREQUAL "")
      list(APPEND _problems "${_doc}:${_marker_line}: a `test:` marker without a block after it")
      set(_marker "")
    endif()
  endforeach()
  if(_in_block)
    list(APPEND _problems "${_doc}:${_block_line}: a block that is never closed")
  endif()
endforeach()

list(LENGTH _ran _ran_count)
list(LENGTH _skipped _skipped_count)
foreach(_entry IN LISTS _ran)
  message(STATUS "ran: ${_entry}")
endforeach()
foreach(_entry IN LISTS _skipped)
  message(STATUS "skipped: ${_entry}")
endforeach()
if(_problems OR _failed)
  list(JOIN _problems "\n  " _problems_text)
  list(JOIN _failed "\n  " _failed_text)
  message(FATAL_ERROR "documentation examples: failed:\n  ${_failed_text}\nmarkers:\n  ${_problems_text}")
endif()
if(_ran_count EQUAL 0)
  message(FATAL_ERROR "no example with `int main` found in: ${DOCS}")
endif()
message(STATUS "${_ran_count} documentation examples compiled and ran, ${_skipped_count} skipped")
