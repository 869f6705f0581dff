// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// Global allocators of one's own: two over Static regions (distinct tags)
// used at once with the default one, each block checked to lie in its own
// region; a region's hard limit; and a Global whose heaps are released by a
// C++ thread_local destructor instead of a pthread key.
#include <ferroc/ferroc.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <memory_resource>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "global_test_util.hpp"

namespace {

namespace t = ferroc_global_test;

struct RegionATag {};
struct RegionBTag {};
struct ThreadLocalTag {};

// 16 MiB each: room for three 4 MiB segments once alignment is paid for.
using RegionA =
    ferroc::Global<ferroc::Static<(1 << 24)>, ferroc::ThreadExit::pthread_key, RegionATag>;
using RegionB =
    ferroc::Global<ferroc::Static<(1 << 24)>, ferroc::ThreadExit::pthread_key, RegionBTag>;
using TlGlobal =
    ferroc::Global<ferroc::OsAlloc, ferroc::ThreadExit::thread_local_dtor, ThreadLocalTag>;
using Default = ferroc::DefaultGlobal;

// True when [p, p + size) lies inside the Static region that G owns.
template <class G> bool in_region(void const* p, std::size_t size) {
  auto& base = G::arenas().base();
  auto const lo = reinterpret_cast<std::uintptr_t>(&base);
  auto const hi = lo + sizeof(base);
  auto const addr = reinterpret_cast<std::uintptr_t>(p);
  return addr >= lo && addr + size <= hi;
}

enum class Source { a, b, def };

struct Block {
  void* p;
  std::size_t size;
  std::uint64_t tag;
  Source source;
};

Block allocate_from(Source s, std::size_t size, std::uint64_t tag) {
  void* p = nullptr;
  switch (s) {
  case Source::a:
    p = RegionA::try_allocate(size);
    break;
  case Source::b:
    p = RegionB::try_allocate(size);
    break;
  case Source::def:
    p = Default::try_allocate(size);
    break;
  }
  if (p != nullptr)
    t::fill(p, size, tag);
  return {p, size, tag, s};
}

// The block lies where its allocator's memory is, and nowhere else.
bool placed_right(Block const& b) {
  bool const a = in_region<RegionA>(b.p, b.size);
  bool const bb = in_region<RegionB>(b.p, b.size);
  switch (b.source) {
  case Source::a:
    return a && !bb;
  case Source::b:
    return bb && !a;
  case Source::def:
    return !a && !bb;
  }
  return false;
}

void free_block(Block const& b) {
  switch (b.source) {
  case Source::a:
    RegionA::deallocate(b.p);
    break;
  case Source::b:
    RegionB::deallocate(b.p);
    break;
  case Source::def:
    Default::deallocate(b.p);
    break;
  }
}

// Leaves every global allocator of this file with no cached memory on the
// calling thread, so one test's leftovers do not starve the next.
void collect_all() {
  RegionA::collect(true);
  RegionB::collect(true);
  Default::collect(true);
}

} // namespace

TEST_CASE("custom global: distinct tags make distinct allocators", "[global][custom]") {
  STATIC_REQUIRE(!std::is_same_v<RegionA, RegionB>);
  CHECK(&RegionA::arenas() != &RegionB::arenas());
  CHECK(static_cast<void*>(&RegionA::arenas()) != static_cast<void*>(&Default::arenas()));
  CHECK(&RegionA::arenas().base() != &RegionB::arenas().base());
  CHECK(RegionA::thread_heap() != nullptr);
  CHECK(static_cast<void*>(RegionA::thread_heap()) != static_cast<void*>(RegionB::thread_heap()));
  CHECK(static_cast<void*>(RegionA::thread_heap()) != static_cast<void*>(Default::thread_heap()));
  // Each Global has its own memory resource, and they are not equal.
  auto& ra = ferroc::global_resource<RegionA>::instance();
  auto& rb = ferroc::global_resource<RegionB>::instance();
  CHECK_FALSE(ra.is_equal(rb));
  CHECK_FALSE(ra.is_equal(*ferroc::resource()));
}

TEST_CASE("custom global: three allocators at once, each in its own memory", "[global][custom]") {
  t::Rng rng(11);
  std::vector<Block> blocks;
  for (std::uint64_t i = 0; i < 3000; ++i) {
    auto const s = static_cast<Source>(i % 3);
    // Small and medium sizes: a region has room for a few segments only.
    std::size_t const size = 1 + static_cast<std::size_t>(rng.below(i % 10 == 0 ? 20000 : 700));
    Block b = allocate_from(s, size, i);
    REQUIRE(b.p != nullptr);
    REQUIRE(placed_right(b));
    blocks.push_back(b);
  }
  for (Block const& b : blocks) {
    REQUIRE(t::holds(b.p, b.size, b.tag));
    free_block(b);
  }
  collect_all();
}

TEST_CASE("custom global: two static globals across threads", "[global][custom][threads]") {
  // The worker allocates from all three and hands half of its blocks to
  // the main thread, which frees them; the main thread does the same in
  // the other direction.
  std::size_t const rounds = 50 * t::test_scale();
  std::mutex lock;
  std::vector<Block> to_main;
  std::vector<Block> to_worker;
  std::atomic<std::size_t> worker_bad{0};
  std::atomic<bool> worker_done{false};

  auto check_and_free = [](std::vector<Block>& mine, std::mutex& l) {
    std::vector<Block> taken;
    {
      std::lock_guard<std::mutex> guard(l);
      taken.swap(mine);
    }
    std::size_t bad = 0;
    for (Block const& b : taken) {
      if (!t::holds(b.p, b.size, b.tag) || !placed_right(b))
        ++bad;
      free_block(b);
    }
    return bad;
  };

  auto produce = [&lock](std::vector<Block>& out, std::uint64_t seed, std::size_t& bad) {
    t::Rng rng(seed);
    std::vector<Block> kept;
    std::vector<Block> given;
    for (std::uint64_t i = 0; i < 60; ++i) {
      Block b = allocate_from(static_cast<Source>(rng.below(3)),
                              1 + static_cast<std::size_t>(rng.below(2000)), seed + i);
      if (b.p == nullptr || !placed_right(b)) {
        ++bad;
        continue;
      }
      (i % 2 == 0 ? kept : given).push_back(b);
    }
    {
      std::lock_guard<std::mutex> guard(lock);
      out.insert(out.end(), given.begin(), given.end());
    }
    for (Block const& b : kept) {
      if (!t::holds(b.p, b.size, b.tag))
        ++bad;
      free_block(b);
    }
  };

  std::thread worker([&] {
    std::size_t bad = 0;
    for (std::size_t r = 0; r < rounds; ++r) {
      produce(to_main, 1000000 + r * 1000, bad);
      bad += check_and_free(to_worker, lock);
    }
    worker_done.store(true, std::memory_order_release);
    worker_bad.store(bad, std::memory_order_relaxed);
  });
  std::size_t bad = 0;
  for (std::size_t r = 0; r < rounds; ++r) {
    produce(to_worker, 2000000 + r * 1000, bad);
    bad += check_and_free(to_main, lock);
  }
  worker.join();
  CHECK(worker_done.load());
  // What is left was given after the other side's last look: free it here,
  // including the worker's blocks, after it has exited.
  bad += check_and_free(to_main, lock);
  bad += check_and_free(to_worker, lock);
  CHECK(bad == 0);
  CHECK(worker_bad.load() == 0);
  collect_all();
  CHECK(RegionA::arenas().abandoned_segments() == 0);
  CHECK(RegionB::arenas().abandoned_segments() == 0);
}

TEST_CASE("custom global: a static region is a hard limit", "[global][custom]") {
  constexpr std::size_t capacity = 1 << 24;
  std::size_t const block = 64 * 1024;
  std::vector<void*> blocks;
  for (;;) {
    void* p = RegionA::try_allocate(block);
    if (p == nullptr)
      break;
    REQUIRE(in_region<RegionA>(p, block));
    blocks.push_back(p);
    REQUIRE(blocks.size() * block <= capacity);
  }
  INFO(blocks.size() << " blocks of 64 KiB before the region ran out");
  CHECK(blocks.size() >= 16); // at least one segment's worth
  // The other allocators do not care.
  void* b = RegionB::try_allocate(block);
  CHECK(in_region<RegionB>(b, block));
  RegionB::deallocate(b);
  void* d = Default::try_allocate(block);
  CHECK(d != nullptr);
  Default::deallocate(d);

  // The typed front doors report the exhaustion as exceptions.
  using Vec = std::vector<char, ferroc::global_allocator<char, RegionA>>;
  Vec v;
  CHECK_THROWS_AS(v.reserve(capacity), std::bad_alloc);
  CHECK_THROWS_AS(ferroc::global_resource<RegionA>::instance().allocate(capacity), std::bad_alloc);

  // Everything freed: the region serves again.
  for (void* p : blocks)
    RegionA::deallocate(p);
  RegionA::collect(true);
  void* again = RegionA::try_allocate(block);
  CHECK(again != nullptr);
  CHECK(in_region<RegionA>(again, block));
  RegionA::deallocate(again);
  collect_all();
}

TEST_CASE("custom global: containers and pmr over a static region", "[global][custom]") {
  {
    std::vector<int, ferroc::global_allocator<int, RegionB>> v;
    for (int i = 0; i < 50000; ++i)
      v.push_back(i);
    CHECK(in_region<RegionB>(v.data(), v.size() * sizeof(int)));
    CHECK(v[49999] == 49999);

    std::pmr::vector<std::pmr::string> strings{&ferroc::global_resource<RegionB>::instance()};
    for (int i = 0; i < 300; ++i) {
      strings.emplace_back(64, 's');
      REQUIRE(in_region<RegionB>(strings.back().data(), 64));
    }
  }
  collect_all();
}

TEST_CASE("custom global: heaps released by a thread_local destructor",
          "[global][custom][threads]") {
  // The main thread's heap is made first, so that its collect below can
  // take in what the exited threads abandoned.
  void* mine = TlGlobal::try_allocate(32);
  REQUIRE(mine != nullptr);
  TlGlobal::collect(true);
  std::size_t const segments_before = TlGlobal::arenas().segments_in_use();

  std::size_t const total = 200 * t::test_scale();
  std::size_t const wave = 10;
  std::atomic<std::size_t> bad{0};
  std::vector<void*> left(wave);
  for (std::size_t started = 0; started < total; started += wave) {
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < wave; ++i) {
      threads.emplace_back([&bad, &left, i, id = started + i] {
        std::vector<void*> blocks;
        t::Rng rng(id);
        for (int k = 0; k < 64; ++k) {
          std::size_t const size = rng.size();
          void* p = TlGlobal::try_allocate(size);
          if (p == nullptr) {
            bad.fetch_add(1, std::memory_order_relaxed);
            continue;
          }
          t::fill(p, size, size);
          if (!t::holds(p, size, size))
            bad.fetch_add(1, std::memory_order_relaxed);
          blocks.push_back(p);
        }
        for (void* p : blocks)
          TlGlobal::deallocate(p);
        left[i] = TlGlobal::try_allocate(256);
        if (left[i] != nullptr)
          t::fill(left[i], 256, id);
      });
    }
    for (auto& th : threads)
      th.join();
    for (std::size_t i = 0; i < wave; ++i) {
      if (left[i] == nullptr || !t::holds(left[i], 256, started + i))
        bad.fetch_add(1, std::memory_order_relaxed);
      TlGlobal::deallocate(left[i]);
    }
  }
  CHECK(bad.load() == 0);
  TlGlobal::deallocate(mine);
  TlGlobal::collect(true);
  // Had the exited threads kept their heaps, their segments would still be
  // in use; released, they were abandoned and are now reclaimed and freed.
  CHECK(TlGlobal::arenas().abandoned_segments() == 0);
  CHECK(TlGlobal::arenas().segments_in_use() <= segments_before + 2);
}

namespace {

// A thread_local made before the thread's first allocation is destroyed
// after the Global's own thread_local guard (reverse order of construction),
// and its destructor allocates once more.
struct AllocatesWhenDestroyed {
  ~AllocatesWhenDestroyed() {
    void* p = TlGlobal::try_allocate(100);
    TlGlobal::deallocate(p);
  }
};

} // namespace

// The allocation in the late destructor makes a new heap for a thread whose
// thread_local guard has already run; that heap must still be released
// (through a pthread key), or its segment would stay claimed for good.
TEST_CASE("custom global: thread_local destructor running after the heap's release",
          "[global][custom][threads]") {
  REQUIRE(TlGlobal::thread_heap() != nullptr);
  TlGlobal::collect(true);
  std::size_t const segments_before = TlGlobal::arenas().segments_in_use();
  for (int i = 0; i < 10; ++i) {
    std::thread([] {
      thread_local AllocatesWhenDestroyed late;
      (void)&late;
      // The first allocation registers the Global's guard after `late`.
      void* p = TlGlobal::try_allocate(64);
      TlGlobal::deallocate(p);
    }).join();
  }
  TlGlobal::collect(true);
  CHECK(TlGlobal::arenas().abandoned_segments() == 0);
  CHECK(TlGlobal::arenas().segments_in_use() <= segments_before + 2);
}

// The example region of docs/embedded.md: 64 MiB, 15 segments of 4 MiB once up to one
// is lost to alignment; a heap holds one per page kind it uses, so five
// threads that use all three kinds at once fit.
struct ReadmePoolTag {};
using ReadmePool =
    ferroc::Global<ferroc::Static<(64 << 20)>, ferroc::ThreadExit::pthread_key, ReadmePoolTag>;

TEST_CASE("custom global: the README's region serves five threads using every page kind",
          "[global][custom][threads]") {
  constexpr int thread_count = 5;
  constexpr std::size_t sizes[] = {100, 40 * 1024, 1 << 20}; // small, medium, large
  std::atomic<int> arrived{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < thread_count; ++t) {
    threads.emplace_back([&] {
      std::vector<float, ferroc::global_allocator<float, ReadmePool>> samples;
      for (int i = 0; i < 1000; ++i)
        samples.push_back(static_cast<float>(i));
      void* blocks[std::size(sizes)] = {};
      for (std::size_t k = 0; k < std::size(sizes); ++k) {
        blocks[k] = ReadmePool::try_allocate(sizes[k]);
        if (blocks[k] == nullptr)
          failures.fetch_add(1);
        else
          std::memset(blocks[k], 0x5a, sizes[k]);
      }
      // Every thread holds its blocks until all have theirs.
      arrived.fetch_add(1);
      while (arrived.load() != thread_count)
        std::this_thread::yield();
      for (void* p : blocks)
        ReadmePool::deallocate(p);
    });
  }
  for (std::thread& t : threads)
    t.join();
  CHECK(failures.load() == 0);
}
