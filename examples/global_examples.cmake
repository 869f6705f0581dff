# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# Examples of the global allocator layer, included from examples/CMakeLists.txt. Each program
# checks its own results and exits nonzero on a wrong one; with the tests on, CTest runs each
# with small arguments (test names example.<name>, label "example").
#
#   custom_global  a Global<Static<N>> of one's own, with a heap per thread, over a fixed region
#   exchange       producer/consumer threads handing blocks over (xmalloc-test style)
#   random         a random workload of mixed sizes
#   stress         a multithreaded stress test with a corruption cookie (mstress style)
#   containers     standard containers on ferroc::allocator<T>
#   pmr            ferroc::resource() as the default std::pmr memory resource

set(_ferroc_global_examples_dir "${CMAKE_CURRENT_LIST_DIR}")

# ferroc_global_example(<name> <test arguments>...)
function(ferroc_global_example name)
  add_executable(example_${name} "${_ferroc_global_examples_dir}/${name}.cpp")
  set_target_properties(example_${name} PROPERTIES OUTPUT_NAME ${name})
  target_link_libraries(example_${name} PRIVATE ferroc::ferroc)
  target_compile_features(example_${name} PRIVATE cxx_std_20)
  if(COMMAND ferroc_target_options)
    ferroc_target_options(example_${name})
  endif()
  # GCC 12 at -O2 warns -Wrestrict inside libstdc++'s std::string code (GCC bug 105329, a
  # false positive); -Werror would make it an error.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12
     AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(example_${name} PRIVATE -Wno-restrict)
  endif()
  if(FERROC_BUILD_TESTS)
    add_test(NAME example.${name} COMMAND example_${name} ${ARGN})
    set_tests_properties(example.${name} PROPERTIES LABELS "example" TIMEOUT 300)
  endif()
endfunction()

ferroc_global_example(custom_global 2 2000)
ferroc_global_example(exchange 2 200 32)
ferroc_global_example(random 10000 100 1)
ferroc_global_example(stress 4 5 3)
ferroc_global_example(containers 5000)
ferroc_global_example(pmr 5000)
