// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// Heap walking (Heap::visit) and freeing a whole heap at once (Heap::destroy).

#include <ferroc/ferroc.hpp>

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "test_util.hpp"

namespace {

using Arenas = ferroc::Arenas<ferroc::OsAlloc>;
using Context = ferroc::Context<ferroc::OsAlloc>;
using Heap = ferroc::Heap<ferroc::OsAlloc>;

struct Fixture {
  Arenas arenas{ferroc::OsAlloc{}};
  Context cx{arenas};
  Heap heap{cx};
};

// What visit reports: pointer -> usable size.
std::map<void*, std::size_t> visited(Heap& heap) {
  std::map<void*, std::size_t> seen;
  heap.visit([&](void* p, std::size_t size) {
    CHECK(seen.count(p) == 0); // each block once
    seen[p] = size;
  });
  return seen;
}

// Sizes of every page kind below the huge blocks, which no heap owns.
std::size_t size_for(std::uint64_t i) {
  switch (i % 4) {
  case 0:
    return i % 200;
  case 1:
    return 100 + i % 900;
  case 2:
    return 9000 + i % 20000;
  default:
    return i % 16 == 3 ? 100000 + i * 10 : 3000;
  }
}

} // namespace

TEST_CASE("visit reports exactly the live blocks of a heap", "[heap][visit]") {
  Fixture f;
  CHECK(visited(f.heap).empty());

  std::map<void*, std::size_t> live;
  std::vector<void*> order;
  for (std::uint64_t i = 0; i < 3000; ++i) {
    std::size_t const size = size_for(i);
    void* p = f.heap.try_allocate(size);
    REQUIRE(p != nullptr);
    std::memset(p, 0x5c, size);
    live[p] = size;
    order.push_back(p);
  }
  // Free every third block here, and every fifth of the rest from another
  // thread (a remote free the walk must take in).
  std::vector<void*> remote;
  for (std::size_t i = 0; i < order.size(); ++i) {
    if (i % 3 == 0) {
      f.heap.deallocate(order[i]);
      live.erase(order[i]);
    } else if (i % 5 == 0) {
      remote.push_back(order[i]);
      live.erase(order[i]);
    }
  }
  std::thread([&] {
    for (void* p : remote)
      f.arenas.deallocate(p);
  }).join();

  std::map<void*, std::size_t> const seen = visited(f.heap);
  CHECK(seen.size() == live.size());
  for (auto const& [p, size] : live) {
    auto const it = seen.find(p);
    REQUIRE(it != seen.end());
    CHECK(it->second >= size);
    CHECK(it->second == f.heap.usable_size(p));
  }
  for (auto const& [p, size] : live)
    f.heap.deallocate(p);
  CHECK(visited(f.heap).empty());
}

TEST_CASE("visit leaves out huge blocks and other heaps' blocks", "[heap][visit]") {
  Fixture f;
  Context other_cx{f.arenas};
  Heap other{other_cx};
  void* huge = f.heap.try_allocate(3 * ferroc_test::MiB);
  void* mine = f.heap.try_allocate(64);
  void* theirs = other.try_allocate(64);
  REQUIRE((huge != nullptr && mine != nullptr && theirs != nullptr));
  std::map<void*, std::size_t> const seen = visited(f.heap);
  CHECK(seen.size() == 1);
  CHECK(seen.count(mine) == 1);
  f.heap.deallocate(huge);
  f.heap.deallocate(mine);
  other.deallocate(theirs);
}

TEST_CASE("destroy frees every block of a heap at once, and the heap goes on", "[heap][destroy]") {
  Fixture f;
  std::size_t const start = f.arenas.segments_in_use();
  for (int round = 0; round < 3; ++round) {
    std::vector<void*> kept; // never freed one by one
    for (std::uint64_t i = 0; i < 5000; ++i) {
      void* p = f.heap.try_allocate(size_for(i));
      REQUIRE(p != nullptr);
      std::memset(p, round, size_for(i));
      kept.push_back(p);
    }
    // A few freed by another thread before the destroy.
    std::thread([&] {
      for (std::size_t i = 0; i < kept.size(); i += 7)
        f.arenas.deallocate(kept[i]);
    }).join();
    f.heap.destroy();
    CHECK(visited(f.heap).empty());
    f.heap.collect(true);
    CHECK(f.arenas.segments_in_use() == start);
  }
  // Still a working heap.
  void* p = f.heap.try_allocate(100);
  REQUIRE(p != nullptr);
  std::memset(p, 1, 100);
  f.heap.deallocate(p);
}

TEST_CASE("a Context made with Reclaim::none leaves dead heaps' blocks alone on destroy",
          "[heap][destroy]") {
  Arenas arenas{ferroc::OsAlloc{}};
  // A heap that goes away with live blocks of several kinds: its segments
  // are abandoned to the arenas.
  std::vector<void*> left;
  {
    Context cx{arenas};
    Heap heap{cx};
    for (std::uint64_t i = 0; i < 400; ++i) {
      void* p = heap.try_allocate(size_for(i));
      REQUIRE(p != nullptr);
      std::memset(p, 0x3c, size_for(i));
      left.push_back(p);
    }
  }
  std::size_t const abandoned = arenas.abandoned_segments();
  REQUIRE(abandoned > 0);

  Context cx{arenas, ferroc::Reclaim::none};
  CHECK(cx.reclaim() == ferroc::Reclaim::none);
  Heap heap{cx};
  std::set<void*> const dead(left.begin(), left.end());
  std::vector<void*> mine;
  for (std::uint64_t i = 0; i < 400; ++i) {
    void* p = heap.try_allocate(size_for(i));
    REQUIRE(p != nullptr);
    CHECK(dead.count(p) == 0);
    mine.push_back(p);
  }
  heap.collect(true); // a forced collect reclaims too, where it may
  CHECK(arenas.abandoned_segments() == abandoned);
  // Its destroy frees its own blocks only: none of the dead heap's is
  // handed out again.
  heap.destroy();
  for (std::uint64_t i = 0; i < 2000; ++i) {
    void* p = heap.try_allocate(size_for(i));
    REQUIRE(p != nullptr);
    CHECK(dead.count(p) == 0);
  }
  for (std::size_t i = 0; i < left.size(); ++i)
    CHECK(ferroc_test::all_bytes_are(left[i], size_for(i), 0x3c));
  heap.destroy();

  // The default takes the dead heap's segments over (the test above can fail).
  Context taker_cx{arenas};
  CHECK(taker_cx.reclaim() == ferroc::Reclaim::abandoned);
  Heap taker{taker_cx};
  taker.collect(true);
  CHECK(arenas.abandoned_segments() == 0);
  for (void* p : left)
    taker.deallocate(p);
}
