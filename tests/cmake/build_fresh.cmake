# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# cmake -DBUILD_DIR=<dir> -DTARGET=<target> -DOBJECTS=<files> -P build_fresh.cmake
# Compiles TARGET again even when it is up to date (its objects are removed
# first), so that the compiler's warnings reach the test's output.
file(REMOVE ${OBJECTS})
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR} --target ${TARGET}
                RESULT_VARIABLE result)
message(STATUS "build of ${TARGET}: ${result}")
