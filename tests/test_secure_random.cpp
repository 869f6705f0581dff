// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// Secure mode's randomization (ferroc/heap/secure_random.hpp): built into
// the suite of secure builds only, where each case fails on a build that
// places blocks and segments as a release build does. The statistical
// cases draw enough samples that a correct build fails one of them with a
// probability below 1e-9.
#include <ferroc/ferroc.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <set>
#include <vector>

static_assert(ferroc::detail::secure, "built into the suite of secure builds only");

namespace {

namespace fd = ferroc::detail;

// The size the cases below allocate, and what secure mode makes of it.
constexpr std::size_t small_size = 40;
constexpr std::size_t small_block = fd::class_size(fd::size_class_of(fd::with_canary(small_size)));
// The blocks that a fresh page's first extension carves.
constexpr std::size_t first_extension =
    fd::max_of(fd::extend_bytes / small_block, fd::extend_min_blocks);
static_assert(first_extension >= 16, "enough blocks for an order to tell");

// The first `first_extension` blocks of a fresh heap, as handed out.
std::vector<std::uintptr_t> fresh_page_order(ferroc::Arenas<ferroc::MmapAlloc>& arenas) {
  ferroc::Context cx{arenas};
  ferroc::Heap heap{cx};
  std::vector<void*> blocks;
  std::vector<std::uintptr_t> order;
  for (std::size_t i = 0; i < first_extension; ++i) {
    blocks.push_back(heap.try_allocate(small_size));
    REQUIRE(blocks.back() != nullptr);
    order.push_back(reinterpret_cast<std::uintptr_t>(blocks.back()));
  }
  for (void* p : blocks)
    heap.deallocate(p);
  return order;
}

// Each block's place among the blocks of `order`, in address order.
std::vector<std::size_t> ranks(std::vector<std::uintptr_t> const& order) {
  std::vector<std::uintptr_t> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::size_t> r;
  for (std::uintptr_t a : order)
    r.push_back(static_cast<std::size_t>(std::lower_bound(sorted.begin(), sorted.end(), a) -
                                         sorted.begin()));
  return r;
}

} // namespace

TEST_CASE("secure: the fresh blocks of a page are not handed out in address order",
          "[secure][random]") {
  ferroc::Arenas arenas{ferroc::MmapAlloc{}};
  std::vector<std::uintptr_t> const order = fresh_page_order(arenas);
  // They are the blocks of one extension: side by side, each once.
  std::vector<std::uintptr_t> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  for (std::size_t i = 1; i < sorted.size(); ++i)
    REQUIRE(sorted[i] - sorted[i - 1] == small_block);
  // A shuffle of n = first_extension blocks is in either address order with
  // a probability of 2 / n! (n >= 16: below 1e-13).
  CHECK_FALSE(std::is_sorted(order.begin(), order.end()));
  CHECK_FALSE(std::is_sorted(order.rbegin(), order.rend()));
}

TEST_CASE("secure: two heaps hand out the blocks of their first page in different orders",
          "[secure][random]") {
  ferroc::Arenas arenas{ferroc::MmapAlloc{}};
  std::vector<std::size_t> const a = ranks(fresh_page_order(arenas));
  std::vector<std::size_t> const b = ranks(fresh_page_order(arenas));
  // Equal with a probability of 1 / n! for independent shuffles.
  CHECK(a != b);
}

TEST_CASE("secure: a freed block is not always the next one handed out", "[secure][random]") {
  ferroc::Arenas arenas{ferroc::MmapAlloc{}};
  // Each round: a fresh page whose first extension is used up, one of its
  // blocks freed, and one more allocated. The page can extend, so it hands
  // out a fresh block or the freed one, each half the time: all rounds
  // alike with a probability of 2 * 2^-64.
  constexpr int rounds = 64;
  int reused = 0;
  for (int round = 0; round < rounds; ++round) {
    ferroc::Context cx{arenas};
    ferroc::Heap heap{cx};
    std::vector<void*> blocks;
    for (std::size_t i = 0; i < first_extension; ++i)
      blocks.push_back(heap.try_allocate(small_size));
    void* const freed = blocks[static_cast<std::size_t>(round) % first_extension];
    heap.deallocate(freed);
    void* const next = heap.try_allocate(small_size);
    REQUIRE(next != nullptr);
    if (next == freed)
      ++reused;
    else
      heap.deallocate(next);
    for (void* p : blocks)
      if (p != freed)
        heap.deallocate(p);
    if (next == freed)
      heap.deallocate(next);
  }
  CHECK(reused > 0);
  CHECK(reused < rounds);
}

TEST_CASE("secure: a freed block comes back once the page cannot extend", "[secure][random]") {
  // The randomization never strands a freed block: with every block of a
  // page handed out, the freed one is the next one.
  ferroc::Arenas arenas{ferroc::MmapAlloc{}};
  ferroc::Context cx{arenas};
  ferroc::Heap heap{cx};
  std::vector<void*> blocks{heap.try_allocate(small_size)};
  fd::Page const* page = fd::segment_of(blocks[0])->page_of(blocks[0]);
  while (blocks.size() < page->reserved)
    blocks.push_back(heap.try_allocate(small_size));
  for (void* p : blocks)
    REQUIRE(fd::segment_of(p)->page_of(p) == page);
  void* const freed = blocks[blocks.size() / 2];
  heap.deallocate(freed);
  CHECK(heap.try_allocate(small_size) == freed);
  for (void* p : blocks)
    heap.deallocate(p);
}

TEST_CASE("secure: segments take arena slots at random", "[secure][random]") {
  // A fixed region of several slots: one arena, whose slots each round's
  // heap claims and gives back. Its one segment lies in the same slot in
  // every round with a probability of (1 / slots)^(rounds - 1).
  static ferroc::Static<9 * fd::segment_size> region;
  ferroc::Arenas arenas{region};
  constexpr int rounds = 32;
  std::set<std::uintptr_t> segments;
  for (int round = 0; round < rounds; ++round) {
    ferroc::Context cx{arenas};
    ferroc::Heap heap{cx};
    void* p = heap.try_allocate(small_size);
    REQUIRE(p != nullptr);
    segments.insert(reinterpret_cast<std::uintptr_t>(fd::segment_of(p)));
    heap.deallocate(p);
  }
  CHECK(segments.size() > 1);
}

namespace {

// A large block's size, its run of slices, and how many such runs a large
// segment holds.
constexpr std::size_t large_size = 300000;
constexpr std::size_t large_block = fd::class_size(fd::size_class_of(fd::with_canary(large_size)));
constexpr std::size_t large_run = fd::large_slices(large_block);
constexpr std::size_t runs_per_segment = (fd::segment_size / fd::large_slice_size - 1) / large_run;
static_assert(large_block > fd::medium_block_max && runs_per_segment >= 4);

} // namespace

TEST_CASE("secure: large blocks lie at random places in their segment", "[secure][random]") {
  // The run of each round's one large block starts at one of
  // runs_per_segment places: the same in every round with a probability
  // of (1 / runs_per_segment)^(rounds - 1).
  ferroc::Arenas arenas{ferroc::MmapAlloc{}};
  ferroc::Context cx{arenas};
  ferroc::Heap heap{cx};
  constexpr int rounds = 32;
  std::set<std::uintptr_t> offsets;
  for (int round = 0; round < rounds; ++round) {
    void* p = heap.try_allocate(large_size);
    REQUIRE(p != nullptr);
    offsets.insert(reinterpret_cast<std::uintptr_t>(p) & fd::segment_mask);
    heap.deallocate(p);
  }
  CHECK(offsets.size() > 1);
}

TEST_CASE("secure: large blocks of one size still fill their segment", "[secure][random]") {
  // Random places a multiple of the run from the first slice: a segment
  // holds as many blocks of one size as first fit puts there, so a process
  // needs no more address space than without randomization.
  ferroc::Arenas arenas{ferroc::MmapAlloc{}};
  for (int round = 0; round < 16; ++round) {
    ferroc::Context cx{arenas};
    ferroc::Heap heap{cx};
    std::vector<void*> blocks;
    std::set<fd::Segment*> segments;
    for (std::size_t i = 0; i < runs_per_segment; ++i) {
      blocks.push_back(heap.try_allocate(large_size));
      REQUIRE(blocks.back() != nullptr);
      segments.insert(fd::segment_of(blocks.back()));
    }
    CHECK(segments.size() == 1);
    for (void* p : blocks)
      heap.deallocate(p);
  }
}
