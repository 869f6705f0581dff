// SPDX-License-Identifier: Apache-2.0 OR MIT
// The baseline of bench/compile_time.sh: a vector over std::allocator.
#include <vector>

int sum_of_first(int n) {
  std::vector<int> v;
  for (int i = 0; i < n; ++i)
    v.push_back(i);
  int sum = 0;
  for (int x : v)
    sum += x;
  return sum;
}
