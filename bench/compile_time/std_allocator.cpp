// SPDX-License-Identifier: Apache-2.0 OR MIT
// The baseline of bench/compile_time.sh: a vector over std::allocator.
#include <vector>

using Allocator = std::vector<int>::allocator_type; // std::allocator<int>, without <memory>
#include "fill_vector.inc"
