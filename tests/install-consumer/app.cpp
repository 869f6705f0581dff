// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// The consumer's C++ program: uses Ferroc through its public header only, as
// found by find_package, add_subdirectory or pkg-config (docs_install.sh).
// Exits non-zero when an allocation fails or comes back unusable.

#include <ferroc/ferroc.hpp>

#include <cstdint>
#include <cstdio>
#include <cstring>

int main() {
  ferroc::Arenas arenas{ferroc::MmapAlloc{}};
  ferroc::Context cx{arenas};
  ferroc::Heap heap{cx};

  constexpr std::size_t size = 100;
  constexpr std::size_t align = 64;
  void* p = heap.try_allocate(size, align);
  if (p == nullptr) {
    std::fputs("install consumer: try_allocate returned nullptr\n", stderr);
    return 1;
  }
  if (reinterpret_cast<std::uintptr_t>(p) % align != 0) {
    std::fputs("install consumer: block is not aligned\n", stderr);
    return 2;
  }
  if (heap.usable_size(p) < size) {
    std::fputs("install consumer: usable_size is below the requested size\n", stderr);
    return 3;
  }
  std::memset(p, 0xab, size);
  heap.deallocate(p);
  heap.collect(true);

  std::puts("install consumer: ok");
  return 0;
}
