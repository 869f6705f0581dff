// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// Randomized test against a shadow model: a table of slots records what each
// live block should hold; every block is filled with a pattern derived from
// (slot, generation) and checked before it is freed or reallocated.
//
// Scale: FERROC_TEST_SCALE multiplies the operation count (default 1 =
// 1M operations, the CI run; 10 for the full run). FERROC_TEST_SEED replays
// another seed; the seed in use is printed.
#include <ferroc/ferroc.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "test_util.hpp"

namespace {

using ferroc_test::KiB;
using ferroc_test::MiB;
using ferroc_test::Rng;

using MmapArenas = ferroc::Arenas<ferroc::OsAlloc>;
using MmapContext = ferroc::Context<ferroc::OsAlloc>;
using MmapHeap = ferroc::Heap<ferroc::OsAlloc>;

constexpr std::size_t slot_count = 10000;

// Which bytes of a block of n bytes carry the pattern: all of its first and
// last KiB, and one 8-byte word every 512 bytes in between. Any other block
// overlapping this one by at least 1 KiB would hit a checked byte, while a
// 5 MiB block costs 12 KiB of writes instead of 5 MiB.
constexpr std::size_t edge_bytes = KiB;
constexpr std::size_t stride = 512;

template <class F> void for_each_checked_span(std::size_t n, F&& span) {
  if (n <= 2 * edge_bytes) {
    span(std::size_t{0}, n);
    return;
  }
  span(std::size_t{0}, edge_bytes);
  for (std::size_t at = edge_bytes; at + 8 <= n - edge_bytes; at += stride) {
    span(at, std::size_t{8});
  }
  span(n - edge_bytes, edge_bytes);
}

std::uint64_t seed_of(std::size_t slot, std::uint64_t generation) {
  return (std::uint64_t{slot} << 40U) ^ generation;
}

void fill(void* p, std::size_t n, std::uint64_t seed) {
  for_each_checked_span(n, [&](std::size_t at, std::size_t len) {
    ferroc_test::fill_pattern_range(p, at, at + len, seed);
  });
}

// Checks the pattern of a block filled for n bytes, on its first `limit`
// bytes only (what a reallocation keeps).
bool check(const void* p, std::size_t n, std::uint64_t seed, std::size_t limit) {
  bool ok = true;
  for_each_checked_span(n, [&](std::size_t at, std::size_t len) {
    const std::size_t end = std::min(at + len, limit);
    if (at < end) {
      ok = ok && ferroc_test::check_pattern_range(p, at, end, seed);
    }
  });
  return ok;
}

bool checked_bytes_zero(const void* p, std::size_t n) {
  const auto* bytes = static_cast<const unsigned char*>(p);
  bool ok = true;
  for_each_checked_span(n, [&](std::size_t at, std::size_t len) {
    ok = ok && ferroc_test::all_bytes_are(bytes + at, len, 0);
  });
  return ok;
}

// Mostly small, some medium and large, rarely huge.
std::size_t random_size(Rng& rng) {
  const std::uint64_t pick = rng.below(10000);
  if (pick < 8800) {
    return rng.below(40) == 0 ? 0 : rng.log_uniform(1, 512);
  }
  if (pick < 9950) {
    return rng.log_uniform(513, 32 * KiB);
  }
  if (pick < 9999) {
    return rng.log_uniform(32 * KiB + 1, MiB);
  }
  return rng.log_uniform(2 * MiB + 1, 6 * MiB);
}

std::size_t random_align(Rng& rng) {
  if (rng.below(100) == 0) {
    return std::size_t{1} << rng.between(13, 20);
  }
  return std::size_t{1} << rng.between(0, 12);
}

struct Slot {
  void* p = nullptr;
  std::size_t size = 0;
  std::size_t align = 0; // 0: the default alignment
  std::uint64_t generation = 0;
};

struct Tally {
  std::size_t operations = 0;
  std::size_t failed = 0;     // nullptr for a satisfiable request
  std::size_t corrupted = 0;  // pattern mismatch before free/realloc
  std::size_t misaligned = 0; // pointer not aligned as asked
  std::size_t too_small = 0;  // usable_size below the request
  std::size_t not_zeroed = 0; // allocate_zeroed with non-zero bytes
  std::size_t max_live = 0;
};

// Runs `operations` random operations on `heap`. With a second heap, some
// frees go through it and some through arenas.deallocate (the
// not-the-owner path, taken without threads).
Tally run_shadow(MmapArenas& arenas, MmapHeap& heap, MmapHeap* other, std::size_t operations,
                 std::uint64_t seed) {
  Rng rng(seed);
  std::vector<Slot> slots(slot_count);
  Tally tally;
  std::size_t live = 0;

  auto note_new_block = [&](Slot& slot, void* p, std::size_t size, std::size_t align) {
    if (p == nullptr) {
      ++tally.failed;
      return false;
    }
    tally.misaligned += ferroc_test::is_aligned(p, align == 0 ? 16 : align) ? 0 : 1;
    tally.too_small += heap.usable_size(p) >= size ? 0 : 1;
    slot.p = p;
    slot.size = size;
    slot.align = align;
    ++slot.generation;
    return true;
  };

  for (std::size_t op = 0; op < operations; ++op) {
    const std::size_t index = static_cast<std::size_t>(rng.below(slot_count));
    Slot& slot = slots[index];
    const std::uint64_t kind = rng.below(100);

    if (slot.p == nullptr) {
      const std::size_t size = random_size(rng);
      void* p = nullptr;
      std::size_t align = 0;
      bool zeroed = false;
      if (kind < 50) {
        p = heap.try_allocate(size);
      } else if (kind < 65) {
        align = random_align(rng);
        p = heap.try_allocate(size, align);
      } else if (kind < 80) {
        p = heap.allocate_zeroed(size);
        zeroed = true;
      } else if (kind < 85) {
        align = random_align(rng);
        p = heap.allocate_zeroed(size, align);
        zeroed = true;
      } else if (kind < 95) {
        const auto result = heap.allocate_at_least(size);
        p = result.ptr;
        tally.too_small += (p != nullptr && result.size < size) ? 1 : 0;
      } else {
        p = heap.reallocate(nullptr, size);
      }
      if (note_new_block(slot, p, size, align)) {
        if (zeroed && !checked_bytes_zero(p, size)) {
          ++tally.not_zeroed;
        }
        fill(p, size, seed_of(index, slot.generation));
        ++live;
      }
    } else {
      const std::uint64_t old_seed = seed_of(index, slot.generation);
      if (kind < 55) {
        tally.corrupted += check(slot.p, slot.size, old_seed, slot.size) ? 0 : 1;
        if (other != nullptr && kind < 10) {
          other->deallocate(slot.p);
        } else if (other != nullptr && kind < 20) {
          arenas.deallocate(slot.p);
        } else {
          heap.deallocate(slot.p);
        }
        slot.p = nullptr;
        --live;
      } else {
        // Grow or shrink, keeping the slot's alignment.
        const std::size_t size = kind < 65 ? slot.size + rng.below(64) : random_size(rng);
        const std::size_t align = slot.align;
        void* p = align == 0 ? heap.reallocate(slot.p, size) : heap.reallocate(slot.p, size, align);
        if (p == nullptr) {
          ++tally.failed; // slot.p stays valid and is freed later
          continue;
        }
        tally.corrupted += check(p, slot.size, old_seed, std::min(slot.size, size)) ? 0 : 1;
        note_new_block(slot, p, size, align);
        fill(p, size, seed_of(index, slot.generation));
      }
    }
    tally.max_live = std::max(tally.max_live, live);

    if (op % 4096 == 4095) {
      heap.collect(false);
    }
    if (op % 65536 == 65535) {
      heap.collect(true);
      if (other != nullptr) {
        other->collect(true);
      }
    }
  }

  for (std::size_t index = 0; index < slot_count; ++index) {
    Slot& slot = slots[index];
    if (slot.p != nullptr) {
      tally.corrupted +=
          check(slot.p, slot.size, seed_of(index, slot.generation), slot.size) ? 0 : 1;
      heap.deallocate(slot.p);
    }
  }
  tally.operations = operations;
  return tally;
}

void report(const Tally& tally) {
  INFO(tally.operations << " operations, at most " << tally.max_live << " live blocks");
  CHECK(tally.failed == 0);
  CHECK(tally.corrupted == 0);
  CHECK(tally.misaligned == 0);
  CHECK(tally.too_small == 0);
  CHECK(tally.not_zeroed == 0);
  CHECK(tally.max_live > slot_count / 2); // the live set really filled up
}

} // namespace

TEST_CASE("random operations agree with the shadow model", "[shadow][stress]") {
  const std::uint64_t seed = ferroc_test::test_seed(0xFE220C'0001ULL);
  const std::size_t operations = 1000000 * ferroc_test::test_scale();
  std::printf("shadow test: seed 0x%llx, %zu operations\n", static_cast<unsigned long long>(seed),
              operations);
  INFO("seed " << seed << " (set FERROC_TEST_SEED to replay)");

  MmapArenas arenas{ferroc::OsAlloc{}};
  const std::size_t start_segments = arenas.segments_in_use();
  {
    MmapContext cx{arenas};
    MmapHeap heap{cx};
    report(run_shadow(arenas, heap, nullptr, operations, seed));
    heap.collect(true);
    CHECK(arenas.segments_in_use() == start_segments);
  }
  CHECK(arenas.abandoned_segments() == 0);
}

TEST_CASE("random operations with frees through other heaps", "[shadow][stress]") {
  const std::uint64_t seed = ferroc_test::test_seed(0xFE220C'0002ULL);
  const std::size_t operations = 300000 * ferroc_test::test_scale();
  std::printf("shadow test (cross-heap frees): seed 0x%llx, %zu operations\n",
              static_cast<unsigned long long>(seed), operations);
  INFO("seed " << seed << " (set FERROC_TEST_SEED to replay)");

  MmapArenas arenas{ferroc::OsAlloc{}};
  const std::size_t start_segments = arenas.segments_in_use();
  {
    MmapContext cx{arenas};
    MmapContext other_cx{arenas};
    MmapHeap heap{cx};
    MmapHeap other{other_cx};
    report(run_shadow(arenas, heap, &other, operations, seed));
    heap.collect(true);
    other.collect(true);
    CHECK(arenas.segments_in_use() == start_segments);
  }
}
