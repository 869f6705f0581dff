// SPDX-License-Identifier: Apache-2.0 OR MIT
// What bench/compile_time.sh measures: the same vector over
// ferroc::allocator, with the one header a user includes.
#include <ferroc/ferroc.hpp>

#include <vector>

using Allocator = ferroc::allocator<int>;
#include "fill_vector.inc"
