// SPDX-License-Identifier: Apache-2.0 OR MIT
// What bench/compile_time.sh measures: the same vector over
// ferroc::allocator, with the one header a user includes.
#include <ferroc/ferroc.hpp>

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
