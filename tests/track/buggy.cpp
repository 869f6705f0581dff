// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// A deliberately buggy program on a Ferroc Heap, built with memory-checker
// tracking (FERROC_TRACK_VALGRIND=1 or FERROC_TRACK_ASAN=1). Each kind
// commits one bug that the checker must report; CTest runs it under the
// checker and matches the report. `clean` commits none.
//
//   use_after_free   reads a block after freeing it
//   overflow         reads one byte past the end of a block (the next
//                    block is free)
//   uninitialized    branches on a fresh block's contents (Valgrind only)
//   leak             drops the last pointer to a block (Valgrind only)

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <ferroc/ferroc.hpp>

#if !FERROC_TRACK_VALGRIND && !FERROC_TRACK_ASAN
#error "buggy.cpp tests tracking: build it with FERROC_TRACK_VALGRIND=1 or FERROC_TRACK_ASAN=1"
#endif

namespace {

using Base = ferroc::MmapAlloc;

// Never destroyed: a leaked block stays in the arenas until the exit, where
// the leak check finds it (destroying the arenas would free it).
ferroc::Arenas<Base>& arenas = *new ferroc::Arenas<Base>{Base{}};

// Keeps the compiler from seeing through the pointer.
template <class T> T* launder_ptr(T* p) {
  asm volatile("" : "+r"(p));
  return p;
}

void* volatile sink;

// Legal work of every kind, so that the allocator's own accesses to free
// blocks (links, trailers) are seen to be opened and closed correctly:
// small, large and huge blocks, aligned ones, zeroed ones, reallocation,
// frees from another thread and from another Heap.
void clean(ferroc::Heap<Base>& heap) {
  std::vector<std::pair<char*, std::size_t>> live;
  std::uint64_t x = 88172645463325252u;
  for (int i = 0; i < 20000; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::size_t size = x % 1500;
    if (i % 211 == 0)
      size = x % (5 << 20);
    std::size_t const align = i % 17 == 0 ? std::size_t{64} << (x % 8) : 16;
    char* p = static_cast<char*>(i % 3 == 0 ? heap.allocate_zeroed(size, align)
                                            : heap.try_allocate(size, align));
    if (p == nullptr) {
      std::fprintf(stderr, "buggy clean: out of memory (%zu bytes, align %zu, round %d)\n", size,
                   align, i);
      std::exit(1);
    }
    std::memset(p, 3, size);
    if (i % 7 == 0) {
      std::size_t const next = (size * 3) / 2 + 1;
      p = static_cast<char*>(heap.reallocate(p, next, align));
      std::memset(p, 4, next);
      size = next;
    }
    live.emplace_back(p, size);
    if (live.size() > 300) {
      std::size_t const k = x % live.size();
      heap.deallocate(live[k].first);
      live[k] = live.back();
      live.pop_back();
    }
  }
  ferroc::Context<Base> other_cx{arenas};
  ferroc::Heap<Base> other{other_cx};
  std::thread remote([&] {
    for (std::size_t k = 0; k < live.size(); k += 3)
      arenas.deallocate(live[k].first);
  });
  remote.join();
  for (std::size_t k = 1; k < live.size(); k += 3)
    other.deallocate(live[k].first);
  for (std::size_t k = 2; k < live.size(); k += 3)
    heap.deallocate(live[k].first);
  heap.collect(true);
  other.collect(true);
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: buggy use_after_free|overflow|uninitialized|leak|clean\n");
    return 2;
  }
  std::string_view const kind = argv[1];
  ferroc::Context<Base> cx{arenas};
  ferroc::Heap<Base> heap{cx};
  volatile char observed = 0;
  if (kind == "use_after_free") {
    auto* p = static_cast<char*>(heap.try_allocate(64));
    std::memset(p, 1, 64);
    heap.deallocate(p);
    observed = launder_ptr(p)[8];
  } else if (kind == "overflow") {
    auto* p = static_cast<char*>(heap.try_allocate(64));
    std::memset(p, 1, heap.usable_size(p));
    observed = launder_ptr(p)[heap.usable_size(p)];
    heap.deallocate(p);
  } else if (kind == "uninitialized") {
    auto* p = static_cast<char*>(heap.try_allocate(64));
    if (launder_ptr(p)[3] == 42)
      std::puts("forty-two");
    heap.deallocate(p);
  } else if (kind == "leak") {
    // Not the first block of its page: the page header points at that one.
    void* first = heap.try_allocate(1000);
    sink = heap.try_allocate(1000);
    sink = nullptr;
    heap.deallocate(first);
  } else if (kind == "clean") {
    clean(heap);
  } else {
    std::fprintf(stderr, "buggy: unknown kind '%s'\n", argv[1]);
    return 2;
  }
  std::printf("buggy %s: done (%d)\n", argv[1], observed);
  return 0;
}
