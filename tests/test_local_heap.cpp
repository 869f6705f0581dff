// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// LocalHeap over given Arenas (a Static<N> region): the calls it forwards,
// its allocator and memory resource in containers, what becomes of its
// blocks when it ends (keep_blocks, free_blocks) and destroy(). The
// default Arenas and other threads: tests/global/test_local_heap.cpp.
// Also built in the embedded configuration (ferroc_tests_small).
#include <ferroc/base/static.hpp>
#include <ferroc/local_heap.hpp>

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory_resource>
#include <set>
#include <type_traits>
#include <vector>

#include "test_util.hpp"

namespace {

using ferroc_test::all_bytes_are;
using ferroc_test::check_pattern;
using ferroc_test::fill_pattern;

// Eight segments of the geometry: 32 MiB by default, 512 KiB in the
// embedded configuration.
constexpr std::size_t region_size = 8 * ferroc::detail::segment_size;
using Region = ferroc::Static<region_size>;
using Base = Region;
using LocalHeap = ferroc::LocalHeap<Base>;

Region region_a;
Region region_b;
Region region_c;

// Sizes of the small, medium and large kinds, below the huge blocks.
std::size_t size_for(std::uint64_t i) {
  constexpr std::size_t small_max = ferroc::detail::small_block_max;
  constexpr std::size_t medium_max = ferroc::detail::medium_block_max;
  switch (i % 4) {
  case 0:
    return i % 200;
  case 1:
    return small_max / 2 + i % (small_max / 2);
  case 2:
    return small_max + 1 + i % (medium_max - small_max);
  default:
    return i % 16 == 3 ? medium_max + 1 + i % (ferroc::detail::large_block_max - medium_max) : 48;
  }
}

// The live blocks a heap reports.
std::set<void*> live_blocks(ferroc::Heap<Base>& heap) {
  std::set<void*> seen;
  heap.visit([&](void* p, std::size_t /*usable*/) { seen.insert(p); });
  return seen;
}

// Allocates blocks of one size until the heap is out of memory.
std::size_t fill(LocalHeap& heap, std::size_t size) {
  std::size_t count = 0;
  while (void* p = heap.try_allocate(size)) {
    std::memset(p, 0x6b, size);
    ++count;
  }
  return count;
}

} // namespace

// ---- compile-time contract ---------------------------------------------

static_assert(!std::is_copy_constructible_v<LocalHeap>);
static_assert(!std::is_move_constructible_v<LocalHeap>);
static_assert(!std::is_copy_assignable_v<LocalHeap>);
static_assert(!std::is_move_assignable_v<LocalHeap>);
static_assert(std::is_nothrow_constructible_v<LocalHeap, ferroc::Arenas<Base>&>);
static_assert(std::is_nothrow_constructible_v<LocalHeap, ferroc::Arenas<Base>&, ferroc::HeapEnd>);
static_assert(!std::is_default_constructible_v<LocalHeap>, "only over OsAlloc");
static_assert(!std::is_convertible_v<ferroc::Arenas<Base>&, LocalHeap>, "explicit");
static_assert(noexcept(std::declval<LocalHeap&>().try_allocate(1, 16)));
static_assert(noexcept(std::declval<LocalHeap&>().allocate_zeroed(1, 16)));
static_assert(noexcept(std::declval<LocalHeap&>().reallocate(nullptr, 1, 16)));
static_assert(noexcept(std::declval<LocalHeap&>().deallocate(nullptr)));
static_assert(noexcept(std::declval<LocalHeap const&>().usable_size(nullptr)));
static_assert(noexcept(std::declval<LocalHeap&>().collect(true)));
static_assert(noexcept(std::declval<LocalHeap&>().destroy()));
static_assert(std::is_same_v<decltype(std::declval<LocalHeap&>().allocator<int>()),
                             ferroc::heap_allocator<int, Base>>);
static_assert(
    std::is_same_v<decltype(std::declval<LocalHeap&>().resource()), std::pmr::memory_resource*>);
#if !FERROC_STAT
static_assert(sizeof(ferroc::LocalHeap<ferroc::OsAlloc>) < 2048,
              "local_heap.hpp documents a LocalHeap of under 2 KiB");
#endif

TEST_CASE("LocalHeap over given Arenas: the calls it forwards", "[local_heap]") {
  ferroc::Arenas arenas{region_a};
  ferroc::LocalHeap heap{arenas};
  static_assert(std::is_same_v<decltype(heap), LocalHeap>);
  CHECK(&heap.arenas() == &arenas);
  CHECK(&heap.heap().context().arenas() == &arenas);
  CHECK(heap.heap().context().reclaim() == ferroc::Reclaim::none);

  auto* p = static_cast<unsigned char*>(heap.try_allocate(100, 64));
  REQUIRE(p != nullptr);
  CHECK(reinterpret_cast<std::uintptr_t>(p) % 64 == 0);
  auto const begin = reinterpret_cast<std::uintptr_t>(&region_a);
  CHECK(reinterpret_cast<std::uintptr_t>(p) >= begin);
  CHECK(reinterpret_cast<std::uintptr_t>(p) + 100 <= begin + sizeof region_a);
  CHECK(heap.usable_size(p) >= 100);
  CHECK(heap.usable_size(nullptr) == 0);
  fill_pattern(p, 100, 7);

  p = static_cast<unsigned char*>(heap.reallocate(p, 5000));
  REQUIRE(p != nullptr);
  CHECK(check_pattern(p, 100, 7));
  CHECK(heap.usable_size(p) >= 5000);

  auto* z = static_cast<unsigned char*>(heap.allocate_zeroed(3000));
  REQUIRE(z != nullptr);
  CHECK(all_bytes_are(z, 3000, 0));
  CHECK(live_blocks(heap.heap()) == std::set<void*>{p, z});

  heap.deallocate(p);
  heap.deallocate(z);
  heap.deallocate(nullptr);
  CHECK(live_blocks(heap.heap()).empty());
  CHECK(heap.try_allocate(1, 48) == nullptr); // above 16 and not a power of two
  heap.collect(true);
}

TEST_CASE("LocalHeap's allocator and resource serve containers from its blocks",
          "[local_heap][containers]") {
  ferroc::Arenas arenas{region_a};
  LocalHeap heap{arenas};
  LocalHeap other{arenas};

  std::vector<int, ferroc::heap_allocator<int, Base>> v{heap.allocator<int>()};
  v.assign(1000, 5);
  CHECK(&v.get_allocator().heap() == &heap.heap());
  CHECK(live_blocks(heap.heap()).count(v.data()) == 1);
  CHECK(live_blocks(other.heap()).empty());
  CHECK(heap.allocator<int>() == heap.allocator<double>());
  CHECK(heap.allocator<int>() != other.allocator<int>());

  std::pmr::vector<std::uint64_t> w{heap.resource()};
  w.assign(2000, 9);
  CHECK(live_blocks(heap.heap()).count(w.data()) == 1);
  std::pmr::map<int, int> m{heap.resource()};
  for (int i = 0; i < 100; ++i)
    m[i] = i * i;
  CHECK(live_blocks(heap.heap()).size() == 2 + 100);

  // Resources compare equal to themselves only: a container over another
  // heap's resource copies instead of taking over the buffer, which dies
  // with its heap when that one frees its blocks at once.
  CHECK(heap.resource()->is_equal(*heap.resource()));
  CHECK_FALSE(heap.resource()->is_equal(*other.resource()));
  std::pmr::vector<std::uint64_t> x{other.resource()};
  std::uint64_t const* buffer = w.data();
  x = std::move(w);
  CHECK(x.data() != buffer);
  CHECK(x.size() == 2000);
  CHECK(live_blocks(other.heap()).count(x.data()) == 1);
}

TEST_CASE("LocalHeap keep_blocks: its live blocks outlive it, intact, and any heap frees them",
          "[local_heap][end]") {
  ferroc::Arenas arenas{region_b};
  struct Left {
    unsigned char* p;
    std::size_t size;
    std::uint64_t tag;
  };
  std::vector<Left> left;
  {
    LocalHeap heap{arenas}; // keep_blocks, the default
    for (std::uint64_t i = 0; i < 300; ++i) {
      std::size_t const size = size_for(i) + 1;
      auto* p = static_cast<unsigned char*>(heap.try_allocate(size));
      REQUIRE(p != nullptr);
      fill_pattern(p, size, i);
      if (i % 3 == 0)
        heap.deallocate(p);
      else
        left.push_back({p, size, i});
    }
  }
  CHECK(arenas.abandoned_segments() > 0);
  // Another heap of the arenas takes what is free (never the dead heap's
  // blocks, which are still in use) and writes over it.
  {
    LocalHeap other{arenas, ferroc::HeapEnd::free_blocks};
    for (std::uint64_t i = 0; i < 600; ++i) {
      void* p = other.try_allocate(size_for(i) + 1);
      if (p != nullptr)
        std::memset(p, 0xee, size_for(i) + 1);
    }
  }
  // And one more fills every block left free in the region (so that a
  // dead block the heap above took over and freed would be written over).
  {
    LocalHeap filler{arenas, ferroc::HeapEnd::free_blocks};
    CHECK(fill(filler, 64) > 0);
  }
  // A plain heap frees them, then takes the dead heap's segments in.
  ferroc::Context cx{arenas};
  ferroc::Heap freer{cx};
  for (Left const& block : left) {
    CHECK(freer.usable_size(block.p) >= block.size);
    CHECK(check_pattern(block.p, block.size, block.tag));
    freer.deallocate(block.p);
  }
  freer.collect(true);
  CHECK(arenas.abandoned_segments() == 0);
}

TEST_CASE("LocalHeap free_blocks frees every block when it ends, and the memory serves again",
          "[local_heap][end]") {
  ferroc::Arenas arenas{region_c};
  std::size_t const start = arenas.segments_in_use();
  std::size_t first = 0;
  {
    LocalHeap heap{arenas, ferroc::HeapEnd::free_blocks};
    first = fill(heap, 256); // the whole region, never freed one by one
    REQUIRE(first > 0);
    CHECK(live_blocks(heap.heap()).size() == first);
  }
  CHECK(arenas.abandoned_segments() == 0);
  CHECK(arenas.segments_in_use() == start);
  // The region is whole again: another heap gets as many blocks.
  for (int round = 0; round < 2; ++round) {
    LocalHeap heap{arenas, ferroc::HeapEnd::free_blocks};
    CHECK(fill(heap, 256) == first);
  }
  CHECK(arenas.segments_in_use() == start);
}

TEST_CASE("LocalHeap::destroy frees its blocks at once and leaves huge blocks valid",
          "[local_heap][destroy]") {
  ferroc::Arenas arenas{region_c};
  std::size_t const start = arenas.segments_in_use();
  LocalHeap heap{arenas};
  std::size_t const huge_size = ferroc::detail::large_block_max + 1;
  auto* huge = static_cast<unsigned char*>(heap.try_allocate(huge_size));
  REQUIRE(huge != nullptr);
  fill_pattern(huge, huge_size, 3);
  for (int round = 0; round < 3; ++round) {
    std::size_t count = 0;
    for (std::uint64_t i = 0; i < 400; ++i) {
      void* p = heap.try_allocate(size_for(i));
      REQUIRE(p != nullptr);
      std::memset(p, round, size_for(i));
      ++count;
    }
    CHECK(live_blocks(heap.heap()).size() == count);
    heap.destroy();
    CHECK(live_blocks(heap.heap()).empty());
  }
  // The huge block is no heap's: destroy left it alone.
  CHECK(check_pattern(huge, huge_size, 3));
  CHECK(heap.usable_size(huge) >= huge_size);
  heap.deallocate(huge);
  heap.collect(true);
  CHECK(arenas.segments_in_use() <= start + 3); // a few empty segments kept for reuse
  // Still a working heap.
  void* p = heap.try_allocate(100);
  REQUIRE(p != nullptr);
  heap.deallocate(p);
}
