// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// Base allocators: Static<N> (a fixed region, never the OS) runs out cleanly
// and recovers, and a user-defined base sees balanced traffic.
//
// This file interposes mmap, mmap64, munmap, madvise and mprotect for the
// whole test program: each call is counted, then forwarded straight to the
// kernel with syscall(2). The counts prove that a Static workload never
// reaches the OS, while an MmapAlloc workload (the control) does. Under
// ThreadSanitizer the interposers are left out, because TSan must see every
// mapping change itself; the OS-call test then only warns.
#include <ferroc/ferroc.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#if !defined(_WIN32)
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "test_util.hpp"

// The OS calls are counted by interposing mmap & co., which a Windows
// program does not call (WinAlloc's VirtualAlloc lives in kernel32).
#if !FERROC_TEST_TSAN && !defined(_WIN32)
#define FERROC_TEST_COUNTS_OS_CALLS 1

namespace {

// Zero-initialised before any code runs, so the interposers may count from
// the first call on.
std::atomic<std::size_t> os_map_calls{0};
std::atomic<std::size_t> os_unmap_calls{0};
std::atomic<std::size_t> os_advise_calls{0};
std::atomic<std::size_t> os_protect_calls{0};

std::size_t os_calls() {
  return os_map_calls.load() + os_unmap_calls.load() + os_advise_calls.load() +
         os_protect_calls.load();
}

// The kernel's mmap. 32-bit targets have SYS_mmap2, which takes the offset
// in 4096-byte units (their SYS_mmap, where there is one, reads its
// arguments from memory); every argument of syscall(2) is one long.
void* kernel_mmap(void* addr, std::size_t length, int prot, int flags, int fd,
                  std::int64_t offset) noexcept {
#ifdef SYS_mmap2
  return reinterpret_cast<void*>(
      syscall(SYS_mmap2, addr, length, prot, flags, fd, static_cast<long>(offset >> 12U)));
#else
  return reinterpret_cast<void*>(
      syscall(SYS_mmap, addr, length, prot, flags, fd, static_cast<long>(offset)));
#endif
}

} // namespace

extern "C" void* mmap(void* addr, std::size_t length, int prot, int flags, int fd,
                      off_t offset) noexcept {
  os_map_calls.fetch_add(1, std::memory_order_relaxed); // a counter: no ordering needed
  return kernel_mmap(addr, length, prot, flags, fd, offset);
}

extern "C" void* mmap64(void* addr, std::size_t length, int prot, int flags, int fd,
                        off64_t offset) noexcept {
  os_map_calls.fetch_add(1, std::memory_order_relaxed);
  return kernel_mmap(addr, length, prot, flags, fd, offset);
}

extern "C" int munmap(void* addr, std::size_t length) noexcept {
  os_unmap_calls.fetch_add(1, std::memory_order_relaxed);
  return static_cast<int>(syscall(SYS_munmap, addr, length));
}

extern "C" int madvise(void* addr, std::size_t length, int advice) noexcept {
  os_advise_calls.fetch_add(1, std::memory_order_relaxed);
  return static_cast<int>(syscall(SYS_madvise, addr, length, advice));
}

extern "C" int mprotect(void* addr, std::size_t length, int prot) noexcept {
  os_protect_calls.fetch_add(1, std::memory_order_relaxed);
  return static_cast<int>(syscall(SYS_mprotect, addr, length, prot));
}
#else
#define FERROC_TEST_COUNTS_OS_CALLS 0
#endif

namespace {

using ferroc_test::check_pattern;
using ferroc_test::fill_pattern;
using ferroc_test::KiB;
using ferroc_test::MiB;

constexpr std::size_t region_size = std::size_t{16} << 20U;
using Region = ferroc::Static<region_size>;

static_assert(ferroc::BaseAlloc<Region>);
static_assert(!std::is_copy_constructible_v<Region>);

// A region the program gives to a SpanBase: three segments, of which at
// least two are usable whatever its alignment.
constexpr std::size_t span_bytes = 3 * ferroc::detail::segment_size;
alignas(64) std::byte span_buffer[span_bytes];

static_assert(ferroc::BaseAlloc<ferroc::SpanBase>);
static_assert(!std::is_copy_constructible_v<ferroc::SpanBase>);

bool in_range(const void* begin, std::size_t length, const void* p, std::size_t size) {
  const auto first = reinterpret_cast<std::uintptr_t>(begin);
  const auto at = reinterpret_cast<std::uintptr_t>(p);
  return at >= first && at + size <= first + length;
}

bool in_region(const Region& region, const void* p, std::size_t size) {
  return in_range(&region, sizeof(Region), p, size);
}

bool in_region(const ferroc::SpanBase& span, const void* p, std::size_t size) {
  return in_range(span.data(), span.capacity(), p, size);
}

// Allocates blocks of `size` until the region runs dry. Checks every block
// lies inside the region and that no block overwrote another.
template <class Base>
std::size_t exhaust(ferroc::Heap<Base>& heap, const Base& region, std::size_t size,
                    std::vector<void*>& blocks) {
  // Far more attempts than can ever fit: the loop must end with nullptr.
  const std::size_t limit = region.capacity() / size + 16;
  std::size_t outside = 0;
  for (std::size_t i = 0; i < limit; ++i) {
    void* p = heap.try_allocate(size);
    if (p == nullptr) {
      break;
    }
    outside += in_region(region, p, size) ? 0 : 1;
    fill_pattern(p, size, blocks.size());
    blocks.push_back(p);
  }
  CHECK(outside == 0);
  CHECK(blocks.size() < limit); // nullptr did come back
  std::size_t corrupted = 0;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    corrupted += check_pattern(blocks[i], size, i) ? 0 : 1;
  }
  CHECK(corrupted == 0);
  return blocks.size() * size;
}

template <class Base> void free_all(ferroc::Heap<Base>& heap, std::vector<void*>& blocks) {
  for (void* p : blocks) {
    heap.deallocate(p);
  }
  blocks.clear();
  heap.collect(true);
}

} // namespace

TEST_CASE("Static<N> runs out with nullptr and recovers after collect", "[static]") {
  static Region region;
  CHECK(region.capacity() == region_size);
  REQUIRE(region.used_bytes() == 0);
  {
    ferroc::Arenas arenas{region};
    ferroc::Context cx{arenas};
    ferroc::Heap heap{cx};
    std::vector<void*> blocks;

    // The largest medium block (64 KiB in the default geometry; checked
    // builds add their trailer to every request). A larger one would take a
    // run of slices, whose last slice it may fill only in part.
    constexpr std::size_t medium =
        ferroc::detail::medium_block_max -
        (ferroc::detail::checked ? ferroc::detail::checked_extra : ferroc::detail::canary_extra);
    const std::size_t medium_first = exhaust(heap, region, medium, blocks);
    INFO(medium << " B blocks: " << medium_first / KiB << " KiB of " << region_size / KiB
                << " KiB");
    CHECK(medium_first >= region_size / 2);
    CHECK(region.used_bytes() > 0);
    CHECK(region.used_bytes() <= region.capacity());
    // Once exhausted, other sizes fail cleanly too.
    CHECK(heap.try_allocate(4 * MiB) == nullptr);
    free_all(heap, blocks);

    // The freed pages serve another size class.
    const std::size_t small_first = exhaust(heap, region, KiB, blocks);
    INFO("1 KiB blocks: " << small_first / KiB << " KiB");
    CHECK(small_first >= region_size / 2);
    free_all(heap, blocks);

    // And the same amounts fit again.
    const std::size_t medium_again = exhaust(heap, region, medium, blocks);
    CHECK(medium_again >= medium_first);
    free_all(heap, blocks);
    const std::size_t small_again = exhaust(heap, region, KiB, blocks);
    CHECK(small_again >= small_first);
    free_all(heap, blocks);
  }
  CHECK(region.used_bytes() == 0);
}

TEST_CASE("Static<N> serves huge blocks and refuses impossible ones", "[static]") {
  static Region region;
  REQUIRE(region.used_bytes() == 0);
  {
    ferroc::Arenas arenas{region};
    ferroc::Context cx{arenas};
    ferroc::Heap heap{cx};
    CHECK(heap.try_allocate(region_size) == nullptr);
    CHECK(heap.try_allocate(2 * region_size) == nullptr);
    void* huge = heap.try_allocate(3 * MiB);
    REQUIRE(huge != nullptr);
    CHECK(in_region(region, huge, 3 * MiB));
    std::memset(huge, 0x3C, 3 * MiB);
    void* small = heap.try_allocate(100);
    REQUIRE(small != nullptr);
    CHECK(in_region(region, small, 100));
    heap.deallocate(huge);
    heap.deallocate(small);
    heap.collect(true);
    void* again = heap.try_allocate(3 * MiB);
    CHECK(again != nullptr);
    heap.deallocate(again);
    // Zeroed memory is zero inside a Static region too, even where the huge
    // block wrote before.
    auto* zeroed = static_cast<unsigned char*>(heap.allocate_zeroed(3 * MiB));
    REQUIRE(zeroed != nullptr);
    CHECK(ferroc_test::all_bytes_are(zeroed, 3 * MiB, 0));
    heap.deallocate(zeroed);
  }
  CHECK(region.used_bytes() == 0);
}

// ---- SpanBase: a region the program gives ---------------------------------

TEST_CASE("SpanBase places a small chunk where it costs no segment", "[static][span]") {
  constexpr std::size_t seg = ferroc::detail::segment_size;
  // A region that starts 32 KiB below a segment boundary and ends 128 KiB
  // past the second one after it: two whole segments, and room for a small
  // chunk at its end but not at its start.
  std::vector<std::byte> memory(4 * seg);
  auto const raw = reinterpret_cast<std::uintptr_t>(memory.data());
  auto* const boundary = memory.data() + ((raw + seg - 1) / seg * seg - raw);
  ferroc::SpanBase span{boundary + seg - 32 * KiB, 2 * seg + 32 * KiB + 128 * KiB};
  // The thread data of a Global comes first, 64 KiB aligned to 64 bytes:
  // first fit would lay it across the boundary and leave one segment.
  void* small = span.allocate(64 * KiB, 64);
  REQUIRE(small != nullptr);
  CHECK(in_region(span, small, 64 * KiB));
  void* a = span.allocate(seg, seg);
  void* b = span.allocate(seg, seg);
  CHECK(a != nullptr);
  CHECK(b != nullptr);
  span.deallocate(b, seg);
  span.deallocate(a, seg);
  span.deallocate(small, 64 * KiB);
  CHECK(span.used_bytes() == 0);
}

TEST_CASE("SpanBase carves aligned chunks first-fit and merges them back", "[static][span]") {
  constexpr std::size_t length = 64 * KiB;
  alignas(4 * KiB) static std::byte buffer[length];
  ferroc::SpanBase span{buffer, length};
  CHECK(span.capacity() == length);
  CHECK(span.data() == buffer);
  CHECK(span.allocate(0, 16) == nullptr);
  CHECK(span.allocate(length + 1, 16) == nullptr);
  CHECK(span.allocate(16, 3) == nullptr); // not a power of two

  // Chunks of several sizes and alignments: inside the region, aligned, and
  // apart from each other.
  struct Chunk {
    void* p;
    std::size_t size;
  };
  std::vector<Chunk> chunks;
  const std::size_t sizes[] = {100, 4 * KiB, 1, 10 * KiB, 512, 8 * KiB};
  const std::size_t aligns[] = {16, 4 * KiB, 1, 8 * KiB, 64, 2 * KiB};
  for (std::size_t i = 0; i < std::size(sizes); ++i) {
    void* p = span.allocate(sizes[i], aligns[i]);
    REQUIRE(p != nullptr);
    CHECK(in_region(span, p, sizes[i]));
    CHECK(ferroc_test::is_aligned(p, aligns[i]));
    std::memset(p, static_cast<int>(i + 1), sizes[i]);
    chunks.push_back({p, sizes[i]});
  }
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    CHECK(ferroc_test::all_bytes_are(static_cast<unsigned char*>(chunks[i].p), chunks[i].size,
                                     static_cast<unsigned char>(i + 1)));
  }
  std::size_t taken = 0;
  for (const Chunk& c : chunks) {
    taken += c.size;
  }
  CHECK(span.used_bytes() == taken);

  // Given back out of order, the pieces merge into the whole region again.
  for (const std::size_t i : {3, 0, 5, 1, 4, 2}) {
    span.deallocate(chunks[i].p, chunks[i].size);
  }
  CHECK(span.used_bytes() == 0);
  void* whole = span.allocate(length, 4 * KiB);
  CHECK(whole == buffer);
  span.deallocate(whole, length);

  // An empty span (null start) hands out nothing.
  ferroc::SpanBase empty{nullptr, 1024};
  CHECK(empty.capacity() == 0);
  CHECK(empty.allocate(16, 16) == nullptr);
}

TEST_CASE("SpanBase runs a heap inside the given region and recovers", "[static][span]") {
  // constinit: a span over static storage needs no dynamic initialisation.
  constinit static ferroc::SpanBase span{span_buffer, span_bytes};
  REQUIRE(span.used_bytes() == 0);
  {
    ferroc::Arenas arenas{span};
    static_assert(std::is_same_v<decltype(arenas), ferroc::Arenas<ferroc::SpanBase>>);
    CHECK(&arenas.base() == &span);
    ferroc::Context cx{arenas};
    ferroc::Heap heap{cx};
    std::vector<void*> blocks;

    // At least two of the three segments are usable, whatever the alignment.
    const std::size_t small_first = exhaust(heap, span, 256, blocks);
    CHECK(small_first >= span_bytes / 3);
    CHECK(span.used_bytes() <= span.capacity());
    free_all(heap, blocks);
    const std::size_t large_first = exhaust(heap, span, ferroc::detail::large_block_max, blocks);
    CHECK(large_first >= ferroc::detail::large_block_max * 2);
    free_all(heap, blocks);
    CHECK(exhaust(heap, span, 256, blocks) >= small_first);
    free_all(heap, blocks);
  }
  CHECK(span.used_bytes() == 0);
}

#if !FERROC_SINGLE_THREADED
TEST_CASE("Static<N> is shared by heaps on several threads", "[static][threads]") {
  static Region region;
  REQUIRE(region.used_bytes() == 0);
  {
    ferroc::Arenas arenas{region};
    std::atomic<std::size_t> failures{0};
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < 3; ++t) {
      threads.emplace_back([&, t] {
        ferroc::Context cx{arenas};
        ferroc::Heap heap{cx};
        std::vector<void*> blocks;
        for (std::size_t i = 0; i < 2000; ++i) {
          void* p = heap.try_allocate(64 + t * 32);
          if (p == nullptr || !in_region(region, p, 64)) {
            failures.fetch_add(1, std::memory_order_relaxed);
            continue;
          }
          fill_pattern(p, 64, t * 100000 + i);
          blocks.push_back(p);
        }
        for (std::size_t i = 0; i < blocks.size(); ++i) {
          if (!check_pattern(blocks[i], 64, t * 100000 + i)) {
            failures.fetch_add(1, std::memory_order_relaxed);
          }
          heap.deallocate(blocks[i]);
        }
      });
    }
    for (auto& thread : threads) {
      thread.join();
    }
    CHECK(failures.load() == 0);
  }
  CHECK(region.used_bytes() == 0);
}
#endif

TEST_CASE("Static<N> never calls the OS but MmapAlloc does", "[static][os]") {
#if FERROC_TEST_COUNTS_OS_CALLS
  // The control: the counters see MmapAlloc's traffic.
  const std::size_t before_mmap = os_calls();
  const std::size_t before_map_only = os_map_calls.load();
  {
    ferroc::Arenas arenas{ferroc::MmapAlloc{}};
    ferroc::Context cx{arenas};
    ferroc::Heap heap{cx};
    std::vector<void*> blocks;
    for (const std::size_t size : {std::size_t{64}, 64 * KiB, MiB, 8 * MiB}) {
      void* p = heap.try_allocate(size);
      REQUIRE(p != nullptr);
      std::memset(p, 1, size);
      blocks.push_back(p);
    }
    for (void* p : blocks) {
      heap.deallocate(p);
    }
    heap.collect(true);
  }
  INFO("MmapAlloc workload: " << os_calls() - before_mmap << " OS calls");
  CHECK(os_map_calls.load() > before_map_only);
  CHECK(os_calls() > before_mmap);

  // The same kind of workload, and more, over a Static region: no OS call.
  static Region region;
  const std::size_t before_static = os_calls();
  {
    ferroc::Arenas arenas{region};
    ferroc::Context cx{arenas};
    ferroc::Heap heap{cx};
    // The region holds three or four 4 MiB segment slots (fewer when it does
    // not start on a 4 MiB boundary): small, medium and large blocks first,
    // then a huge one alone.
    std::vector<void*> blocks;
    for (const std::size_t size : {std::size_t{64}, 64 * KiB, MiB}) {
      void* p = heap.try_allocate(size);
      REQUIRE(p != nullptr);
      std::memset(p, 1, size);
      blocks.push_back(p);
    }
    free_all(heap, blocks);
    void* huge = heap.try_allocate(3 * MiB);
    REQUIRE(huge != nullptr);
    std::memset(huge, 1, 3 * MiB);
    heap.deallocate(huge);
    heap.collect(true);
    exhaust(heap, region, 16 * KiB, blocks);
    free_all(heap, blocks);
    void* zeroed = heap.allocate_zeroed(100 * KiB);
    CHECK(zeroed != nullptr);
    heap.deallocate(zeroed);
    heap.collect(true);
  }
  INFO("Static workload: " << os_calls() - before_static << " OS calls");
  CHECK(os_calls() == before_static);
  CHECK(region.used_bytes() == 0);

  // And over a SpanBase: no OS call either (the test's own list of blocks
  // is made large enough before counting).
  std::vector<void*> span_blocks;
  span_blocks.reserve(span_bytes / 64 + 16);
  const std::size_t before_span = os_calls();
  {
    ferroc::SpanBase span{span_buffer, sizeof span_buffer};
    {
      ferroc::Arenas arenas{span};
      ferroc::Context cx{arenas};
      ferroc::Heap heap{cx};
      std::vector<void*>& blocks = span_blocks;
      exhaust(heap, span, 64, blocks);
      free_all(heap, blocks);
      exhaust(heap, span, ferroc::detail::medium_block_max, blocks);
      free_all(heap, blocks);
    }
    CHECK(span.used_bytes() == 0);
  }
  INFO("SpanBase workload: " << os_calls() - before_span << " OS calls");
  CHECK(os_calls() == before_span);
#else
  WARN("built with ThreadSanitizer or for Windows: OS calls are not counted");
#endif
}

// ---- a user-defined base ---------------------------------------------------

namespace {

// What the counting base saw; shared by its copies (Arenas holds a copyable
// base by value).
struct BaseLedger {
  std::mutex mutex;
  std::map<void*, std::size_t> live; // chunk -> size, as handed out
  std::size_t allocations = 0;
  std::size_t deallocations = 0;
  std::size_t bytes_taken = 0;
  std::size_t bytes_returned = 0;
  std::size_t mismatches = 0; // deallocate with a pointer or size never handed out
  std::size_t misaligned = 0;
};

// A BaseAlloc written by a user: counts every call, then forwards to
// OsAlloc. It declares no decommit capability.
struct CountingBase {
  static constexpr bool is_zeroed = ferroc::OsAlloc::is_zeroed;

  BaseLedger* ledger;
  ferroc::OsAlloc inner{};

  void* allocate(std::size_t size, std::size_t align) noexcept {
    void* p = inner.allocate(size, align);
    if (p != nullptr) {
      const std::lock_guard lock{ledger->mutex};
      ++ledger->allocations;
      ledger->bytes_taken += size;
      ledger->live.emplace(p, size);
      ledger->misaligned += ferroc_test::is_aligned(p, align) ? 0 : 1;
    }
    return p;
  }

  void deallocate(void* p, std::size_t size) noexcept {
    {
      const std::lock_guard lock{ledger->mutex};
      ++ledger->deallocations;
      ledger->bytes_returned += size;
      const auto it = ledger->live.find(p);
      if (it == ledger->live.end() || it->second != size) {
        ++ledger->mismatches;
      } else {
        ledger->live.erase(it);
      }
    }
    inner.deallocate(p, size);
  }
};

static_assert(ferroc::BaseAlloc<CountingBase>);

// Huge blocks that still fit an arena's slots (5 MiB by default; half an
// arena when arenas are smaller than 10 MiB).
constexpr std::size_t mixed_huge_size = std::min(5 * MiB, ferroc::detail::arena_size / 2);

void run_mixed_workload(ferroc::Heap<CountingBase>& heap, std::vector<void*>& keep) {
  ferroc_test::Rng rng(42);
  std::vector<void*> blocks;
  for (int i = 0; i < 5000; ++i) {
    std::size_t size = rng.log_uniform(1, 16 * KiB);
    if (i % 500 == 0) {
      size = mixed_huge_size;
    } else if (i % 100 == 0) {
      size = 600 * KiB;
    }
    void* p = heap.try_allocate(size);
    REQUIRE(p != nullptr);
    std::memset(p, 0xEE, size);
    (i % 10 == 0 ? keep : blocks).push_back(p);
  }
  for (void* p : blocks) {
    heap.deallocate(p);
  }
}

} // namespace

TEST_CASE("a user-defined base sees balanced calls", "[static][base]") {
  BaseLedger ledger;
  {
    ferroc::Arenas arenas{CountingBase{&ledger}};
    static_assert(std::is_same_v<decltype(arenas), ferroc::Arenas<CountingBase>>);
    CHECK(arenas.base().ledger == &ledger);
    std::vector<void*> kept;
    {
      ferroc::Context cx{arenas};
      ferroc::Heap heap{cx};
      run_mixed_workload(heap, kept);
      heap.collect(true);
    }
    // A second thread frees what the dead heap left behind, then a new heap
    // reclaims the abandoned segments. (Single-threaded: the same frees
    // from this thread, through the same not-the-owner path.)
    auto free_kept = [&] {
      for (void* p : kept) {
        arenas.deallocate(p);
      }
    };
#if FERROC_SINGLE_THREADED
    free_kept();
#else
    std::thread(free_kept).join();
#endif
    kept.clear();
    {
      ferroc::Context cx{arenas};
      ferroc::Heap heap{cx};
      heap.collect(true);
      run_mixed_workload(heap, kept);
      for (void* p : kept) {
        heap.deallocate(p);
      }
      heap.collect(true);
    }
    CHECK(arenas.segments_in_use() == 0);
    CHECK(ledger.allocations > 0);
  }
  CHECK(ledger.allocations > 0);
  CHECK(ledger.mismatches == 0);
  CHECK(ledger.misaligned == 0);
  CHECK(ledger.deallocations == ledger.allocations);
  CHECK(ledger.bytes_returned == ledger.bytes_taken);
  CHECK(ledger.live.empty());
}

TEST_CASE("destroying the arenas returns everything to the base", "[static][base]") {
  // Even blocks the program never freed: the arenas own all their memory.
  BaseLedger ledger;
  {
    ferroc::Arenas arenas{CountingBase{&ledger}};
    ferroc::Context cx{arenas};
    ferroc::Heap heap{cx};
    std::vector<void*> kept;
    run_mixed_workload(heap, kept);
    CHECK_FALSE(kept.empty()); // leaked on purpose
  }
  CHECK(ledger.allocations > 0);
  CHECK(ledger.mismatches == 0);
  CHECK(ledger.deallocations == ledger.allocations);
  CHECK(ledger.bytes_returned == ledger.bytes_taken);
  CHECK(ledger.live.empty());

  static Region region;
  {
    ferroc::Arenas arenas{region};
    ferroc::Context cx{arenas};
    ferroc::Heap heap{cx};
    for (int i = 0; i < 100; ++i) {
      CHECK(heap.try_allocate(static_cast<std::size_t>(i) * 100) != nullptr); // leaked on purpose
    }
    CHECK(region.used_bytes() > 0);
  }
  CHECK(region.used_bytes() == 0);
}
