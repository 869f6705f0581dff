// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// Returning memory: after a large workload is freed and collect(true) runs,
// the resident set falls back near where it started.
#include <ferroc/ferroc.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "test_util.hpp"

namespace {

using ferroc_test::KiB;
using ferroc_test::MiB;

struct Block {
  void* p;
  std::size_t size;
};

// Allocates about `total` bytes in blocks of 64 B..32 KiB (log-uniform: as
// many small as medium blocks), touching every byte.
std::size_t fill_heap(ferroc::Heap<ferroc::OsAlloc>& heap, std::vector<Block>& blocks,
                      std::size_t total, ferroc_test::Rng& rng) {
  std::size_t allocated = 0;
  while (allocated < total) {
    const std::size_t size = rng.log_uniform(64, 32 * KiB);
    void* p = heap.try_allocate(size);
    if (p == nullptr) {
      break;
    }
    std::memset(p, static_cast<int>(size), size);
    blocks.push_back({p, size});
    allocated += size;
  }
  return allocated;
}

// Frees the blocks in a random order, checking their contents on the way.
std::size_t free_all(ferroc::Heap<ferroc::OsAlloc>& heap, std::vector<Block>& blocks,
                     ferroc_test::Rng& rng) {
  for (std::size_t i = blocks.size(); i > 1; --i) {
    std::swap(blocks[i - 1], blocks[rng.below(i)]);
  }
  std::size_t corrupted = 0;
  for (const Block& block : blocks) {
    const auto* bytes = static_cast<const unsigned char*>(block.p);
    const auto expected = static_cast<unsigned char>(block.size);
    if (bytes[0] != expected || bytes[block.size - 1] != expected) {
      ++corrupted;
    }
    heap.deallocate(block.p);
  }
  blocks.clear();
  return corrupted;
}

// The resident-set bounds of these tests: the workload's peak grew the
// resident set by at least `grown` over `baseline` (or the test would prove
// nothing), and afterwards it is at most `left` above it. Sanitizers keep
// shadow memory and quarantines, so the resident set no longer reflects the
// allocator: under them the bounds are not checked (the workload still ran,
// and was checked). `note` says what else the test saw.
void check_resident(std::size_t baseline, std::size_t peak, std::size_t after, std::size_t grown,
                    std::size_t left, const std::string& note = "") {
  INFO("RSS baseline " << baseline / KiB << " KiB, peak " << peak / KiB << " KiB, after "
                       << after / KiB << " KiB" << note);
#if FERROC_TEST_SANITIZED
  (void)grown, (void)left;
  WARN("built with a sanitizer: the RSS bound is not checked");
#else
  CHECK(peak >= baseline + grown);
  CHECK(after <= baseline + left);
#endif
}

// After collect(true), the whole process's resident set is a few MiB, so
// 10 % of it would be noise-sized: 10 % of the baseline or 4 MiB, whichever
// is larger, may stay.
std::size_t collect_slack(std::size_t baseline) {
  return std::max(baseline / 10, 4 * MiB);
}

} // namespace

TEST_CASE("collect(true) returns freed memory to the OS", "[rss]") {
  constexpr std::size_t workload = 256 * MiB;
  ferroc_test::Rng rng(0x0055'0000'0256ULL);
  ferroc::Arenas arenas{ferroc::OsAlloc{}};
  ferroc::Context cx{arenas};
  ferroc::Heap heap{cx};

  // Bookkeeping memory comes from the system allocator: reserve it before the
  // baseline so it does not count as the allocator's.
  std::vector<Block> blocks;
  blocks.reserve(workload / KiB);

  // Warm up so the baseline includes the allocator's own fixed costs (page
  // tables of the first segments, headers, bins).
  fill_heap(heap, blocks, 4 * MiB, rng);
  CHECK(free_all(heap, blocks, rng) == 0);
  heap.collect(true);
  const std::size_t baseline = ferroc_test::resident_bytes();
  REQUIRE(baseline > 0);

  const std::size_t allocated = fill_heap(heap, blocks, workload, rng);
  REQUIRE(allocated >= workload);
  const std::size_t peak = ferroc_test::resident_bytes();
  CHECK(free_all(heap, blocks, rng) == 0);
  heap.collect(true);
  const std::size_t after = ferroc_test::resident_bytes();
  check_resident(baseline, peak, after, workload / 2, collect_slack(baseline));

  // And the heap still works after giving its memory back.
  const std::size_t again = fill_heap(heap, blocks, 16 * MiB, rng);
  CHECK(again >= 16 * MiB);
  CHECK(free_all(heap, blocks, rng) == 0);
}

TEST_CASE("collect(true) returns freed huge and large blocks to the OS", "[rss]") {
  ferroc::Arenas arenas{ferroc::OsAlloc{}};
  ferroc::Context cx{arenas};
  ferroc::Heap heap{cx};
  const std::size_t start_segments = arenas.segments_in_use();
  const std::size_t baseline = ferroc_test::resident_bytes();
  std::vector<void*> blocks;
  for (int i = 0; i < 16; ++i) {
    const std::size_t size = (i % 2 == 0) ? 1536 * KiB : 12 * MiB; // large and huge
    void* p = heap.try_allocate(size);
    REQUIRE(p != nullptr);
    std::memset(p, 0x42, size);
    blocks.push_back(p);
  }
  const std::size_t peak = ferroc_test::resident_bytes();
  for (void* p : blocks) {
    heap.deallocate(p);
  }
  heap.collect(true);
  const std::size_t after = ferroc_test::resident_bytes();
  check_resident(baseline, peak, after, 64 * MiB, collect_slack(baseline));
  CHECK(arenas.segments_in_use() == start_segments);
}

TEST_CASE("a slot reused before its purge is zeroed for allocate_zeroed") {
  ferroc::Arenas arenas{ferroc::OsAlloc{}};
  arenas.set_purge_delay_ms(60'000); // nothing is purged during the test
  constexpr std::size_t huge = 6 * MiB;
  {
    ferroc::Context cx{arenas};
    ferroc::Heap heap{cx};
    void* p = heap.try_allocate(huge);
    REQUIRE(p != nullptr);
    std::memset(p, 0xab, huge);
    heap.deallocate(p);
    // The freed slots are still committed: the claim prefers them.
    auto* q = static_cast<unsigned char*>(heap.allocate_zeroed(huge));
    REQUIRE(q != nullptr);
    CHECK(q == p);
    CHECK(std::all_of(q, q + huge, [](unsigned char c) { return c == 0; }));
    heap.deallocate(q);
  }
  // A dead heap's segments go back unpurged too; small blocks of the next
  // heap reuse them.
  std::vector<void*> blocks;
  {
    ferroc::Context cx{arenas};
    ferroc::Heap heap{cx};
    for (int i = 0; i < 4096; ++i) {
      void* p = heap.try_allocate(4 * KiB);
      REQUIRE(p != nullptr);
      std::memset(p, 0xcd, 4 * KiB);
      blocks.push_back(p);
    }
    for (void* p : blocks) {
      heap.deallocate(p);
    }
  }
  ferroc::Context cx{arenas};
  ferroc::Heap heap{cx};
  std::size_t dirty = 0;
  std::vector<void*> again;
  for (int i = 0; i < 4096; ++i) {
    auto* p = static_cast<unsigned char*>(heap.allocate_zeroed(4 * KiB));
    REQUIRE(p != nullptr);
    dirty += std::all_of(p, p + 4 * KiB, [](unsigned char c) { return c == 0; }) ? 0 : 1;
    again.push_back(p);
  }
  CHECK(dirty == 0);
  for (void* p : again) {
    heap.deallocate(p);
  }
}

TEST_CASE("collect(true) purges released slots before their delay", "[rss]") {
  ferroc::Arenas arenas{ferroc::OsAlloc{}};
  arenas.set_purge_delay_ms(60'000);
  ferroc::Context cx{arenas};
  ferroc::Heap heap{cx};
  ferroc_test::Rng rng(0x0055'0000'0001ULL);
  std::vector<Block> blocks;
  blocks.reserve(256 * MiB / KiB);
  fill_heap(heap, blocks, 4 * MiB, rng);
  CHECK(free_all(heap, blocks, rng) == 0);
  heap.collect(true);
  const std::size_t baseline = ferroc_test::resident_bytes();
  fill_heap(heap, blocks, 256 * MiB, rng);
  std::vector<void*> huge;
  for (int i = 0; i < 8; ++i) {
    void* p = heap.try_allocate(9 * MiB);
    REQUIRE(p != nullptr);
    std::memset(p, 0x42, 9 * MiB);
    huge.push_back(p);
  }
  const std::size_t peak = ferroc_test::resident_bytes();
  CHECK(free_all(heap, blocks, rng) == 0);
  for (void* p : huge) {
    heap.deallocate(p);
  }
  heap.collect(true);
  const std::size_t after = ferroc_test::resident_bytes();
  check_resident(baseline, peak, after, 128 * MiB, collect_slack(baseline));
}

TEST_CASE("released slots are purged after the delay without a forced collect", "[rss]") {
  ferroc::Arenas arenas{ferroc::OsAlloc{}};
  arenas.set_purge_delay_ms(1);
  ferroc::Context cx{arenas};
  ferroc::Heap heap{cx};
  ferroc_test::Rng rng(0x0055'0000'0002ULL);
  std::vector<Block> blocks;
  blocks.reserve(256 * MiB / KiB);
  fill_heap(heap, blocks, 4 * MiB, rng);
  CHECK(free_all(heap, blocks, rng) == 0);
  heap.collect(true);
  const std::size_t baseline = ferroc_test::resident_bytes();
  fill_heap(heap, blocks, 256 * MiB, rng);
  const std::size_t peak = ferroc_test::resident_bytes();
  CHECK(free_all(heap, blocks, rng) == 0);
  // Empty pages go back to their segments, empty segments to the arenas
  // (a Context keeps two); then the delay passes and the heap keeps working.
  // A slot goes at the second purge round after its release (see
  // Arenas::purge): the first may come right after the releases.
  heap.collect(false);
  for (int round = 0; round < 2; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    for (int i = 0; i < 64; ++i) {
      heap.deallocate(heap.try_allocate(64 * KiB));
    }
    heap.collect(false);
  }
  const std::size_t after = ferroc_test::resident_bytes();
  // The two empty segments a Context keeps, and the pages in use, may stay.
  check_resident(baseline, peak, after, 128 * MiB, 16 * MiB);
}

TEST_CASE("free pages of segments still in use are purged after the delay", "[rss]") {
  ferroc::Arenas arenas{ferroc::OsAlloc{}};
  arenas.set_purge_delay_ms(1);
  ferroc::Context cx{arenas};
  ferroc::Heap heap{cx};
  const std::size_t baseline = ferroc_test::resident_bytes();
  // 128 MiB of 1 KiB blocks; one block in every segment stays alive, so no
  // segment goes back to the arenas: only their free pages can be purged.
  std::vector<void*> blocks;
  blocks.reserve(128 * MiB / KiB);
  for (std::size_t i = 0; i < 128 * MiB / KiB; ++i) {
    void* p = heap.try_allocate(KiB);
    REQUIRE(p != nullptr);
    std::memset(p, 0x5a, KiB);
    blocks.push_back(p);
  }
  const std::size_t peak = ferroc_test::resident_bytes();
  std::vector<void*> kept;
  std::uintptr_t last_segment = 0;
  for (void* p : blocks) {
    const auto segment = reinterpret_cast<std::uintptr_t>(p) & ~ferroc::detail::segment_mask;
    if (segment != last_segment) {
      kept.push_back(p);
      last_segment = segment;
    } else {
      heap.deallocate(p);
    }
  }
  // A free page goes at the second purge round after it was freed (see
  // Context::purge_if_due): the first collect may come before the delay.
  heap.collect(false);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  heap.collect(false);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  heap.collect(false);
  const std::size_t after = ferroc_test::resident_bytes();
  CHECK(arenas.segments_in_use() >= kept.size());
  // A page per kept block (and the segment headers) stays.
  check_resident(baseline, peak, after, 100 * MiB, 16 * MiB,
                 ", " + std::to_string(kept.size()) + " segments kept");
  for (void* p : kept)
    heap.deallocate(p);
}

TEST_CASE("a heap back to light work gives back what other threads freed, without collect",
          "[rss]") {
  ferroc::Arenas arenas{ferroc::OsAlloc{}};
  arenas.set_purge_delay_ms(1);
  ferroc::Context cx{arenas};
  ferroc::Heap heap{cx};
  ferroc_test::Rng rng(0x0055'0000'0003ULL);
  std::vector<void*> blocks;
  blocks.reserve(64 * MiB / 64);
  const std::size_t baseline = ferroc_test::resident_bytes();
  // A peak of 64 MiB of small blocks, which another thread frees: their
  // pages wait with the blocks on their cross-thread lists.
  for (std::size_t total = 0; total < 64 * MiB;) {
    const std::size_t size = 16 * rng.between(1, 16);
    void* p = heap.try_allocate(size);
    REQUIRE(p != nullptr);
    std::memset(p, 0x5a, size);
    blocks.push_back(p);
    total += size;
  }
  const std::size_t peak = ferroc_test::resident_bytes();
  std::thread([&] {
    for (void* p : blocks)
      arenas.deallocate(p);
  }).join();
  blocks.clear();
  // Light work, as a thread between two bursts does: a few blocks of the
  // same sizes live at a time, and a pause now and then. No collect call:
  // the heap looks at all its pages on its own (every 50 ms, at a slow
  // path). It runs until the memory is back, or for 5 s at most.
  void* slots[64] = {};
  std::size_t after = peak;
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < std::chrono::seconds(5)) {
    for (int i = 0; i < 256; ++i) {
      void*& slot = slots[rng.below(64)];
      heap.deallocate(slot);
      slot = heap.try_allocate(16 * rng.between(1, 16));
      REQUIRE(slot != nullptr);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    after = ferroc_test::resident_bytes();
    if (after <= baseline + 16 * MiB)
      break;
  }
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  for (void* p : slots)
    heap.deallocate(p);
  check_resident(baseline, peak, after, 48 * MiB, 16 * MiB,
                 ", " + std::to_string(waited.count()) + " ms of light work");
}

TEST_CASE("huge blocks taken again after a purge find their slots kept, until huge blocks stop",
          "[rss][purge]") {
  ferroc::Arenas arenas{ferroc::OsAlloc{}};
  arenas.set_purge_delay_ms(1);
  ferroc::Context cx{arenas};
  ferroc::Heap heap{cx};
  constexpr std::size_t block = 8 * MiB; // 3 slots of 4 MiB with its header
  constexpr std::size_t block_slots_bytes = 12 * MiB;
  // Purge rounds, one delay apart: a released slot goes at the second.
  // The arenas read a coarse clock (4 ms ticks on most Linux kernels, 10 ms
  // on some): a call sooner than the delay plus a tick after the deadline
  // was set may find the round not due yet (at 3 ms, 1 run in 100 failed).
  auto rounds = [&](int count) {
    for (int i = 0; i < count; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(12));
      arenas.purge();
    }
  };
  std::vector<void*> live;
  for (int i = 0; i < 10; ++i) {
    live.push_back(heap.try_allocate(block));
    REQUIRE(live.back() != nullptr);
  }

  // Nothing missed yet: the block's slots go back after their delay.
  std::size_t before = arenas.decommitted_bytes();
  heap.deallocate(heap.try_allocate(block));
  rounds(3);
  CHECK(arenas.decommitted_bytes() - before == block_slots_bytes);

  // The next block of that size faults its slots in again: a miss. The
  // rounds after its free keep (most of) them committed for the next one.
  before = arenas.decommitted_bytes();
  void* p = heap.try_allocate(block);
  REQUIRE(p != nullptr);
  heap.deallocate(p);
  rounds(2);
  CHECK(arenas.decommitted_bytes() - before < block_slots_bytes);

  // Huge blocks stop: every slot goes back within some rounds.
  before = arenas.decommitted_bytes();
  for (void* q : live)
    heap.deallocate(q);
  rounds(40);
  // Everything released is decommitted: a forced purge finds nothing left.
  std::size_t const settled = arenas.decommitted_bytes();
  arenas.purge(true);
  CHECK(arenas.decommitted_bytes() == settled);
  CHECK(settled > before);
}
