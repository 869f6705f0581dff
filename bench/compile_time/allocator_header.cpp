// SPDX-License-Identifier: Apache-2.0 OR MIT
// As ferroc_allocator.cpp, including only the header that declares
// ferroc::allocator.
#include <ferroc/global/allocator.hpp>

#include <vector>

using Allocator = ferroc::allocator<int>;
#include "fill_vector.inc"
