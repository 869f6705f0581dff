// SPDX-License-Identifier: Apache-2.0 OR MIT
// As ferroc_allocator.cpp, including only the header that declares
// ferroc::allocator.
#include <ferroc/global/allocator.hpp>

#include <vector>

int sum_of_first(int n) {
  std::vector<int, ferroc::allocator<int>> v;
  for (int i = 0; i < n; ++i)
    v.push_back(i);
  int sum = 0;
  for (int x : v)
    sum += x;
  return sum;
}
