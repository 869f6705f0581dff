// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// The second file of the separate-compilation program: the same classes,
// used again, must not bring their slow paths along either.
#include <ferroc/ferroc.hpp>

#include <cstddef>
#include <vector>

std::size_t fill_vector(std::size_t n) {
  std::vector<std::size_t, ferroc::allocator<std::size_t>> v;
  for (std::size_t i = 0; i < n; ++i)
    v.push_back(i);
  std::size_t sum = 0;
  for (std::size_t x : v)
    sum += x;
  return sum;
}
