// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// Commits one misuse of the allocator, named by the first argument, in
// checked mode (FERROC_CHECKED=1), in a child process that must end in an
// abort whose message names the fault and the address (death.h); CTest
// matches the message. `misuse clean` does a lot of legal work instead, in
// this process, and must exit 0: checked mode raises no false alarm.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <thread>
#include <vector>

#include <ferroc/ferroc.hpp>

#include "death.h"

#if !FERROC_CHECKED
#error "misuse.cpp tests checked mode: build it with FERROC_CHECKED=1"
#endif

namespace {

using Base = ferroc::MmapAlloc;

struct Instance {
  ferroc::Arenas<Base> arenas{Base{}};
  ferroc::Context<Base> cx{arenas};
  ferroc::Heap<Base> heap{cx};
};

// Reaches memory through a pointer the optimiser cannot see through, so
// that deliberate misuse is not folded away or warned about.
template <class T> T* launder_ptr(T* p) {
  asm volatile("" : "+r"(p));
  return p;
}

int global_object[16];

int clean(Instance& in) {
  // Every size kind, aligned blocks, realloc, cross-thread frees, zeroed
  // blocks, writes to every requested byte.
  std::vector<std::pair<char*, std::size_t>> live;
  std::uint64_t x = 12345;
  for (int round = 0; round < 20000; ++round) {
    x = x * 6364136223846793005u + 1442695040888963407u;
    std::size_t size = (x >> 33) % 2048;
    if (round % 97 == 0)
      size = (x >> 20) % (3 << 20);
    std::size_t const align = round % 13 == 0 ? std::size_t{1} << ((x >> 40) % 14) : 16;
    auto* p = static_cast<char*>(in.heap.try_allocate(size, align));
    if (p == nullptr || in.heap.usable_size(p) != size)
      return 1;
    std::memset(p, 0x5a, size);
    if (round % 5 == 0 && size > 0) {
      std::size_t const grown = size * 2 + 3;
      p = static_cast<char*>(in.heap.reallocate(p, grown, align));
      if (p == nullptr || in.heap.usable_size(p) != grown || p[size - 1] != 0x5a)
        return 2;
      std::memset(p, 0x5b, grown);
      size = grown;
    }
    live.emplace_back(p, size);
    if (live.size() > 500) {
      std::size_t const i = (x >> 12) % live.size();
      in.heap.deallocate(live[i].first);
      live[i] = live.back();
      live.pop_back();
    }
  }
  // Half of the rest is freed by another thread (no Heap: Arenas::deallocate).
  std::thread remote([&] {
    for (std::size_t i = 0; i < live.size(); i += 2)
      in.arenas.deallocate(live[i].first);
  });
  remote.join();
  // The rest with their sizes (a realloc'ed block's size is its new one).
  for (std::size_t i = 1; i < live.size(); i += 2)
    in.heap.deallocate_sized(live[i].first, live[i].second);
  in.heap.collect(true);
  std::puts("misuse clean: no fault reported");
  return 0;
}

Instance& instance() {
  static Instance in;
  return in;
}

// Runs in the child: returns only when the misuse went unnoticed.
void misuse(char const* name) {
  std::string_view const kind = name;
  Instance& in = instance();
  if (kind == "double_free") {
    void* p = in.heap.try_allocate(40);
    in.heap.deallocate(p);
    in.heap.deallocate(launder_ptr(p));
  } else if (kind == "double_free_remote") {
    void* p = in.heap.try_allocate(40);
    std::thread([&] { in.arenas.deallocate(p); }).join();
    std::thread([&] { in.arenas.deallocate(launder_ptr(p)); }).join();
  } else if (kind == "double_free_huge") {
    void* p = in.heap.try_allocate(3 << 20);
    void* keep = in.heap.try_allocate(3 << 20); // the arena stays mapped
    in.heap.deallocate(p);
    in.heap.deallocate(launder_ptr(p));
    in.heap.deallocate(keep);
  } else if (kind == "foreign_stack") {
    int local[8] = {};
    in.heap.deallocate(launder_ptr(local));
  } else if (kind == "foreign_global") {
    in.heap.deallocate(launder_ptr(global_object));
  } else if (kind == "foreign_malloc") {
    void* p = std::malloc(64);
    in.heap.deallocate(launder_ptr(p));
  } else if (kind == "interior") {
    auto* p = static_cast<char*>(in.heap.try_allocate(100));
    in.heap.deallocate(launder_ptr(p + 32));
  } else if (kind == "interior_aligned") {
    auto* p = static_cast<char*>(in.heap.try_allocate(100, 256));
    in.heap.deallocate(launder_ptr(p + 16));
  } else if (kind == "wrong_arenas") {
    static Instance other;
    void* p = other.heap.try_allocate(64);
    in.heap.deallocate(launder_ptr(p));
  } else if (kind == "corrupted_free_list") {
    auto* a = static_cast<char*>(in.heap.try_allocate(48));
    auto* b = static_cast<char*>(in.heap.try_allocate(48));
    in.heap.deallocate(b);
    in.heap.deallocate(a);
    // Use after free: a program overwrites the first word of a freed block.
    std::memset(launder_ptr(a), 0x41, 8);
    // Once the page's other free blocks are used up, `a` is handed out
    // again and its link followed.
    for (int i = 0; i < 100000; ++i)
      launder_ptr(in.heap.try_allocate(48));
  } else if (kind == "overflow") {
    auto* p = static_cast<char*>(in.heap.try_allocate(40));
    launder_ptr(p)[40] = 'x'; // one byte too far
    in.heap.deallocate(p);
  } else if (kind == "overflow_large") {
    auto* p = static_cast<char*>(in.heap.try_allocate(100000));
    std::memset(launder_ptr(p) + 100000, 0, 4);
    in.heap.deallocate(p);
  } else if (kind == "overflow_far") {
    auto* p = static_cast<char*>(in.heap.try_allocate(40));
    std::memset(launder_ptr(p) + 40, 0, 40); // through the trailer
    in.heap.deallocate(p);
  } else if (kind == "wrong_size") {
    void* p = in.heap.try_allocate(100);
    in.heap.deallocate_sized(launder_ptr(p), 96);
  } else if (kind == "wrong_alignment") {
    void* p = in.heap.try_allocate(100, 64);
    // Twice the alignment the address happens to have: one it does not.
    auto const addr = reinterpret_cast<std::uintptr_t>(p);
    in.heap.deallocate_sized(launder_ptr(p), 100, 2 * (addr & (~addr + 1)));
  } else if (kind == "global_wrong_size") {
    void* p = ferroc::DefaultGlobal::try_allocate(3 << 20); // huge
    ferroc::DefaultGlobal::deallocate_sized(launder_ptr(p), (3 << 20) + 1);
  } else if (kind == "global_double_free") {
    void* p = ferroc::Ferroc::try_allocate(24);
    ferroc::Ferroc::deallocate(p);
    ferroc::Ferroc::deallocate(launder_ptr(p));
  } else if (kind == "local_heap_wrong_thread") {
    ferroc::LocalHeap<> heap;
    void* p = heap.try_allocate(24);
    // Another thread frees through the heap instead of its own.
    std::thread([&] { heap.deallocate(launder_ptr(p)); }).join();
  } else {
    std::fprintf(stderr, "misuse: unknown kind '%s'\n", name);
    return;
  }
  std::fprintf(stderr, "misuse %s: not detected\n", name);
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: misuse <kind>\n");
    return 2;
  }
  if (std::string_view{argv[1]} == "clean")
    return clean(instance());
  return expect_abort(&misuse, argv[1]);
}
