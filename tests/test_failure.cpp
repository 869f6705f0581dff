// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// Failure injection: a base that refuses its N-th request (or every request
// from the N-th on), swept over every request a reference workload makes.
// Whatever request fails, every allocation either succeeds with a usable
// block or returns nullptr, allocation works again once the base recovers,
// heap_allocator turns the failure into std::bad_alloc, and destroying the
// heap, context and arenas hands every chunk back to the base.
#include <ferroc/ferroc.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <new>
#include <type_traits>
#include <vector>

#include "test_util.hpp"

namespace {

using ferroc_test::check_pattern_range;
using ferroc_test::fill_pattern_range;
using ferroc_test::is_aligned;
using ferroc_test::KiB;
using ferroc_test::MiB;

constexpr std::size_t never = std::numeric_limits<std::size_t>::max();

// What the failing base saw; shared by its copies (Arenas holds a copyable
// base by value).
struct FailState {
  std::mutex mutex;
  std::size_t fail_at = never; // the request number (from 1) that fails
  bool permanent = false;      // every request from fail_at on fails
  std::size_t requests = 0;    // allocate calls, failed ones included
  std::size_t failures = 0;    // allocate calls answered with nullptr on purpose
  std::size_t allocations = 0; // allocate calls that handed out a chunk
  std::size_t deallocations = 0;
  std::size_t decommits = 0;
  std::size_t outstanding = 0;                // bytes handed out and not yet returned
  std::size_t mismatches = 0;                 // deallocate of a chunk or size never handed out
  std::size_t misaligned = 0;                 // chunks not aligned as asked
  std::size_t bad_decommits = 0;              // decommit of a range outside every live chunk
  bool refuse_decommits = false;              // decommit leaves every range committed
  std::map<std::uintptr_t, std::size_t> live; // chunk start -> size
};

// A BaseAlloc that forwards to MmapAlloc but refuses the requests FailState
// says, counting everything.
struct FailingBase {
  static constexpr bool is_zeroed = true;
  static constexpr bool decommit_zeroes = true;

  FailState* state;
  ferroc::MmapAlloc inner{};

  void* allocate(std::size_t size, std::size_t align) noexcept {
    {
      const std::lock_guard lock{state->mutex};
      ++state->requests;
      if (state->requests == state->fail_at ||
          (state->permanent && state->requests >= state->fail_at)) {
        ++state->failures;
        return nullptr;
      }
    }
    void* p = inner.allocate(size, align);
    if (p != nullptr) {
      const std::lock_guard lock{state->mutex};
      ++state->allocations;
      state->outstanding += size;
      state->live.emplace(reinterpret_cast<std::uintptr_t>(p), size);
      state->misaligned += is_aligned(p, align) ? 0 : 1;
    }
    return p;
  }

  void deallocate(void* p, std::size_t size) noexcept {
    {
      const std::lock_guard lock{state->mutex};
      ++state->deallocations;
      state->outstanding -= size;
      const auto it = state->live.find(reinterpret_cast<std::uintptr_t>(p));
      if (it == state->live.end() || it->second != size) {
        ++state->mismatches;
      } else {
        state->live.erase(it);
      }
    }
    inner.deallocate(p, size);
  }

  bool decommit(void* p, std::size_t size) noexcept {
    {
      const std::lock_guard lock{state->mutex};
      ++state->decommits;
      const auto at = reinterpret_cast<std::uintptr_t>(p);
      auto it = state->live.upper_bound(at);
      const bool inside = it != state->live.begin() &&
                          (--it, at >= it->first && at + size <= it->first + it->second);
      state->bad_decommits += inside ? 0 : 1;
      if (state->refuse_decommits)
        return false;
    }
    return inner.decommit(p, size);
  }
};

static_assert(ferroc::BaseAlloc<FailingBase>);
static_assert(ferroc::DecommitBase<FailingBase>);
static_assert(std::is_copy_constructible_v<FailingBase>);
static_assert(ferroc::Arenas<FailingBase>::slots_are_zero);

// Blocks up to this size are filled and checked whole; larger ones at their
// head, their tail and one stretch per MiB, which proves them writable
// without touching hundreds of MiB per sweep step.
constexpr std::size_t fill_whole_max = 2 * MiB;
constexpr std::size_t sparse_edge = 64 * KiB;
constexpr std::size_t sparse_stride = MiB;
constexpr std::size_t sparse_stretch = 256;

void fill_block(void* p, std::size_t size, std::uint64_t tag) {
  if (size <= fill_whole_max) {
    fill_pattern_range(p, 0, size, tag);
    return;
  }
  fill_pattern_range(p, 0, sparse_edge, tag);
  for (std::size_t at = sparse_stride; at + sparse_stretch <= size; at += sparse_stride) {
    fill_pattern_range(p, at, at + sparse_stretch, tag);
  }
  fill_pattern_range(p, size - sparse_edge, size, tag);
}

bool check_block(const void* p, std::size_t size, std::uint64_t tag) {
  if (size <= fill_whole_max) {
    return check_pattern_range(p, 0, size, tag);
  }
  bool ok = check_pattern_range(p, 0, sparse_edge, tag);
  for (std::size_t at = sparse_stride; at + sparse_stretch <= size; at += sparse_stride) {
    ok = ok && check_pattern_range(p, at, at + sparse_stretch, tag);
  }
  return ok && check_pattern_range(p, size - sparse_edge, size, tag);
}

struct Request {
  std::size_t size;
  std::size_t align;
};

// Small, medium, large, huge (inside an arena, larger than an arena) and
// over-aligned blocks (to a large page, to twice the segment size).
constexpr std::size_t default_align = alignof(std::max_align_t);
const Request workload_requests[] = {
    {16, default_align},
    {100, default_align},
    {1000, default_align},
    {8 * KiB, default_align},
    {64 * KiB, default_align},
    {200 * KiB, default_align},
    {MiB, default_align},
    {8 * MiB, default_align},
    {300 * MiB, default_align},
    {100 * KiB, std::size_t{1} << 21U},
    {MiB, std::size_t{1} << 23U},
    {200 * MiB, default_align},
    {24, default_align},
    {3 * MiB, default_align},
    {40 * MiB, std::size_t{1} << 23U},
};

struct Outcome {
  std::size_t attempts = 0;
  std::size_t nulls = 0;
  std::size_t misaligned = 0;
  std::size_t corrupted = 0;
};

// Allocates every request (a few small ones several times), fills each block,
// checks the patterns and frees everything; nullptr is an allowed answer.
Outcome run_workload(ferroc::Heap<FailingBase>& heap, std::uint64_t seed) {
  struct Live {
    void* p;
    std::size_t size;
    std::uint64_t tag;
  };
  Outcome out;
  std::vector<Live> blocks;
  std::uint64_t tag = seed;
  for (const Request& req : workload_requests) {
    const std::size_t copies = req.size <= 8 * KiB ? 8 : 1;
    for (std::size_t i = 0; i < copies; ++i) {
      ++out.attempts;
      void* p = heap.try_allocate(req.size, req.align);
      if (p == nullptr) {
        ++out.nulls;
        continue;
      }
      out.misaligned += is_aligned(p, req.align) ? 0 : 1;
      fill_block(p, req.size, ++tag);
      blocks.push_back({p, req.size, tag});
    }
  }
  // Free in an interleaved order: the odd blocks first, then the even ones.
  for (std::size_t parity = 0; parity < 2; ++parity) {
    for (std::size_t i = 1 - parity; i < blocks.size(); i += 2) {
      out.corrupted += check_block(blocks[i].p, blocks[i].size, blocks[i].tag) ? 0 : 1;
      heap.deallocate(blocks[i].p);
    }
  }
  return out;
}

void check_outcome(const Outcome& out) {
  CHECK(out.misaligned == 0);
  CHECK(out.corrupted == 0);
}

// Everything the base handed out came back, exactly as handed out.
void check_all_returned(const FailState& state) {
  CHECK(state.deallocations == state.allocations);
  CHECK(state.outstanding == 0);
  CHECK(state.live.empty());
  CHECK(state.mismatches == 0);
  CHECK(state.misaligned == 0);
  CHECK(state.bad_decommits == 0);
}

// Base requests of two workload rounds with a base that never fails.
std::size_t reference_requests() {
  FailState state;
  {
    ferroc::Arenas arenas{FailingBase{&state}};
    ferroc::Context cx{arenas};
    ferroc::Heap heap{cx};
    for (std::uint64_t round = 0; round < 2; ++round) {
      const Outcome out = run_workload(heap, round * 1000);
      CHECK(out.nulls == 0);
      check_outcome(out);
      heap.collect(true);
    }
  }
  CHECK(state.failures == 0);
  check_all_returned(state);
  return state.requests;
}

} // namespace

TEST_CASE("one failed base request never crashes, leaks or sticks", "[failure]") {
  const std::size_t reference = reference_requests();
  INFO("base requests of the reference workload: " << reference);
  REQUIRE(reference >= 3);

  for (std::size_t n = 1; n <= reference + 2; ++n) {
    INFO("base request " << n << " fails");
    FailState state;
    state.fail_at = n;
    std::size_t requests_while_armed = 0;
    {
      ferroc::Arenas arenas{FailingBase{&state}};
      ferroc::Context cx{arenas};
      ferroc::Heap heap{cx};

      const Outcome first = run_workload(heap, 0);
      check_outcome(first);
      heap.collect(true);
      const std::size_t failures_before_second = state.failures;

      // The base recovered: a failure before this round leaves no trace.
      const Outcome second = run_workload(heap, 1000);
      check_outcome(second);
      if (failures_before_second != 0) {
        CHECK(second.nulls == 0);
      }
      heap.collect(true);

      // A failed request costs at most the one allocation that made it
      // (a refused arena is retried smaller and may cost none).
      CHECK(first.nulls + second.nulls <= state.failures);

      // And a fresh round after that works all the way.
      requests_while_armed = state.requests;
      state.fail_at = never;
      const Outcome third = run_workload(heap, 2000);
      CHECK(third.nulls == 0);
      check_outcome(third);
      heap.collect(true);
    }
    CHECK(state.failures == (n <= requests_while_armed ? 1U : 0U));
    check_all_returned(state);
  }
}

TEST_CASE("a base that fails from the N-th request on gives nullptr, not a crash", "[failure]") {
  const std::size_t reference = reference_requests();
  INFO("base requests of the reference workload: " << reference);

  for (std::size_t n = 1; n <= reference + 2; ++n) {
    INFO("every base request from " << n << " on fails");
    FailState state;
    state.fail_at = n;
    state.permanent = true;
    {
      ferroc::Arenas arenas{FailingBase{&state}};
      ferroc::Context cx{arenas};
      ferroc::Heap heap{cx};
      std::size_t nulls = 0;
      for (std::uint64_t round = 0; round < 3; ++round) {
        const Outcome out = run_workload(heap, round * 1000);
        check_outcome(out);
        nulls += out.nulls;
        heap.collect(true);
        heap.collect(false);
      }
      if (n <= reference) {
        CHECK(nulls > 0);
      }
      // What the arenas already hold still serves small blocks, or the
      // answer is a clean nullptr.
      void* p = heap.try_allocate(64);
      if (p != nullptr) {
        fill_pattern_range(p, 0, 64, 7);
        CHECK(check_pattern_range(p, 0, 64, 7));
        heap.deallocate(p);
      }
      heap.collect(true);
    }
    check_all_returned(state);
  }
}

TEST_CASE("heap_allocator throws std::bad_alloc when the base fails", "[failure][allocator]") {
  using Alloc = ferroc::heap_allocator<std::uint64_t, FailingBase>;
  using Vector = std::vector<std::uint64_t, Alloc>;

  // Grows one vector through every size kind, then asks for a vector larger
  // than an arena. Returns how many steps threw std::bad_alloc; after a
  // throw the vector still holds what it held (the strong guarantee).
  const auto vector_workload = [](ferroc::Heap<FailingBase>& heap, std::size_t& corrupted) {
    std::size_t throws = 0;
    Vector v{Alloc{heap}};
    for (const std::size_t bytes : {std::size_t{64}, 4 * KiB, 128 * KiB, MiB, 8 * MiB}) {
      const std::size_t old_size = v.size();
      try {
        v.reserve(bytes / sizeof(std::uint64_t));
        for (std::size_t i = v.size(); i < v.capacity() && i < bytes / sizeof(std::uint64_t); ++i) {
          v.push_back(ferroc_test::mix64(i));
        }
      } catch (const std::bad_alloc&) {
        ++throws;
        CHECK(v.size() == old_size);
      }
      for (std::size_t i = 0; i < v.size(); i += 997) {
        corrupted += v[i] == ferroc_test::mix64(i) ? 0 : 1;
      }
    }
    try {
      Vector big{Alloc{heap}};
      big.reserve(300 * MiB / sizeof(std::uint64_t));
      big.push_back(1);
      big.push_back(2);
      corrupted += big[0] + 1 == big[1] ? 0 : 1;
    } catch (const std::bad_alloc&) {
      ++throws;
    }
    return throws;
  };

  std::size_t reference = 0;
  {
    FailState state;
    {
      ferroc::Arenas arenas{FailingBase{&state}};
      ferroc::Context cx{arenas};
      ferroc::Heap heap{cx};
      std::size_t corrupted = 0;
      CHECK(vector_workload(heap, corrupted) == 0);
      CHECK(corrupted == 0);
    }
    check_all_returned(state);
    reference = state.requests;
  }
  INFO("base requests of the reference vector workload: " << reference);
  REQUIRE(reference >= 2);

  SECTION("one failed request") {
    std::size_t total_throws = 0;
    for (std::size_t n = 1; n <= reference + 2; ++n) {
      INFO("base request " << n << " fails");
      FailState state;
      state.fail_at = n;
      {
        ferroc::Arenas arenas{FailingBase{&state}};
        ferroc::Context cx{arenas};
        ferroc::Heap heap{cx};
        std::size_t corrupted = 0;
        const std::size_t throws = vector_workload(heap, corrupted);
        CHECK(throws <= state.failures);
        // The last request is the chunk of the vector larger than an arena.
        CHECK(throws == (n == reference ? 1U : 0U));
        total_throws += throws;
        // The base recovered: the same again never throws.
        state.fail_at = never;
        CHECK(vector_workload(heap, corrupted) == 0);
        CHECK(corrupted == 0);
      }
      check_all_returned(state);
    }
    // Every allocation path that can use arena slots gives back what the
    // heap holds and looks once more when the base fails (huge blocks that
    // fit an arena too): one failed request does not reach the program.
    // The vector larger than an arena is the exception: its own chunk
    // refused, nothing the heap holds could make room (arenas are never
    // given back to the base), so it fails after that one request, as a
    // refused mmap fails malloc in glibc, without a collect and a retry.
    CHECK(total_throws == 1);
  }

  SECTION("every request fails from the N-th on") {
    for (std::size_t n = 1; n <= reference + 2; ++n) {
      INFO("every base request from " << n << " on fails");
      FailState state;
      state.fail_at = n;
      state.permanent = true;
      {
        ferroc::Arenas arenas{FailingBase{&state}};
        ferroc::Context cx{arenas};
        ferroc::Heap heap{cx};
        std::size_t corrupted = 0;
        const std::size_t throws = vector_workload(heap, corrupted);
        if (n <= reference) {
          CHECK(throws > 0);
        }
        CHECK(corrupted == 0);
        heap.collect(true);
      }
      check_all_returned(state);
    }
  }

  SECTION("a base that never gives anything") {
    FailState state;
    state.fail_at = 1;
    state.permanent = true;
    {
      ferroc::Arenas arenas{FailingBase{&state}};
      ferroc::Context cx{arenas};
      ferroc::Heap heap{cx};
      Vector v{Alloc{heap}};
      CHECK_THROWS_AS(v.push_back(1), std::bad_alloc);
      CHECK(v.empty());
      CHECK_THROWS_AS(v.reserve(300 * MiB / sizeof(std::uint64_t)), std::bad_alloc);
      CHECK(v.capacity() == 0);
    }
    CHECK(state.allocations == 0);
    check_all_returned(state);
  }
}

// The counting base also shows how memory goes back: the slices of a freed
// large block are adjacent, and they go back in one decommit (each call costs
// the system a walk of the mapping and a TLB flush), inside the live chunk.
TEST_CASE("a freed large block goes back to the base in one decommit", "[failure][purge]") {
  FailState state;
  {
    ferroc::Arenas arenas{FailingBase{&state}};
    ferroc::Context cx{arenas};
    ferroc::Heap heap{cx};
    void* big = heap.try_allocate(MiB);
    void* kept = heap.try_allocate(128 * KiB); // a large block too: keeps the segment in use
    REQUIRE(big != nullptr);
    REQUIRE(kept != nullptr);
    fill_pattern_range(big, 0, MiB, 1);
    heap.deallocate(big);
    const std::size_t before = state.decommits;
    heap.collect(true);
    CHECK(state.decommits - before == 1);
    CHECK(state.bad_decommits == 0);
    // The memory comes back zeroed and whole.
    void* again = heap.allocate_zeroed(MiB);
    REQUIRE(again != nullptr);
    const auto* bytes = static_cast<const unsigned char*>(again);
    CHECK(std::all_of(bytes, bytes + MiB, [](unsigned char b) { return b == 0; }));
    heap.deallocate(again);
    heap.deallocate(kept);
  }
  check_all_returned(state);
}

// allocate_zeroed after a decommit: blocks of every size kind are dirtied,
// freed and decommitted (collect(true)), then taken again zeroed; every
// byte must read zero. On a system with 16 or 64 KiB pages some areas are
// no whole OS pages and stay committed, and a base that refuses leaves
// everything committed: either way they hold old data and must be cleared.
template <class B> void check_zeroed_after_decommit(ferroc::Heap<B>& heap) {
  namespace fd = ferroc::detail;
  std::size_t const sizes[] = {8,
                               100,
                               fd::small_block_max,
                               fd::small_block_max + 1,
                               fd::medium_block_max,
                               fd::medium_block_max + 1,
                               300 * KiB,
                               fd::large_block_max,
                               fd::large_block_max + 1,
                               fd::segment_size + fd::segment_size / 2};
  for (std::size_t const size : sizes) {
    // Enough blocks to fill a few pages of the kind, so that whole pages
    // and segments are freed.
    std::size_t const count = std::clamp<std::size_t>(2 * MiB / size, 2, 256);
    std::vector<void*> blocks(count);
    for (int round = 0; round < 2; ++round) {
      for (void*& p : blocks) {
        p = heap.try_allocate(size);
        REQUIRE(p != nullptr);
        std::memset(p, 0xa5, heap.usable_size(p));
      }
      for (void* p : blocks)
        heap.deallocate(p);
      heap.collect(true);
      for (void*& p : blocks) {
        p = heap.allocate_zeroed(size);
        REQUIRE(p != nullptr);
        const auto* bytes = static_cast<const unsigned char*>(p);
        INFO("size " << size << ", round " << round);
        REQUIRE(std::all_of(bytes, bytes + size, [](unsigned char b) { return b == 0; }));
      }
      for (void* p : blocks)
        heap.deallocate(p);
      heap.collect(true);
    }
  }
}

TEST_CASE("zeroed blocks of every kind read zero after a decommit", "[failure][purge]") {
  SECTION("MmapAlloc, on this system's page size") {
    ferroc::Arenas arenas{ferroc::MmapAlloc{}};
    ferroc::Context cx{arenas};
    ferroc::Heap heap{cx};
    check_zeroed_after_decommit(heap);
    CHECK(arenas.decommitted_bytes() > 0);
  }
  SECTION("a base that refuses every decommit") {
    FailState state;
    state.refuse_decommits = true;
    {
      ferroc::Arenas arenas{FailingBase{&state}};
      ferroc::Context cx{arenas};
      ferroc::Heap heap{cx};
      check_zeroed_after_decommit(heap);
      CHECK(state.decommits > 0);
      CHECK(arenas.decommitted_bytes() == 0); // nothing counts as decommitted
    }
    check_all_returned(state);
  }
}
