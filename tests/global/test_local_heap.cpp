// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// LocalHeap over the process-wide allocator's Arenas (the one-line heap):
// its blocks and the global allocator's are interchangeable, blocks of a
// keep_blocks heap stay valid after it ended and other threads free them,
// a free_blocks heap gives every segment back, and heaps on several
// threads trade blocks. Over given Arenas: tests/test_local_heap.cpp.
//
// Catch2's assertions are not thread-safe: worker threads count failures in
// atomics that the test thread checks after joining them.
#include <ferroc/ferroc.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <mutex>
#include <set>
#include <thread>
#include <type_traits>
#include <vector>

#include "global_test_util.hpp"

namespace {

namespace t = ferroc_global_test;
using G = ferroc::DefaultGlobal;

struct Block {
  void* p;
  std::size_t size;
  std::uint64_t tag;
};

std::size_t live_count(ferroc::LocalHeap<>& heap) {
  std::size_t n = 0;
  heap.heap().visit([&](void* /*p*/, std::size_t /*usable*/) { ++n; });
  return n;
}

} // namespace

static_assert(std::is_nothrow_default_constructible_v<ferroc::LocalHeap<>>);
static_assert(std::is_nothrow_constructible_v<ferroc::LocalHeap<>, ferroc::HeapEnd>);
static_assert(!std::is_convertible_v<ferroc::HeapEnd, ferroc::LocalHeap<>>, "explicit");

TEST_CASE("LocalHeap in one line: over the process-wide Arenas, blocks interchangeable",
          "[global][local_heap]") {
  ferroc::LocalHeap heap;
  static_assert(std::is_same_v<decltype(heap), ferroc::LocalHeap<ferroc::OsAlloc>>);
  CHECK(&heap.arenas() == &G::arenas());
  CHECK(heap.heap().context().reclaim() == ferroc::Reclaim::none);

  // Its blocks go back through the global allocator, and the other way.
  void* mine = heap.try_allocate(200);
  void* global = G::try_allocate(200);
  REQUIRE((mine != nullptr && global != nullptr));
  t::fill(mine, 200, 1);
  t::fill(global, 200, 2);
  CHECK(live_count(heap) == 1);
  CHECK(t::holds(mine, 200, 1));
  G::deallocate(mine);
  CHECK(live_count(heap) == 0);
  CHECK(t::holds(global, 200, 2));
  heap.deallocate(global);

  ferroc::allocator<int> alloc;
  int* p = alloc.allocate(10);
  heap.deallocate(p);
  auto* q = static_cast<int*>(heap.try_allocate(10 * sizeof(int)));
  REQUIRE(q != nullptr);
  alloc.deallocate(q, 10);

  // Another thread frees half of its blocks while it lives.
  std::vector<Block> blocks;
  for (std::uint64_t i = 0; i < 2000; ++i) {
    std::size_t const size = 1 + i % 3000;
    void* b = heap.try_allocate(size);
    REQUIRE(b != nullptr);
    t::fill(b, size, i);
    blocks.push_back({b, size, i});
  }
  std::thread([&] {
    for (std::size_t i = 0; i < blocks.size(); i += 2)
      G::deallocate(blocks[i].p);
  }).join();
  heap.collect();
  CHECK(live_count(heap) == blocks.size() / 2);
  for (std::size_t i = 1; i < blocks.size(); i += 2) {
    CHECK(t::holds(blocks[i].p, blocks[i].size, blocks[i].tag));
    heap.deallocate(blocks[i].p);
  }
  CHECK(live_count(heap) == 0);
}

TEST_CASE("LocalHeap keep_blocks: another thread frees its blocks after it went away",
          "[global][local_heap][threads]") {
  std::vector<Block> left;
  // A thread makes a heap, leaves blocks behind and exits.
  std::thread([&] {
    ferroc::LocalHeap heap;
    for (std::uint64_t i = 0; i < 3000; ++i) {
      std::size_t const size = 8 + (i * 37) % 20000;
      void* p = heap.try_allocate(size);
      if (p == nullptr)
        return;
      t::fill(p, size, i);
      left.push_back({p, size, i});
    }
  }).join();
  REQUIRE(left.size() == 3000);

  // Another allocates as much through the global allocator (which may take
  // over the dead heap's segments, but never its live blocks), checks the
  // blocks left behind and frees them.
  std::atomic<std::size_t> broken{0};
  std::thread([&] {
    std::vector<void*> mine;
    for (Block const& b : left) {
      for (int k = 0; k < 2; ++k) {
        void* p = G::try_allocate(b.size);
        if (p != nullptr)
          t::fill(p, b.size, 0xdead);
        mine.push_back(p);
      }
    }
    for (Block const& b : left) {
      if (!t::holds(b.p, b.size, b.tag) || G::usable_size(b.p) < b.size)
        broken.fetch_add(1);
      G::deallocate(b.p);
    }
    for (void* p : mine)
      G::deallocate(p);
  }).join();
  CHECK(broken.load() == 0);
}

TEST_CASE("LocalHeap free_blocks: every segment goes back when it ends", "[global][local_heap]") {
  ferroc::Arenas<ferroc::OsAlloc>& arenas = G::arenas();
  std::size_t const in_use = arenas.segments_in_use();
  std::size_t const abandoned = arenas.abandoned_segments();
  for (int round = 0; round < 3; ++round) {
    ferroc::LocalHeap heap{ferroc::HeapEnd::free_blocks};
    t::Rng rng{static_cast<std::uint64_t>(round) + 11};
    std::size_t count = 0;
    for (int i = 0; i < 20000; ++i) {
      std::size_t const size = rng.size();
      void* p = heap.try_allocate(size);
      REQUIRE(p != nullptr);
      t::fill(p, size, static_cast<std::uint64_t>(i));
      ++count;
    }
    CHECK(live_count(heap) == count);
    CHECK(arenas.segments_in_use() > in_use);
    // never freed one by one
  }
  CHECK(arenas.segments_in_use() == in_use);
  CHECK(arenas.abandoned_segments() == abandoned);
}

TEST_CASE("LocalHeaps on several threads trade blocks", "[global][local_heap][threads]") {
  constexpr int threads = 4;
  constexpr std::uint64_t per_thread = 2000;
  std::mutex mutex;
  std::vector<std::vector<Block>> made(threads);
  std::atomic<int> ready{0};
  std::atomic<std::size_t> broken{0};
  std::vector<std::thread> pool;
  for (int id = 0; id < threads; ++id) {
    pool.emplace_back([&, id] {
      ferroc::LocalHeap heap; // keep_blocks: others free what it leaves
      std::vector<Block> mine;
      for (std::uint64_t i = 0; i < per_thread; ++i) {
        std::size_t const size = 1 + (i * 101 + static_cast<std::uint64_t>(id)) % 5000;
        std::uint64_t const tag = static_cast<std::uint64_t>(id) * per_thread + i;
        void* p = heap.try_allocate(size);
        if (p == nullptr) {
          broken.fetch_add(1);
          continue;
        }
        t::fill(p, size, tag);
        mine.push_back({p, size, tag});
      }
      {
        std::lock_guard<std::mutex> lock{mutex};
        made[static_cast<std::size_t>(id)] = std::move(mine);
      }
      ready.fetch_add(1);
      while (ready.load() < threads)
        std::this_thread::yield();
      // Frees its neighbour's blocks through its own heap.
      std::vector<Block> theirs;
      {
        std::lock_guard<std::mutex> lock{mutex};
        theirs = made[static_cast<std::size_t>((id + 1) % threads)];
      }
      for (Block const& b : theirs) {
        if (!t::holds(b.p, b.size, b.tag))
          broken.fetch_add(1);
        heap.deallocate(b.p);
      }
      heap.collect(true);
    });
  }
  for (std::thread& th : pool)
    th.join();
  CHECK(broken.load() == 0);
}
