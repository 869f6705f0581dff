// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// The embedded configuration as ferroc_tests_small builds it: 64 KiB
// segments with 4 KiB small and 16 KiB medium pages, single-threaded, no
// exceptions, no RTTI. The geometry follows from the three shifts, a heap
// works in a 256 KiB region (and the smallest regions docs/embedded.md states),
// nothing atomic is left in the shared structures, and the C++ adapters
// fail the documented way.
#include <ferroc/ferroc.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory_resource>
#include <type_traits>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "../test_util.hpp"

#if FERROC_SEGMENT_SHIFT != 16 || FERROC_SMALL_PAGE_SHIFT != 12 || FERROC_MEDIUM_PAGE_SHIFT != 14
#error "test_embedded.cpp checks the geometry 16/12/14 (see tests/embedded/CMakeLists.txt)"
#endif

namespace {

namespace fd = ferroc::detail;
using ferroc_test::KiB;

// The options are spelled in the namespace of every name of the library.
#if FERROC_SINGLE_THREADED && FERROC_SECURE
static_assert(std::is_same_v<ferroc::Heap<ferroc::SpanBase>,
                             ferroc::g16_12_14_st_sec::Heap<ferroc::g16_12_14_st_sec::SpanBase>>);
#elif FERROC_SINGLE_THREADED
static_assert(std::is_same_v<ferroc::Heap<ferroc::SpanBase>,
                             ferroc::g16_12_14_st::Heap<ferroc::g16_12_14_st::SpanBase>>);
#elif FERROC_SECURE
static_assert(std::is_same_v<ferroc::Heap<ferroc::SpanBase>,
                             ferroc::g16_12_14_sec::Heap<ferroc::g16_12_14_sec::SpanBase>>);
#else
static_assert(std::is_same_v<ferroc::Heap<ferroc::SpanBase>,
                             ferroc::g16_12_14::Heap<ferroc::g16_12_14::SpanBase>>);
#endif

bool in_buffer(const void* buffer, std::size_t length, const void* p, std::size_t size) {
  const auto first = reinterpret_cast<std::uintptr_t>(buffer);
  const auto at = reinterpret_cast<std::uintptr_t>(p);
  return at >= first && at + size <= first + length;
}

// Allocates blocks of `size` until the heap says no; every block lies in
// the buffer and keeps its pattern. Frees them all again and returns the
// count.
template <class Heap>
std::size_t fill_and_free(Heap& heap, const void* buffer, std::size_t length, std::size_t size) {
  std::vector<void*> blocks;
  blocks.reserve(length / size + 16);
  for (std::size_t i = 0; i < length / size + 16; ++i) {
    void* p = heap.try_allocate(size);
    if (p == nullptr) {
      break;
    }
    CHECK(in_buffer(buffer, length, p, size));
    ferroc_test::fill_pattern(p, size, i);
    blocks.push_back(p);
  }
  CHECK(blocks.size() < length / size + 16); // it did run out
  std::size_t intact = 0;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    intact += ferroc_test::check_pattern(blocks[i], size, i) ? 1 : 0;
    heap.deallocate(blocks[i]);
  }
  CHECK(intact == blocks.size());
  heap.collect(true);
  return blocks.size();
}

constexpr std::size_t region_size = 256 * KiB;
alignas(fd::segment_size) std::byte region[region_size];

} // namespace

TEST_CASE("the small geometry follows from the three shifts", "[embedded]") {
  CHECK(fd::segment_size == 64 * KiB);
  CHECK(fd::max_pages_per_segment == 16);
  CHECK(fd::small_block_max == 512);
  CHECK(fd::medium_block_max == 2 * KiB);
  CHECK(fd::large_block_max == 32 * KiB);
  CHECK(fd::arena_size == 4096 * KiB);
  CHECK(fd::page_area_align == 256);
  // The per-segment overhead is the header: a descriptor per small page,
  // rounded up to the page-area alignment; it leaves most of the first page.
  CHECK(fd::segment_header_size == fd::align_up(sizeof(fd::Segment), fd::page_area_align));
  CHECK(fd::segment_header_size <= fd::small_page_size / 2);
  std::printf("small geometry: segment header %zu bytes (%zu-byte Segment, %zu-byte Page), "
              "Arenas %zu bytes, Heap %zu bytes\n",
              fd::segment_header_size, sizeof(fd::Segment), sizeof(fd::Page),
              sizeof(ferroc::Arenas<ferroc::SpanBase>), sizeof(ferroc::Heap<ferroc::SpanBase>));
  // 16-byte blocks still exist, and every class boundary is exact.
  CHECK(fd::class_size(fd::size_class_of(1)) == 16);
  CHECK(fd::class_size(fd::size_class_of(fd::large_block_max)) == fd::large_block_max);
}

#if FERROC_SINGLE_THREADED
TEST_CASE("single-threaded: the shared structures use no atomic instruction", "[embedded]") {
  static_assert(fd::single_threaded);
  static_assert(!fd::atomic<int>::atomic_instructions);
  static_assert(!decltype(fd::Page::xthread_free)::atomic_instructions);
  static_assert(!decltype(fd::Page::xheap)::atomic_instructions);
  static_assert(!decltype(fd::Page::xowner_flags)::atomic_instructions);
  static_assert(!decltype(fd::DelayedFreeList::xhead)::atomic_instructions);
  static_assert(!decltype(fd::Segment::xowner)::atomic_instructions);
  static_assert(!std::is_same_v<fd::atomic_ref<std::uint64_t>, std::atomic_ref<std::uint64_t>>);
  // The plain stand-in keeps std::atomic's behaviour for one thread.
  fd::atomic<std::uintptr_t> word{6};
  std::uintptr_t expected = 5;
  CHECK_FALSE(
      word.compare_exchange_weak(expected, 9, fd::memory_order_acq_rel, fd::memory_order_relaxed));
  CHECK(expected == 6);
  CHECK(word.compare_exchange_strong(expected, 9));
  CHECK(word.fetch_or(16) == 9);
  CHECK(word.fetch_and(~std::uintptr_t{1}) == 25);
  CHECK(word.fetch_add(2) == 24);
  CHECK(word.fetch_sub(6) == 26);
  CHECK(word.exchange(1) == 20);
  CHECK(word.load() == 1);
}
#endif

TEST_CASE("a heap fills a 256 KiB region, frees it and fills it again", "[embedded]") {
  ferroc::SpanBase span{region, region_size};
  {
    ferroc::Arenas arenas{span};
    ferroc::Context cx{arenas};
    ferroc::Heap heap{cx};
    // One size of each kind: small, medium, large, and huge (two segments).
    for (const std::size_t size : {std::size_t{16}, std::size_t{100}, std::size_t{512},
                                   std::size_t{2000}, 24 * KiB, 40 * KiB}) {
      INFO("block size " << size);
      const std::size_t first = fill_and_free(heap, region, region_size, size);
      CHECK(first > 0);
      // All four segments serve one size: at most the header and the rest
      // of a page or segment that no block fits are lost. (A block takes
      // its size class; in checked mode, of the size plus the trailer, in
      // secure mode plus the canary.)
      const std::size_t request =
          fd::canaries ? fd::with_canary(size) : fd::instrumented_request(size);
      const std::size_t footprint = fd::class_size(fd::size_class_of(request));
      if (footprint <= fd::large_block_max) {
        CHECK(first * footprint >= region_size / 2);
      }
      CHECK(fill_and_free(heap, region, region_size, size) == first);
    }
    // Small, medium and large blocks at once take three segments.
    void* small = heap.try_allocate(16);
    void* medium = heap.try_allocate(fd::medium_block_max);
    void* large = heap.try_allocate(fd::large_block_max);
    CHECK((small != nullptr && medium != nullptr && large != nullptr));
    heap.deallocate(small);
    heap.deallocate(medium);
    heap.deallocate(large);
  }
  CHECK(span.used_bytes() == 0);
}

TEST_CASE("the smallest regions of the small geometry", "[embedded]") {
  // One segment aligned to its size is the smallest region that works...
  {
    ferroc::SpanBase span{region, fd::segment_size};
    ferroc::Arenas arenas{span};
    ferroc::Context cx{arenas};
    ferroc::Heap heap{cx};
    void* p = heap.try_allocate(16);
    CHECK(p != nullptr);
    // ... and serves one page kind at a time.
    CHECK(heap.try_allocate(fd::large_block_max) == nullptr);
    heap.deallocate(p);
    heap.collect(true);
    p = heap.try_allocate(fd::large_block_max);
    CHECK(p != nullptr);
    heap.deallocate(p);
  }
  // Off the segment alignment, 64 KiB hold no segment and 128 KiB one.
  {
    ferroc::SpanBase span{region + 64, fd::segment_size};
    ferroc::Arenas arenas{span};
    ferroc::Context cx{arenas};
    ferroc::Heap heap{cx};
    CHECK(heap.try_allocate(16) == nullptr);
  }
  {
    ferroc::SpanBase span{region + 64, 2 * fd::segment_size};
    ferroc::Arenas arenas{span};
    ferroc::Context cx{arenas};
    ferroc::Heap heap{cx};
    void* p = heap.try_allocate(16);
    CHECK(p != nullptr);
    heap.deallocate(p);
  }
  // Small, medium and large blocks at once: three segments (four when the
  // region is not aligned).
  for (const std::size_t offset : {std::size_t{0}, std::size_t{64}}) {
    ferroc::SpanBase span{region + offset, (offset == 0 ? 3 : 4) * fd::segment_size - offset};
    ferroc::Arenas arenas{span};
    ferroc::Context cx{arenas};
    ferroc::Heap heap{cx};
    void* small = heap.try_allocate(16);
    void* medium = heap.try_allocate(fd::medium_block_max);
    void* large = heap.try_allocate(fd::large_block_max);
    CHECK((small != nullptr && medium != nullptr && large != nullptr));
    heap.deallocate(small);
    heap.deallocate(medium);
    heap.deallocate(large);
  }
}

TEST_CASE("heap_resource and heap_allocator without exceptions or RTTI", "[embedded]") {
  ferroc::SpanBase span{region, region_size};
  ferroc::Arenas arenas{span};
  ferroc::Context cx{arenas};
  ferroc::Heap heap{cx};
  ferroc::Context other_cx{arenas};
  ferroc::Heap other_heap{other_cx};
  {
    ferroc::heap_resource resource{heap};
    ferroc::heap_resource other{other_heap};
    std::pmr::vector<int> numbers{&resource};
    for (int i = 0; i < 1000; ++i) {
      numbers.push_back(i);
    }
    CHECK(numbers[999] == 999);
    CHECK(resource.is_equal(resource));
    // With RTTI, resources over heaps of the same Arenas are equal; without
    // it, a resource equals only itself.
    CHECK(resource.is_equal(other) == (FERROC_HAS_RTTI != 0));

    std::vector<long, ferroc::heap_allocator<long, ferroc::SpanBase>> longs{heap};
    longs.assign(500, 7L);
    CHECK(longs.back() == 7L);
  }
  heap.collect(true);
}

#if !FERROC_HAS_EXCEPTIONS
namespace {

// Runs `f` in a child process whose terminate handler exits with a code of
// its own; true when `f` ended in std::terminate().
template <class F> bool terminates(F f) {
  constexpr int terminated = 42;
  std::fflush(nullptr);
  const pid_t child = fork();
  if (child == 0) {
    std::set_terminate([] { _exit(terminated); });
    f();
    _exit(0);
  }
  int status = 0;
  if (child < 0 || waitpid(child, &status, 0) != child) {
    return false;
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == terminated;
}

} // namespace

TEST_CASE("without exceptions, a failing C++ adapter calls std::terminate", "[embedded]") {
  static std::byte little[4 * KiB];
  ferroc::SpanBase span{little, sizeof little}; // too small for any segment
  ferroc::Arenas arenas{span};
  ferroc::Context cx{arenas};
  ferroc::Heap heap{cx};
  CHECK(heap.try_allocate(16) == nullptr); // the core returns nullptr, as always
  ferroc::heap_allocator<int, ferroc::SpanBase> alloc{heap};
  CHECK(terminates([&] { (void)alloc.allocate(1); }));
  CHECK(terminates([&] { (void)alloc.allocate(~std::size_t{0} / 2); })); // bad_array_new_length
  ferroc::heap_resource resource{heap};
  CHECK(terminates([&] { (void)resource.allocate(16); }));
}
#endif
