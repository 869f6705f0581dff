// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// Catch2's runner for the global-allocator tests; the other files only
// register cases.
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12 with sanitizers reports -Wmaybe-uninitialized inside libstdc++'s
// <regex>, which Catch2's runner instantiates: not code of ours.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
