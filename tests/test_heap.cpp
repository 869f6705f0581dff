// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// Heap<Base> on one thread: allocate/deallocate, alignment, usable sizes,
// reallocate, zeroed memory, allocate_at_least, huge blocks, every size class
// at once, heap_allocator in standard containers, and the usage lines of the
// API documentation.
#include <ferroc/ferroc.hpp>
#include <ferroc/heap/size_class.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <new>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "test_util.hpp"

#if defined(_WIN32)
#include "ferroc/detail/windows.hpp"
#else
#include <unistd.h>
#endif

namespace {

using ferroc_test::all_bytes_are;
using ferroc_test::check_pattern;
using ferroc_test::fill_pattern;
using ferroc_test::is_aligned;
using ferroc_test::KiB;
using ferroc_test::MiB;

using MmapArenas = ferroc::Arenas<ferroc::OsAlloc>;
using MmapContext = ferroc::Context<ferroc::OsAlloc>;
using MmapHeap = ferroc::Heap<ferroc::OsAlloc>;

// One isolated allocator stack per test case.
struct Fixture {
  MmapArenas arenas{ferroc::OsAlloc{}};
  MmapContext cx{arenas};
  MmapHeap heap{cx};
};

std::size_t class_block(std::size_t size) {
  return static_cast<std::size_t>(ferroc::detail::class_size(ferroc::detail::size_class_of(size)));
}

} // namespace

// ---- compile-time contract ---------------------------------------------

static_assert(ferroc::BaseAlloc<ferroc::OsAlloc>);
static_assert(ferroc::BaseAlloc<ferroc::Static<1 << 24>>);
static_assert(!std::is_copy_constructible_v<ferroc::Static<1 << 24>>);
static_assert(!std::is_copy_constructible_v<MmapContext>);
static_assert(!std::is_move_constructible_v<MmapContext>);
static_assert(!std::is_copy_constructible_v<MmapHeap>);
static_assert(!std::is_copy_assignable_v<MmapHeap>);
static_assert(std::is_same_v<decltype(std::declval<MmapHeap&>().try_allocate(1)), void*>);
static_assert(noexcept(std::declval<MmapHeap&>().try_allocate(1, 16)));
static_assert(noexcept(std::declval<MmapHeap&>().allocate_zeroed(1, 16)));
static_assert(noexcept(std::declval<MmapHeap&>().reallocate(nullptr, 1, 16)));
static_assert(noexcept(std::declval<MmapHeap&>().deallocate(nullptr)));
static_assert(noexcept(std::declval<MmapHeap&>().collect(true)));
static_assert(noexcept(std::declval<const MmapHeap&>().usable_size(nullptr)));

TEST_CASE("the usage lines of the API documentation compile and run", "[heap][api]") {
  ferroc::Arenas arenas{ferroc::OsAlloc{}};
  ferroc::Context cx{arenas};
  ferroc::Heap heap{cx};
  static_assert(std::is_same_v<decltype(arenas), ferroc::Arenas<ferroc::OsAlloc>>);
  static_assert(std::is_same_v<decltype(cx), ferroc::Context<ferroc::OsAlloc>>);
  static_assert(std::is_same_v<decltype(heap), ferroc::Heap<ferroc::OsAlloc>>);

  void* p = heap.try_allocate(32, 8);
  REQUIRE(p != nullptr);
  std::memset(p, 0x5A, 32);
  heap.deallocate(p);
  heap.collect(true);

  std::vector<int, ferroc::heap_allocator<int, ferroc::OsAlloc>> v{heap};
  v.assign(1000, 7);
  CHECK(v.size() == 1000);
  CHECK(heap.usable_size(v.data()) >= 1000 * sizeof(int));
  CHECK(&heap.context() == &cx);

  static ferroc::Static<1 << 24> region;
  ferroc::Arenas sarenas{region};
  static_assert(std::is_same_v<decltype(sarenas), ferroc::Arenas<ferroc::Static<1 << 24>>>);
  ferroc::Context scx{sarenas};
  ferroc::Heap sheap{scx};
  static_assert(std::is_same_v<decltype(sheap), ferroc::Heap<ferroc::Static<1 << 24>>>);
  void* q = sheap.try_allocate(100);
  REQUIRE(q != nullptr);
  const auto begin = reinterpret_cast<std::uintptr_t>(&region);
  const auto at = reinterpret_cast<std::uintptr_t>(q);
  CHECK(at >= begin);
  CHECK(at + 100 <= begin + sizeof(region));
  CHECK(&sarenas.base() == &region);
  sheap.deallocate(q);
}

// ---- basic allocation ----------------------------------------------------

#if defined(_WIN32)
// Whether the byte at `p` is readable: its page's protection.
static bool readable(void const* p) {
  MEMORY_BASIC_INFORMATION info{};
  REQUIRE(::VirtualQuery(p, &info, sizeof info) == sizeof info);
  return info.State == MEM_COMMIT && (info.Protect & (PAGE_NOACCESS | PAGE_GUARD)) == 0;
}
#else
// Whether the kernel can read a byte at `p`: write(2) from an inaccessible
// address fails with EFAULT instead of faulting the process.
static bool readable(void const* p) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  bool const ok = ::write(fds[1], p, 1) == 1;
  ::close(fds[0]);
  ::close(fds[1]);
  return ok;
}
#endif

TEST_CASE("MmapAlloc protects and unprotects whole OS pages", "[heap][base]") {
  ferroc::OsAlloc base;
  std::size_t const page = ferroc::detail::os_page_size();
  auto* chunk = static_cast<unsigned char*>(base.allocate(3 * page, page));
  REQUIRE(chunk != nullptr);
  chunk[page] = 42;
  REQUIRE(base.protect(chunk + page, page));
  CHECK(readable(chunk));
  CHECK_FALSE(readable(chunk + page));
  CHECK(readable(chunk + 2 * page));
  REQUIRE(base.unprotect(chunk + page, page));
  CHECK(readable(chunk + page));
  CHECK(chunk[page] == 42); // the contents survive
  base.deallocate(chunk, 3 * page);
}

TEST_CASE("allocate and deallocate small blocks", "[heap]") {
  Fixture f;
  for (std::size_t size : {1, 8, 16, 24, 100, 1000, 4096, 8192, 20000, 65536, 100000}) {
    INFO("size " << size);
    void* p = f.heap.try_allocate(size);
    REQUIRE(p != nullptr);
    CHECK(is_aligned(p, alignof(std::max_align_t)));
    CHECK(is_aligned(p, 16));
    CHECK(f.heap.usable_size(p) >= size);
    fill_pattern(p, size, size);
    CHECK(check_pattern(p, size, size));
    f.heap.deallocate(p);
  }
  f.heap.deallocate(nullptr); // a no-op
}

TEST_CASE("without FERROC_STAT a report has the segments and nothing else", "[heap][stats]") {
  Fixture f;
  void* p = f.heap.try_allocate(100);
  ferroc::Stats const s = f.arenas.stats();
  CHECK(s.enabled == ferroc::detail::stats_enabled);
  CHECK(s.segments.current == 1);
  CHECK(s.segments.peak == 1);
  CHECK(s.abandoned_segments == 0);
  if constexpr (!ferroc::detail::stats_enabled) {
    CHECK(s.allocs == 0);
    CHECK(s.pages.current == 0);
    CHECK(f.heap.stats().allocs == 0);
  }
  f.heap.deallocate(p);
}

#if FERROC_SEGMENT_MAP
TEST_CASE("deallocate_if_ours frees blocks of any Arenas and leaves foreign pointers alone",
          "[heap]") {
  Fixture f;
  Fixture other;
  // Hidden from the optimiser, which would otherwise see a Block read
  // through an int on the (never taken) path that frees it.
  auto opaque = [](void* p) {
    asm volatile("" : "+r"(p));
    return p;
  };
  int on_stack = 0;
  static int in_data = 0;
  auto* from_new = new int(0);
  CHECK_FALSE(f.heap.deallocate_if_ours(nullptr));
  CHECK_FALSE(f.heap.deallocate_if_ours(opaque(&on_stack)));
  CHECK_FALSE(f.heap.deallocate_if_ours(opaque(&in_data)));
  CHECK_FALSE(f.heap.deallocate_if_ours(opaque(from_new)));
  delete from_new;

  // Blocks of our segment (the second free skips the segment map), a huge
  // block, and a block of other Arenas (the cross-thread path) are freed.
  std::vector<void*> blocks;
  for (int i = 0; i < 100; ++i)
    blocks.push_back(f.heap.try_allocate(48));
  void* huge = f.heap.try_allocate(8 * MiB);
  void* foreign_heap = other.heap.try_allocate(48);
  REQUIRE(huge != nullptr);
  REQUIRE(foreign_heap != nullptr);
  CHECK(f.arenas.segments_in_use() == 2);
  CHECK(f.heap.deallocate_if_ours(huge));
  CHECK(f.arenas.segments_in_use() == 1);
  for (void* p : blocks)
    CHECK(f.heap.deallocate_if_ours(p));
  // Checked mode stops a free through a heap of other Arenas instead.
  if constexpr (ferroc::detail::checked)
    other.heap.deallocate(foreign_heap);
  else
    CHECK(f.heap.deallocate_if_ours(foreign_heap));
  // Nothing is left live in either heap.
  auto live = [](MmapHeap& heap) {
    std::size_t n = 0;
    heap.visit([&n](void*, std::size_t) { ++n; });
    return n;
  };
  CHECK(live(f.heap) == 0);
  CHECK(live(other.heap) == 0);
}
#endif

TEST_CASE("size 0 gives unique non-null pointers", "[heap]") {
  Fixture f;
  std::set<void*> seen;
  std::vector<void*> blocks;
  for (int i = 0; i < 1000; ++i) {
    void* p = f.heap.try_allocate(0);
    REQUIRE(p != nullptr);
    CHECK(seen.insert(p).second);
    blocks.push_back(p);
  }
  CHECK(seen.size() == 1000);
  for (void* p : blocks) {
    f.heap.deallocate(p);
  }
}

TEST_CASE("a freed block is reused by the next allocation of its class", "[heap]") {
  Fixture f;
  void* p = f.heap.try_allocate(48);
  REQUIRE(p != nullptr);
  f.heap.deallocate(p);
  // Not a promise of the API, but of the design's local free list: a
  // same-thread free followed by an allocation of the same class must not
  // grow the heap forever. Allocate many times and watch addresses recycle.
  std::set<void*> distinct;
  for (int i = 0; i < 10000; ++i) {
    void* q = f.heap.try_allocate(48);
    REQUIRE(q != nullptr);
    distinct.insert(q);
    f.heap.deallocate(q);
  }
  CHECK(distinct.size() < 10000);
}

TEST_CASE("a class that needs a second page again takes back the one it gave up", "[heap]") {
  Fixture f;
  // No purge while the test runs: pages freed stay resident, as they do
  // for a purge delay after their free.
  f.arenas.set_purge_delay_ms(60'000);
  auto page_of = [](void* p) { return ferroc::detail::segment_of(p)->page_of(p); };
  // Another class's page first, then a page and a bit of a second of 256 B
  // blocks: the other page has the lower index.
  std::vector<void*> others;
  for (int i = 0; i < 8; ++i) {
    others.push_back(f.heap.try_allocate(KiB));
    REQUIRE(others.back() != nullptr);
  }
  std::vector<void*> first_page;
  std::vector<void*> second_page;
  void* const first = f.heap.try_allocate(256);
  REQUIRE(first != nullptr);
  first_page.push_back(first);
  while (second_page.size() < 4) {
    void* p = f.heap.try_allocate(256);
    REQUIRE(p != nullptr);
    (page_of(p) == page_of(first) ? first_page : second_page).push_back(p);
  }
  ferroc::detail::Page* const second = page_of(second_page.front());
  // Where 1 KiB blocks are medium (small geometries), the other page lies
  // in a segment of its own, whose address says nothing.
  if (ferroc::detail::segment_of(others.front()) == ferroc::detail::segment_of(second))
    REQUIRE(page_of(others.front()) < second);
  // Both pages go back to their segment, the second one last.
  for (void* p : others)
    f.heap.deallocate(p);
  for (void* p : second_page)
    f.heap.deallocate(p);
  f.heap.collect(false);
  // The class outgrows its first page again: it takes the page it had
  // (resident where it touched it), not the lowest free one.
  void* again = f.heap.try_allocate(256);
  REQUIRE(again != nullptr);
  CHECK(page_of(again) == second);
  f.heap.deallocate(again);
  for (void* p : first_page)
    f.heap.deallocate(p);
}

TEST_CASE("impossible requests return nullptr without throwing", "[heap]") {
  Fixture f;
  CHECK(f.heap.try_allocate(std::numeric_limits<std::size_t>::max()) == nullptr);
  CHECK(f.heap.try_allocate(std::numeric_limits<std::size_t>::max() - 4 * MiB) == nullptr);
  CHECK(f.heap.try_allocate(ferroc_test::beyond_address_space) ==
        nullptr); // 1 PiB: beyond any address space
  CHECK(f.heap.allocate_zeroed(ferroc_test::beyond_address_space) == nullptr);
  CHECK(f.heap.allocate_at_least(ferroc_test::beyond_address_space).ptr == nullptr);
  // The heap is still usable afterwards.
  void* p = f.heap.try_allocate(64);
  REQUIRE(p != nullptr);
  f.heap.deallocate(p);
}

// ---- alignment -------------------------------------------------------------

TEST_CASE("every power-of-two alignment up to 1 MiB", "[heap][align]") {
  Fixture f;
  const std::size_t sizes[] = {0, 1, 24, 1000, 5000, 100000, 3 * MiB};
  for (std::size_t align = 1; align <= MiB; align *= 2) {
    std::vector<std::pair<void*, std::size_t>> blocks;
    for (const std::size_t size : sizes) {
      INFO("size " << size << ", align " << align);
      void* p = f.heap.try_allocate(size, align);
      REQUIRE(p != nullptr);
      CHECK(is_aligned(p, align));
      const std::size_t usable = f.heap.usable_size(p);
      CHECK(usable >= size);
      // The whole usable area is the caller's: write it all.
      std::memset(p, 0xC3, usable);
      blocks.emplace_back(p, usable);
    }
    for (auto [p, usable] : blocks) {
      INFO("align " << align << ", usable " << usable);
      CHECK(all_bytes_are(p, usable, 0xC3));
      f.heap.deallocate(p);
    }
  }
  f.heap.collect(true);
}

TEST_CASE("alignments at and beyond the segment size", "[heap][align]") {
  Fixture f;
  for (std::size_t align = 2 * MiB; align <= (std::size_t{1} << 27U); align *= 2) {
    for (const std::size_t size : {std::size_t{1}, std::size_t{100000}, 5 * MiB}) {
      INFO("size " << size << ", align " << align);
      void* p = f.heap.try_allocate(size, align);
      REQUIRE(p != nullptr);
      CHECK(is_aligned(p, align));
      const std::size_t usable = f.heap.usable_size(p);
      CHECK(usable >= size);
      auto* bytes = static_cast<unsigned char*>(p);
      bytes[usable - 1] = 2;
      bytes[0] = 1;
      CHECK(bytes[usable - 1] == (usable == 1 ? 1 : 2));
      f.heap.deallocate(p);
    }
  }
  f.heap.collect(true);
}

TEST_CASE("aligned blocks are freed back correctly", "[heap][align]") {
  // Interior pointers of over-aligned blocks must find their block again:
  // free many aligned blocks and check the memory is reused, not leaked.
  Fixture f;
  const std::size_t start = f.arenas.segments_in_use();
  for (int round = 0; round < 4; ++round) {
    std::vector<void*> blocks;
    for (int i = 0; i < 512; ++i) {
      void* p = f.heap.try_allocate(200 + static_cast<std::size_t>(i % 7) * 40, 4 * KiB);
      REQUIRE(p != nullptr);
      REQUIRE(is_aligned(p, 4 * KiB));
      std::memset(p, i, 200);
      blocks.push_back(p);
    }
    for (void* p : blocks) {
      f.heap.deallocate(p);
    }
  }
  f.heap.collect(true);
  CHECK(f.arenas.segments_in_use() == start);
}

// ---- usable_size -----------------------------------------------------------

TEST_CASE("usable_size reports the size class of small blocks", "[heap]") {
  Fixture f;
  // Up to 8 KiB, or the largest non-huge block of a smaller geometry.
  const std::size_t top = std::min(8 * KiB, ferroc::detail::large_block_max);
  for (std::size_t size = 1; size <= top; size += (size < 256 ? 1 : 37)) {
    void* p = f.heap.try_allocate(size);
    REQUIRE(p != nullptr);
    const std::size_t usable = f.heap.usable_size(p);
    INFO("size " << size << ", usable " << usable);
    CHECK(usable >= size);
    // Checked and secure mode report the requested size (nothing past it
    // may be written).
    // Secure mode: the canary's room is part of the request, and blocks
    // above medium pages have no canary.
    const std::size_t asked = ferroc::detail::canaries ? ferroc::detail::with_canary(size) : size;
    const bool requested =
        ferroc::detail::checked ||
        (ferroc::detail::canaries && class_block(asked) <= ferroc::detail::medium_block_max);
    CHECK(usable == (requested ? size : class_block(asked)));
    f.heap.deallocate(p);
  }
  for (std::size_t size : {10 * KiB, 64 * KiB, 300 * KiB, 2 * MiB, 3 * MiB, 17 * MiB}) {
    void* p = f.heap.try_allocate(size);
    REQUIRE(p != nullptr);
    const std::size_t usable = f.heap.usable_size(p);
    INFO("size " << size << ", usable " << usable);
    CHECK(usable >= size);
    // Never more than a size class step or, for huge blocks (> 2 MiB by
    // default, a segment of their own), the rest of the last segment slot.
    CHECK(usable <= (size <= ferroc::detail::large_block_max
                         ? size + size / 4
                         : size + ferroc::detail::segment_size));
    f.heap.deallocate(p);
  }
}

TEST_CASE("allocate_at_least returns the usable size", "[heap]") {
  Fixture f;
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{17}, std::size_t{129},
                           std::size_t{5000}, 40 * KiB, MiB, 5 * MiB}) {
    INFO("size " << size);
    const auto result = f.heap.allocate_at_least(size);
    REQUIRE(result.ptr != nullptr);
    CHECK(result.size >= size);
    CHECK(result.size == f.heap.usable_size(result.ptr));
    std::memset(result.ptr, 0x77, result.size);
    CHECK(all_bytes_are(result.ptr, result.size, 0x77));
    f.heap.deallocate(result.ptr);
  }
  const auto aligned = f.heap.allocate_at_least(100, 256);
  REQUIRE(aligned.ptr != nullptr);
  CHECK(is_aligned(aligned.ptr, 256));
  CHECK(aligned.size >= 100);
  f.heap.deallocate(aligned.ptr);
}

// ---- reallocate ------------------------------------------------------------

TEST_CASE("reallocate keeps contents from small to large to huge and back", "[heap][realloc]") {
  Fixture f;
  const std::size_t steps[] = {100, 3000, 50 * KiB, MiB, 10 * MiB, 3 * MiB, 4000, 50};
  std::size_t size = 24;
  void* p = f.heap.try_allocate(size);
  REQUIRE(p != nullptr);
  fill_pattern(p, size, 1);
  std::uint64_t tag = 1;
  for (const std::size_t next : steps) {
    INFO("from " << size << " to " << next);
    void* q = f.heap.reallocate(p, next);
    REQUIRE(q != nullptr);
    CHECK(f.heap.usable_size(q) >= next);
    CHECK(check_pattern(q, std::min(size, next), tag));
    ++tag;
    fill_pattern(q, next, tag);
    p = q;
    size = next;
  }
  CHECK(check_pattern(p, size, tag));
  f.heap.deallocate(p);
}

TEST_CASE("reallocate in place when the block still fits", "[heap][realloc]") {
  Fixture f;
  void* p = f.heap.try_allocate(100);
  REQUIRE(p != nullptr);
  const std::size_t usable = f.heap.usable_size(p);
  fill_pattern(p, 100, 9);
  // Growing within the block's own size class and shrinking to no less than
  // half of it keep the pointer.
  CHECK(f.heap.reallocate(p, usable) == p);
  CHECK(f.heap.reallocate(p, usable / 2 + 1) == p);
  if constexpr (!ferroc::detail::checked && !ferroc::detail::canaries) {
    CHECK(f.heap.reallocate(p, 100) == p);
    CHECK(check_pattern(p, 100, 9));
  } else {
    // Checked mode's usable size is the requested size, and its trailer
    // follows right after it (secure mode's canary too): the block grows by
    // moving.
    p = f.heap.reallocate(p, 100);
    REQUIRE(p != nullptr);
    CHECK(check_pattern(p, usable / 2 + 1, 9));
    fill_pattern(p, 100, 9);
  }
  // A big shrink moves to a smaller class and keeps the prefix.
  void* q = f.heap.reallocate(p, 8);
  REQUIRE(q != nullptr);
  CHECK(check_pattern(q, 8, 9) == true);
  f.heap.deallocate(q);
}

TEST_CASE("reallocate(nullptr, n) allocates", "[heap][realloc]") {
  Fixture f;
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{1000}, MiB, 5 * MiB}) {
    INFO("size " << size);
    void* p = f.heap.reallocate(nullptr, size);
    REQUIRE(p != nullptr);
    CHECK(f.heap.usable_size(p) >= size);
    std::memset(p, 1, size);
    f.heap.deallocate(p);
  }
  void* aligned = f.heap.reallocate(nullptr, 10, 512);
  REQUIRE(aligned != nullptr);
  CHECK(is_aligned(aligned, 512));
  f.heap.deallocate(aligned);
}

TEST_CASE("reallocate keeps alignment", "[heap][realloc]") {
  Fixture f;
  void* p = f.heap.try_allocate(40, 1024);
  REQUIRE(p != nullptr);
  fill_pattern(p, 40, 3);
  for (const std::size_t next : {std::size_t{80}, std::size_t{5000}, 300 * KiB, std::size_t{10}}) {
    INFO("to " << next);
    void* q = f.heap.reallocate(p, next, 1024);
    REQUIRE(q != nullptr);
    CHECK(is_aligned(q, 1024));
    CHECK(check_pattern(q, std::min<std::size_t>(next, 40), 3));
    fill_pattern(q, std::min<std::size_t>(next, 40), 3);
    p = q;
  }
  f.heap.deallocate(p);
}

TEST_CASE("a failed reallocate leaves the block valid", "[heap][realloc]") {
  Fixture f;
  void* p = f.heap.try_allocate(1000);
  REQUIRE(p != nullptr);
  fill_pattern(p, 1000, 5);
  CHECK(f.heap.reallocate(p, ferroc_test::beyond_address_space) == nullptr);
  CHECK(f.heap.reallocate(p, std::numeric_limits<std::size_t>::max()) == nullptr);
  CHECK(check_pattern(p, 1000, 5));
  CHECK(f.heap.usable_size(p) >= 1000);
  f.heap.deallocate(p);
}

// ---- zeroed memory ---------------------------------------------------------

TEST_CASE("allocate_zeroed is zero also on reused blocks", "[heap][zeroed]") {
  Fixture f;
  struct Case {
    std::size_t size;
    int count;
  };
  // Small and medium blocks are certainly reused from their page's free
  // list; large and huge ones may come back as fresh OS memory instead.
  const Case cases[] = {{64, 2000}, {20 * KiB, 64}, {MiB, 6}, {8 * MiB, 2}};
  for (const Case c : cases) {
    INFO("size " << c.size);
    // Dirty the blocks, free them, then ask for zeroed blocks of the same size:
    // they come from the freed (dirty) memory.
    std::vector<void*> blocks;
    for (int i = 0; i < c.count; ++i) {
      void* p = f.heap.try_allocate(c.size);
      REQUIRE(p != nullptr);
      std::memset(p, 0xAB, f.heap.usable_size(p));
      blocks.push_back(p);
    }
    for (void* p : blocks) {
      f.heap.deallocate(p);
    }
    std::set<void*> dirty(blocks.begin(), blocks.end());
    std::size_t reused = 0;
    blocks.clear();
    for (int i = 0; i < c.count; ++i) {
      void* p = f.heap.allocate_zeroed(c.size);
      REQUIRE(p != nullptr);
      reused += dirty.count(p);
      const bool zero = all_bytes_are(p, c.size, 0);
      CHECK(zero);
      if (!zero) {
        break;
      }
      blocks.push_back(p);
    }
    INFO(reused << " of " << c.count << " blocks reused");
    if (c.size <= 64 * KiB) {
      CHECK(reused > 0); // otherwise this case did not test reuse at all
    }
    for (void* p : blocks) {
      f.heap.deallocate(p);
    }
  }
}

TEST_CASE("allocate_zeroed with alignment", "[heap][zeroed]") {
  Fixture f;
  std::vector<void*> blocks;
  for (int i = 0; i < 64; ++i) {
    void* p = f.heap.try_allocate(3000, 64);
    REQUIRE(p != nullptr);
    std::memset(p, 0xAB, 3000);
    blocks.push_back(p);
  }
  for (void* p : blocks) {
    f.heap.deallocate(p);
  }
  for (void*& p : blocks) {
    p = f.heap.allocate_zeroed(3000, 64);
    REQUIRE(p != nullptr);
    CHECK(is_aligned(p, 64));
    CHECK(all_bytes_are(p, 3000, 0));
  }
  for (void* p : blocks) {
    f.heap.deallocate(p);
  }
}

// ---- huge blocks -----------------------------------------------------------

TEST_CASE("huge blocks are writable at both ends", "[heap][huge]") {
  Fixture f;
  for (const std::size_t size : {8 * MiB, 64 * MiB, 300 * MiB}) {
    INFO("size " << size);
    auto* p = static_cast<unsigned char*>(f.heap.try_allocate(size));
    REQUIRE(p != nullptr);
    CHECK(f.heap.usable_size(p) >= size);
    p[0] = 0x11;
    p[size / 2] = 0x22;
    p[size - 1] = 0x33;
    CHECK(p[0] == 0x11);
    CHECK(p[size / 2] == 0x22);
    CHECK(p[size - 1] == 0x33);
    f.heap.deallocate(p);
  }
  f.heap.collect(true);
}

TEST_CASE("huge blocks come and go without leaking segments", "[heap][huge]") {
  Fixture f;
  const std::size_t start = f.arenas.segments_in_use();
  for (int i = 0; i < 20; ++i) {
    void* p = f.heap.try_allocate(5 * MiB + static_cast<std::size_t>(i) * 100 * KiB);
    REQUIRE(p != nullptr);
    static_cast<unsigned char*>(p)[5 * MiB - 1] = 1;
    f.heap.deallocate(p);
  }
  f.heap.collect(true);
  CHECK(f.arenas.segments_in_use() == start);
}

// ---- every class at once ---------------------------------------------------

TEST_CASE("many blocks of every size class never overlap", "[heap]") {
  Fixture f;
  // Walk the classes through the size-class map: the next class begins one
  // byte past the current class's block size.
  std::size_t size = 1;
  std::size_t classes = 0;
  while (size <= 2 * MiB) {
    const std::size_t block = class_block(size);
    const std::size_t count = std::clamp<std::size_t>(2 * MiB / block, 8, 1000);
    INFO("class of " << block << " bytes, " << count << " blocks");
    std::vector<std::pair<std::uintptr_t, std::size_t>> ranges;
    std::vector<void*> blocks;
    for (std::size_t i = 0; i < count; ++i) {
      void* p = f.heap.try_allocate(block);
      REQUIRE(p != nullptr);
      const std::size_t usable = f.heap.usable_size(p);
      REQUIRE(usable >= block);
      fill_pattern(p, block, i);
      blocks.push_back(p);
      ranges.emplace_back(reinterpret_cast<std::uintptr_t>(p), usable);
    }
    std::size_t corrupted = 0;
    for (std::size_t i = 0; i < count; ++i) {
      corrupted += check_pattern(blocks[i], block, i) ? 0 : 1;
    }
    CHECK(corrupted == 0);
    std::sort(ranges.begin(), ranges.end());
    std::size_t overlaps = 0;
    for (std::size_t i = 1; i < ranges.size(); ++i) {
      overlaps += ranges[i - 1].first + ranges[i - 1].second > ranges[i].first ? 1 : 0;
    }
    CHECK(overlaps == 0);
    for (void* p : blocks) {
      f.heap.deallocate(p);
    }
    size = block + 1;
    ++classes;
  }
  CHECK(classes >= 40);
  f.heap.collect(true);
}

// ---- several heaps on one Arenas -------------------------------------------

TEST_CASE("a block freed through another heap of the same arenas", "[heap]") {
  MmapArenas arenas{ferroc::OsAlloc{}};
  MmapContext cx1{arenas};
  MmapContext cx2{arenas};
  MmapHeap heap1{cx1};
  MmapHeap heap2{cx2};
  std::vector<void*> blocks;
  for (std::size_t i = 0; i < 3000; ++i) {
    const std::size_t size = 16 + (i % 50) * 48 + (i % 100 == 0 ? MiB : 0);
    void* p = heap1.try_allocate(size);
    REQUIRE(p != nullptr);
    fill_pattern(p, 16, i);
    blocks.push_back(p);
  }
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    REQUIRE(check_pattern(blocks[i], 16, i));
    CHECK(heap2.usable_size(blocks[i]) >= 16);
    if (i % 3 == 0) {
      arenas.deallocate(blocks[i]);
    } else {
      heap2.deallocate(blocks[i]);
    }
  }
  heap1.collect(true);
  heap2.collect(true);
  // Every block found its way back to heap1's pages, so the pages and then
  // the segments emptied and were released.
  CHECK(arenas.segments_in_use() == 0);
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    blocks[i] = heap1.try_allocate(16 + (i % 50) * 48);
    REQUIRE(blocks[i] != nullptr);
    fill_pattern(blocks[i], 16, i);
  }
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    CHECK(check_pattern(blocks[i], 16, i));
    heap1.deallocate(blocks[i]);
  }
}

TEST_CASE("blocks freed into full pages, locally and remotely, are found again", "[heap]") {
  MmapArenas arenas{ferroc::OsAlloc{}};
  MmapContext cx1{arenas};
  MmapContext cx2{arenas};
  MmapHeap heap{cx1};
  MmapHeap other{cx2};
  // Fill pages well past the search bound, so that most of them sit in the
  // full queue.
  constexpr std::size_t size = 48;
  constexpr std::size_t page_blocks = ferroc::detail::small_page_size / size;
  constexpr std::size_t count = 40 * page_blocks;
  // Fewer than the blocks of any page apart: every page gets some back.
  constexpr std::size_t stride = page_blocks / 8;
  std::vector<void*> blocks(count);
  for (void*& p : blocks) {
    p = heap.try_allocate(size);
    REQUIRE(p != nullptr);
  }
  std::size_t const segments = arenas.segments_in_use();
  // A few blocks of every page come back, half freed here (local_free) and
  // half through another heap (the remote list, or the delayed list of a
  // full page): each page has to leave the full queue and be found again.
  std::set<void*> freed;
  for (std::size_t i = 0; i < count; i += stride) {
    freed.insert(blocks[i]);
    if ((i / stride) % 2 == 0)
      heap.deallocate(blocks[i]);
    else
      other.deallocate(blocks[i]);
  }
  // The page at the front may still have room of its own: one page's worth
  // more, and every freed block must have come back.
  std::set<void*> reused;
  for (std::size_t i = 0; i < freed.size() + page_blocks; ++i) {
    void* p = heap.try_allocate(size);
    REQUIRE(p != nullptr);
    reused.insert(p);
  }
  CHECK(std::includes(reused.begin(), reused.end(), freed.begin(), freed.end()));
  CHECK(arenas.segments_in_use() == segments);
  for (void* p : blocks) {
    if (freed.count(p) == 0)
      heap.deallocate(p);
  }
  for (void* p : reused)
    heap.deallocate(p);
}

// ---- heap_allocator --------------------------------------------------------

TEST_CASE("heap_allocator in standard containers", "[heap][heap_allocator]") {
  Fixture f;
  using IntAlloc = ferroc::heap_allocator<int, ferroc::OsAlloc>;
  using CharAlloc = ferroc::heap_allocator<char, ferroc::OsAlloc>;
  using String = std::basic_string<char, std::char_traits<char>, CharAlloc>;
  using PairAlloc = ferroc::heap_allocator<std::pair<const int, String>, ferroc::OsAlloc>;
  using Map = std::map<int, String, std::less<>, PairAlloc>;

  SECTION("vector") {
    std::vector<int, IntAlloc> v{f.heap};
    for (int i = 0; i < 100000; ++i) {
      v.push_back(i);
    }
    CHECK(f.heap.usable_size(v.data()) >= v.capacity() * sizeof(int));
    long long sum = 0;
    for (const int x : v) {
      sum += x;
    }
    CHECK(sum == 100000LL * 99999 / 2);
    v.resize(10);
    v.shrink_to_fit();
    CHECK(v.size() == 10);
    CHECK(v[9] == 9);
    CHECK(v.get_allocator() == IntAlloc{f.heap});
  }

  SECTION("string") {
    String s{CharAlloc{f.heap}};
    for (int i = 0; i < 1000; ++i) {
      s += "ferroc-";
    }
    CHECK(s.size() == 7000);
    CHECK(f.heap.usable_size(s.data()) >= s.capacity() + 1);
    // (substr would need a default-constructible allocator: use a view.)
    CHECK(std::string_view(s).substr(7 * 999) == "ferroc-");
    String copy = s;
    CHECK(copy == s);
    CHECK(copy.get_allocator() == s.get_allocator());
  }

  SECTION("map of strings") {
    Map m{PairAlloc{f.heap}};
    for (int i = 0; i < 5000; ++i) {
      m.emplace(i, String(static_cast<std::size_t>(i % 300), static_cast<char>('a' + i % 26),
                          CharAlloc{f.heap}));
    }
    CHECK(m.size() == 5000);
    for (int i = 0; i < 5000; i += 7) {
      const auto it = m.find(i);
      REQUIRE(it != m.end());
      CHECK(it->second.size() == static_cast<std::size_t>(i % 300));
      CHECK(it->second == String(static_cast<std::size_t>(i % 300), static_cast<char>('a' + i % 26),
                                 CharAlloc{f.heap}));
    }
    for (int i = 0; i < 5000; i += 2) {
      m.erase(i);
    }
    CHECK(m.size() == 2500);
  }

  SECTION("equality, rebinding and failures") {
    MmapContext other_cx{f.arenas};
    MmapHeap other{other_cx};
    const IntAlloc a{f.heap};
    const IntAlloc b{f.heap};
    const IntAlloc c{other};
    CHECK(a == b);
    CHECK(a != c);
    CHECK_FALSE(std::allocator_traits<IntAlloc>::is_always_equal::value);
    using LongAlloc = std::allocator_traits<IntAlloc>::rebind_alloc<long>;
    static_assert(std::is_same_v<LongAlloc, ferroc::heap_allocator<long, ferroc::OsAlloc>>);
    const LongAlloc la{a};
    CHECK(la == LongAlloc{b});
    CHECK(la != LongAlloc{c});

    IntAlloc alloc = a;
    int* p = alloc.allocate(10);
    REQUIRE(p != nullptr);
    p[9] = 42;
    CHECK(f.heap.usable_size(p) >= 10 * sizeof(int));
    alloc.deallocate(p, 10);

#if FERROC_HAS_EXCEPTIONS // else std::terminate(), tested in tests/embedded
    CHECK_THROWS_AS(alloc.allocate(std::numeric_limits<std::size_t>::max() / sizeof(int) + 1),
                    std::bad_array_new_length);
    CHECK_THROWS_AS(alloc.allocate(ferroc_test::beyond_address_space), std::bad_alloc);
#endif
  }
}

TEST_CASE("usable_size of nullptr is 0, as malloc_usable_size(NULL)", "[heap]") {
  Fixture f;
  CHECK(f.heap.usable_size(nullptr) == 0);
}
