# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# The `install_consumer` test, run as `cmake -P` by CTest:
#   1. installs the Ferroc build tree into a prefix inside FERROC_WORK_DIR;
#   2. configures, builds and runs tests/install-consumer against that prefix
#      with find_package(ferroc);
#   3. when pkg-config is available, builds the same program with the flags
#      from the installed ferroc.pc and runs it.
#
# Inputs (-D...): FERROC_BINARY_DIR, FERROC_CONSUMER_DIR, FERROC_WORK_DIR,
# FERROC_CONFIG, FERROC_GENERATOR, FERROC_MAKE_PROGRAM, FERROC_CXX_COMPILER,
# FERROC_PC_DIR, FERROC_INCLUDEDIR, FERROC_VERSION.

cmake_minimum_required(VERSION 3.20)

foreach(var FERROC_BINARY_DIR FERROC_CONSUMER_DIR FERROC_WORK_DIR FERROC_CXX_COMPILER)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "TestInstall.cmake: ${var} is not set")
  endif()
endforeach()

set(prefix "${FERROC_WORK_DIR}/prefix")
set(build "${FERROC_WORK_DIR}/build")

# Runs a command; stops the script (and so fails the test) when it fails.
function(run_step name)
  message(STATUS "install_consumer: ${name}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "install_consumer: step \"${name}\" failed (${rc})")
  endif()
endfunction()

file(REMOVE_RECURSE "${FERROC_WORK_DIR}")
file(MAKE_DIRECTORY "${FERROC_WORK_DIR}")

set(config_args)
if(FERROC_CONFIG)
  set(config_args --config "${FERROC_CONFIG}")
endif()

run_step("install into ${prefix}" "${CMAKE_COMMAND}" --install "${FERROC_BINARY_DIR}" --prefix
         "${prefix}" ${config_args})

if(NOT FERROC_INCLUDEDIR)
  set(FERROC_INCLUDEDIR include)
endif()
if(NOT IS_ABSOLUTE "${FERROC_INCLUDEDIR}")
  set(FERROC_INCLUDEDIR "${prefix}/${FERROC_INCLUDEDIR}")
endif()
if(NOT EXISTS "${FERROC_INCLUDEDIR}/ferroc/ferroc.hpp")
  message(FATAL_ERROR "install_consumer: ferroc/ferroc.hpp was not installed")
endif()

# --- find_package(ferroc) --------------------------------------------------

set(configure_args -S "${FERROC_CONSUMER_DIR}" -B "${build}" "-DCMAKE_PREFIX_PATH=${prefix}"
                   "-DCMAKE_CXX_COMPILER=${FERROC_CXX_COMPILER}")
if(FERROC_GENERATOR)
  list(APPEND configure_args -G "${FERROC_GENERATOR}")
endif()
if(FERROC_MAKE_PROGRAM)
  list(APPEND configure_args "-DCMAKE_MAKE_PROGRAM=${FERROC_MAKE_PROGRAM}")
endif()
if(FERROC_CONFIG)
  list(APPEND configure_args "-DCMAKE_BUILD_TYPE=${FERROC_CONFIG}")
endif()
if(FERROC_VERSION)
  list(APPEND configure_args "-DFERROC_EXPECTED_VERSION=${FERROC_VERSION}")
endif()

run_step("configure consumer" "${CMAKE_COMMAND}" ${configure_args})

# The package must come from our prefix, not from some ferroc installed on the
# system.
file(STRINGS "${build}/CMakeCache.txt" found_dir REGEX "^ferroc_DIR:")
string(REGEX REPLACE "^ferroc_DIR:[A-Z]+=" "" found_dir "${found_dir}")
file(REAL_PATH "${found_dir}" found_dir)
file(REAL_PATH "${prefix}" real_prefix)
string(FIND "${found_dir}" "${real_prefix}/" at)
if(NOT at EQUAL 0)
  message(FATAL_ERROR "install_consumer: found ferroc in \"${found_dir}\", not under \"${prefix}\"")
endif()

run_step("build consumer" "${CMAKE_COMMAND}" --build "${build}" ${config_args})
run_step("run consumer" "${build}/bin/ferroc_consumer")

# --- pkg-config ------------------------------------------------------------

find_program(PKG_CONFIG_EXECUTABLE NAMES pkg-config pkgconf)
if(NOT PKG_CONFIG_EXECUTABLE OR NOT FERROC_PC_DIR)
  message(STATUS "install_consumer: no pkg-config, skipping the ferroc.pc check")
  return()
endif()

set(ENV{PKG_CONFIG_PATH} "${prefix}/${FERROC_PC_DIR}")
execute_process(
  COMMAND "${PKG_CONFIG_EXECUTABLE}" --cflags --libs ferroc
  RESULT_VARIABLE rc
  OUTPUT_VARIABLE pc_flags
  OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "install_consumer: pkg-config does not find the installed ferroc.pc")
endif()
message(STATUS "install_consumer: pkg-config flags: ${pc_flags}")
separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")

run_step("build consumer with pkg-config flags" "${FERROC_CXX_COMPILER}" -std=c++20
         "${FERROC_CONSUMER_DIR}/main.cpp" ${pc_flags} -o "${FERROC_WORK_DIR}/consumer-pc")
run_step("run pkg-config consumer" "${FERROC_WORK_DIR}/consumer-pc")
