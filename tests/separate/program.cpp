// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// A program built with FERROC_SEPARATE_COMPILATION=1 against ferroc::separate:
// the default global allocator (from two files and two threads), a heap of
// its own over MmapAlloc and one over a Static region. Exits 0 when every
// check holds, else prints the first that failed.
#include <ferroc/ferroc.hpp>

#include <cstddef>
#include <cstdio>
#include <cstring>
#include <memory_resource>
#include <thread>
#include <vector>

#if !FERROC_SEPARATE_COMPILATION
#error "built without FERROC_SEPARATE_COMPILATION: ferroc::separate sets it for its users"
#endif

std::size_t fill_vector(std::size_t n); // uses.cpp

namespace {

int failures = 0;

void check(bool ok, char const* what) {
  if (!ok) {
    std::fprintf(stderr, "separate: %s\n", what);
    ++failures;
  }
}

} // namespace

int main() {
  check(fill_vector(100000) == std::size_t{100000} * 99999 / 2, "vector over ferroc::allocator");

  // Blocks of every kind through the default global allocator.
  for (std::size_t size :
       {std::size_t{8}, std::size_t{1000}, std::size_t{100000}, std::size_t{3} << 20}) {
    auto* p = static_cast<unsigned char*>(ferroc::DefaultGlobal::try_allocate(size));
    check(p != nullptr && ferroc::DefaultGlobal::usable_size(p) >= size, "global try_allocate");
    if (p != nullptr)
      std::memset(p, 0x5a, size);
    ferroc::DefaultGlobal::deallocate(p);
  }

  // Freed by another thread.
  void* q = ferroc::Ferroc::instance().try_allocate(256);
  std::thread([q] { ferroc::Ferroc::instance().deallocate(q); }).join();

  std::pmr::vector<int> pv{ferroc::resource()};
  pv.assign(5000, 3);
  check(pv[4999] == 3, "pmr vector over ferroc::resource()");

  // A heap of its own over the OS: the default configuration's Heap.
  {
    ferroc::Arenas arenas{ferroc::MmapAlloc{}};
    ferroc::Context cx{arenas};
    ferroc::Heap heap{cx};
    std::vector<void*> blocks;
    for (int i = 0; i < 10000; ++i)
      blocks.push_back(heap.try_allocate(static_cast<std::size_t>(16 + i % 2000)));
    for (void* b : blocks) {
      check(b != nullptr, "own heap try_allocate");
      heap.deallocate(b);
    }
  }

  // A heap over a Static region: another configuration, header-only in
  // this mode too.
  {
    static ferroc::Static<(std::size_t{1} << 24)> region;
    ferroc::Arenas arenas{region};
    ferroc::Context cx{arenas};
    ferroc::Heap heap{cx};
    void* p = heap.try_allocate(4000);
    check(p != nullptr, "static heap try_allocate");
    heap.deallocate(p);
  }

  if (failures == 0)
    std::puts("separate: all checks passed");
  return failures == 0 ? 0 : 1;
}
