// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// Commits one misuse of the allocator, named by the first argument, in a
// release build (the free checks of detail/free_checks.hpp), in a child
// process that must end in an abort whose message names the fault and the
// address (death.h); CTest matches the message. Two kinds run in this
// process instead and must exit 0:
//
//   clean       a lot of legal work, blocks that hold the double-free key
//               as data among them: no false alarm;
//   ignore      every misuse kind below with FERROC_ON_INVALID_FREE=ignore:
//               the process goes on and the allocator still works;
//   zero_size   malloc(0) of the C API: unique pointers that fault when
//               read or written (in a child), and free, realloc,
//               free_sized and malloc_usable_size take them.

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include <ferroc/c_api.hpp>
#include <ferroc/ferroc.hpp>

#include "../checked/death.h"

#if FERROC_CHECKED || !FERROC_FREE_CHECKS
#error "misuse.cpp tests the free checks of release builds: build it without FERROC_CHECKED"
#endif

namespace {

using Base = ferroc::MmapAlloc;

struct Instance {
  ferroc::Arenas<Base> arenas{Base{}};
  ferroc::Context<Base> cx{arenas};
  ferroc::Heap<Base> heap{cx};
};

Instance& instance() {
  static Instance in;
  return in;
}

// Reaches memory through a pointer the optimiser cannot see through, so
// that deliberate misuse is not folded away or warned about.
template <class T> T* launder_ptr(T* p) {
  asm volatile("" : "+r"(p));
  return p;
}

int global_object[16];

// Runs the misuse `kind`; returns false for an unknown kind.
bool commit(std::string_view kind) {
  Instance& in = instance();
  namespace capi = ferroc::c_api;
  if (kind == "double_free") {
    void* p = in.heap.try_allocate(40);
    in.heap.deallocate(p);
    in.heap.deallocate(launder_ptr(p));
  } else if (kind == "double_free_interleaved") {
    void* p = in.heap.try_allocate(40);
    void* q = in.heap.try_allocate(40);
    in.heap.deallocate(p);
    in.heap.deallocate(q);
    in.heap.deallocate(launder_ptr(p));
  } else if (kind == "double_free_delayed") {
    // Other blocks of the size come and go in between.
    void* p = in.heap.try_allocate(40);
    in.heap.deallocate(p);
    for (int i = 0; i < 1000; ++i)
      in.heap.deallocate(launder_ptr(in.heap.try_allocate(40)));
    in.heap.deallocate(launder_ptr(p));
  } else if (kind == "double_free_aligned") {
    // An over-aligned block: its page takes the slow path.
    void* keep = in.heap.try_allocate(100, 256);
    void* p = in.heap.try_allocate(100, 256);
    in.heap.deallocate(p);
    in.heap.deallocate(launder_ptr(p));
    in.heap.deallocate(keep);
  } else if (kind == "double_free_large") {
    void* keep = in.heap.try_allocate(300000);
    void* p = in.heap.try_allocate(300000);
    in.heap.deallocate(p);
    in.heap.deallocate(launder_ptr(p));
    in.heap.deallocate(keep);
  } else if (kind == "double_free_huge") {
    void* p = in.heap.try_allocate(3 << 20);
    void* keep = in.heap.try_allocate(3 << 20); // the arena stays mapped
    in.heap.deallocate(p);
    in.heap.deallocate(launder_ptr(p));
    in.heap.deallocate(keep);
  } else if (kind == "global_double_free") {
    void* p = ferroc::Ferroc::try_allocate(24);
    ferroc::Ferroc::deallocate(p);
    ferroc::Ferroc::deallocate(launder_ptr(p));
  } else if (kind == "free_double_free") {
    void* p = capi::malloc(8);
    capi::free(p);
    capi::free(launder_ptr(p));
  } else if (kind == "foreign_stack") {
    int local[8] = {};
    capi::free(launder_ptr(local));
  } else if (kind == "foreign_global") {
    capi::free(launder_ptr(global_object));
  } else if (kind == "foreign_malloc") {
    void* p = std::malloc(64); // the C library's
    capi::free(launder_ptr(p));
    std::free(p); // reached with FERROC_ON_INVALID_FREE=ignore only
  } else if (kind == "unaligned") {
    auto* p = static_cast<char*>(capi::malloc(64));
    capi::free(launder_ptr(p + 8));
  } else if (kind == "interior_large") {
    auto* p = static_cast<char*>(capi::malloc(256 << 10));
    capi::free(launder_ptr(p + 4096));
  } else if (kind == "interior_huge") {
    auto* p = static_cast<char*>(capi::malloc(3 << 20));
    capi::free(launder_ptr(p + 4096));
  } else if (kind == "unused_page") {
    // Past the blocks its page has carved: no block was ever there.
    auto* p = static_cast<char*>(in.heap.try_allocate(1000));
    in.heap.deallocate(launder_ptr(p + (200 << 10)));
  } else if (kind == "wrong_size_large") {
    void* p = in.heap.try_allocate(16);
    in.heap.deallocate_sized(launder_ptr(p), 72);
  } else if (kind == "wrong_size_small") {
    void* p = in.heap.try_allocate(4096);
    in.heap.deallocate_sized(launder_ptr(p), 1);
  } else if (kind == "corrupted_free_list") {
    // Secure mode: a write after free overwrites a freed block's link.
    auto* a = static_cast<char*>(in.heap.try_allocate(48));
    auto* b = static_cast<char*>(in.heap.try_allocate(48));
    in.heap.deallocate(b);
    in.heap.deallocate(a);
    std::memset(launder_ptr(a), 0x41, 8);
    // Once the page's other free blocks are used up, `a` is handed out
    // again and its link followed.
    for (int i = 0; i < 100000; ++i)
      launder_ptr(in.heap.try_allocate(48));
  } else if (kind == "write_after_free") {
    // Secure mode: a write past a freed block's link and key, found when
    // the block is handed out again.
    auto* a = static_cast<char*>(in.heap.try_allocate(64));
    in.heap.deallocate(a);
    launder_ptr(a)[40] = 'x';
    for (int i = 0; i < 100000; ++i)
      launder_ptr(in.heap.try_allocate(64));
  } else if (kind == "overflow") {
    // Secure mode: the byte after the usable ones is the canary's.
    auto* p = static_cast<char*>(in.heap.try_allocate(40));
    launder_ptr(p)[in.heap.usable_size(p)] ^= 1;
    in.heap.deallocate(p);
  } else if (kind == "underflow") {
    // Secure mode: the byte before a block (not its page's first) ends the
    // canary of the block before it.
    char* last = nullptr;
    for (int i = 0; i < 4; ++i)
      last = std::max(last, static_cast<char*>(in.heap.try_allocate(40)));
    launder_ptr(last)[-1] ^= 1;
    in.heap.deallocate(last);
  } else if (kind == "slack_overflow") {
    // Secure mode: a write past the canary that leaves it whole lands in
    // the slack up to the end word, which must read zero (100 B asked for,
    // a 128 B block: the canary at 100, the slack from 108 to 120).
    auto* p = static_cast<char*>(in.heap.try_allocate(100));
    launder_ptr(p)[112] ^= 1;
    in.heap.deallocate(p);
  } else if (kind == "overflow_into_free_block" || kind == "underflow_into_free_block") {
    // Secure mode: a write into the link of the free block next to a live
    // one, found at the live one's free. Blocks come in random order: take
    // two neighbours of a page's blocks and free the one to write into.
    constexpr std::size_t size = 40; // a 64 B block with the canary
    std::vector<char*> blocks;
    for (int i = 0; i < 64; ++i)
      blocks.push_back(static_cast<char*>(in.heap.try_allocate(size)));
    std::sort(blocks.begin(), blocks.end());
    std::size_t i = 0;
    while (blocks[i + 1] - blocks[i] != 64)
      ++i;
    bool const over = kind == "overflow_into_free_block";
    char* live = over ? blocks[i] : blocks[i + 1];
    char* victim = over ? blocks[i + 1] : blocks[i];
    in.heap.deallocate(victim);
    launder_ptr(victim)[7] ^= 0x40; // a high byte of its stored link
    in.heap.deallocate(live);
  } else if (kind == "write_after_free_page") {
    // Secure mode: a write after free into a block that is never handed
    // out again, found when its emptied page goes back to its segment.
    auto* a = static_cast<char*>(in.heap.try_allocate(3000));
    in.heap.deallocate(a);
    launder_ptr(a)[100] = 'x';
    in.heap.collect(true);
  } else if (kind == "free_sized_wrong") {
    void* p = capi::malloc(100);
    capi::free_sized(launder_ptr(p), 4096);
  } else {
    return false;
  }
  return true;
}

char const* const all_kinds[] = {
    "double_free",       "double_free_interleaved", "double_free_delayed", "double_free_aligned",
    "double_free_large", "double_free_huge",        "global_double_free",  "free_double_free",
    "foreign_stack",     "foreign_global",          "foreign_malloc",      "unaligned",
    "interior_large",    "interior_huge",           "unused_page",         "wrong_size_large",
    "wrong_size_small",  "free_sized_wrong"};

// Runs in the child: returns only when the misuse went unnoticed.
void misuse(char const* name) {
  if (!commit(name)) {
    std::fprintf(stderr, "misuse: unknown kind '%s'\n", name);
    return;
  }
  std::fprintf(stderr, "misuse %s: not detected\n", name);
}

// Legal work, with blocks whose second word holds the double-free key (as
// a freed block's does) and blocks freed with their sizes.
int clean() {
  Instance& in = instance();
  std::uintptr_t const key = ferroc::detail::double_free_key();
  std::vector<std::pair<char*, std::size_t>> live;
  std::uint64_t x = 12345;
  for (int round = 0; round < 20000; ++round) {
    x = x * 6364136223846793005u + 1442695040888963407u;
    std::size_t size = 16 + (x >> 33) % 2048;
    if (round % 97 == 0)
      size = (x >> 20) % (3 << 20) + 16;
    std::size_t const align = round % 13 == 0 ? std::size_t{1} << ((x >> 40) % 14) : 16;
    auto* p = static_cast<char*>(in.heap.try_allocate(size, align));
    if (p == nullptr)
      return 1;
    std::memset(p, 0x5a, size);
    if (round % 3 == 0)
      std::memcpy(p + sizeof key, &key, sizeof key); // looks freed to the fast path
    if (round % 5 == 0) {
      std::size_t const smaller = size - size / 3;
      p = static_cast<char*>(in.heap.reallocate(p, smaller, align));
      if (p == nullptr)
        return 2;
      size = smaller;
    }
    live.emplace_back(p, size);
    if (live.size() > 500) {
      std::size_t const i = (x >> 12) % live.size();
      if (i % 2 == 0)
        in.heap.deallocate(live[i].first);
      else
        in.heap.deallocate_sized(live[i].first, live[i].second);
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
  for (std::size_t i = 1; i < live.size(); i += 2)
    in.heap.deallocate_sized(live[i].first, live[i].second);
  // The C API's sized frees, and a key-holding block through free.
  for (std::size_t size : {1u, 8u, 16u, 100u, 4096u, 300000u, 3u << 20}) {
    void* p = ferroc::c_api::malloc(size);
    if (size >= 16)
      std::memcpy(static_cast<char*>(p) + sizeof key, &key, sizeof key);
    ferroc::c_api::free_sized(p, size);
    ferroc::c_api::free(ferroc::c_api::malloc(size));
  }
  in.heap.collect(true);
  std::puts("misuse clean: no fault reported");
  return 0;
}

// Every kind with FERROC_ON_INVALID_FREE=ignore: no report, each pointer is
// left alone, the process goes on and the allocator still works.
int ignore() {
  setenv("FERROC_ON_INVALID_FREE", "ignore", 1);
  for (char const* kind : all_kinds)
    commit(kind);
  for (int i = 0; i < 100000; ++i) {
    void* p = ferroc::c_api::malloc(static_cast<std::size_t>(i % 5000));
    if (p == nullptr)
      return 1;
    std::memset(p, 1, static_cast<std::size_t>(i % 5000));
    ferroc::c_api::free(p);
  }
  std::puts("misuse ignore: every misuse left alone, the allocator still works");
  return 0;
}

// Whether reading the byte at `p` kills a child process with SIGSEGV.
bool read_faults(char const* p) {
  std::fflush(nullptr);
  pid_t const child = fork();
  if (child == 0) {
    alarm(30);
    std::signal(SIGSEGV, SIG_DFL); // a sanitizer's handler would exit instead
    volatile char c = *launder_ptr(p);
    (void)c;
    _exit(0);
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0) {
  }
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV;
}

int zero_size() {
  namespace capi = ferroc::c_api;
  std::vector<char*> blocks;
  for (int i = 0; i < 1000; ++i) {
    auto* p = static_cast<char*>(capi::malloc(0));
    if (p == nullptr || capi::usable_size(p) != 0)
      return 1;
    blocks.push_back(p);
  }
  std::vector<char*> sorted = blocks;
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end())
    return 2; // not unique
  if (!read_faults(blocks[0]) || !read_faults(blocks[999]))
    return 3;
  capi::free(blocks[0]);
  capi::free_sized(blocks[1], 0);
  auto* grown = static_cast<char*>(capi::realloc(blocks[2], 100));
  if (grown == nullptr || capi::usable_size(grown) < 100)
    return 4;
  std::memset(grown, 1, 100);
  capi::free(grown);
  if (capi::realloc(blocks[3], 0) != nullptr)
    return 5;
  for (std::size_t i = 4; i < blocks.size(); ++i)
    capi::free(blocks[i]);
  std::puts("misuse zero_size: unique, faulting, freed");
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: misuse <kind>|clean|ignore\n");
    return 2;
  }
  std::string_view const mode = argv[1];
  if (mode == "clean")
    return clean();
  if (mode == "ignore")
    return ignore();
  if (mode == "zero_size")
    return zero_size();
  return expect_abort(&misuse, argv[1]);
}
