// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// ferroc::override linked into a C++ program: every form of operator new
// and delete goes to Ferroc, and so do the allocations the C++ runtime
// makes for the program's std::string and std::vector. Built on Windows,
// where ferroc::override replaces operator new and delete only (malloc
// stays the C runtime's); Linux runs the same replacement through the
// ferroc.capi.*_linked tests.
//
// fe_malloc_usable_size is not 0 exactly for a pointer into Ferroc's
// segments, which tells a block of ours from one of the C runtime.
#include <ferroc.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "check.h"

namespace {

bool ours(void const* p) {
  return fe_malloc_usable_size(p) != 0;
}

struct alignas(256) Over {
  unsigned char bytes[256];
};

} // namespace

int main() {
  int* one = new int(7);
  CHECK(ours(one));
  delete one;

  auto* many = new int[1000];
  CHECK(ours(many));
  delete[] many;

  auto* nothrow = new (std::nothrow) double[64];
  REQUIRE(nothrow != nullptr);
  CHECK(ours(nothrow));
  delete[] nothrow;

  auto* over = new Over;
  CHECK(ours(over));
  CHECK(reinterpret_cast<std::uintptr_t>(over) % alignof(Over) == 0);
  delete over;

  // The C++ runtime's own calls (linked in statically) come here too.
  std::string text(1000, 'x');
  CHECK(ours(text.data()));
  std::vector<long> numbers(5000, 3);
  CHECK(ours(numbers.data()));

  // A block from another thread, freed here, and the other way round.
  int* from_thread = nullptr;
  std::thread([&from_thread] { from_thread = new int[100]; }).join();
  CHECK(ours(from_thread));
  delete[] from_thread;
  auto* to_thread = new std::vector<int>(100, 1);
  std::thread([to_thread] { delete to_thread; }).join();

  // malloc stays the C runtime's.
  void* c_block = std::malloc(100);
  CHECK(!ours(c_block));
  std::free(c_block);
  return check_result("override_new");
}
