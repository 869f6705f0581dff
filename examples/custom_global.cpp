// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// A global allocator of your own over a fixed region: `ferroc::Global<ferroc::Static<N>>` owns
// N bytes of static memory and never asks the OS for more, yet gives every thread its own heap,
// like the default allocator does. This is the C++ form of the Rust crate's `config!` macro.
//
// The example runs worker threads that allocate and free through the region's allocator (raw
// calls, a std::vector on its allocator<T>, a pmr string on its memory resource), checks that
// every block lies in the region, then fills the region until it says no, frees everything and
// shows that the memory serves again. Returns nonzero on a wrong result.
//
//   custom_global [threads] [blocks]     (defaults: 2 threads, 10000 blocks each)
#include <ferroc/ferroc.hpp>

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory_resource>
#include <new>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "example_util.hpp"

namespace {

// A tag keeps this allocator apart from any other Global over the same base type.
struct RegionTag {};

// 16 MiB: after paying for alignment that is three 4 MiB segments. A thread's heap takes a
// segment for each kind of page it uses (small blocks up to 16 KiB, medium, large), so the
// workers below keep to small blocks: two of them fit beside the main thread.
constexpr std::size_t region_size = std::size_t{1} << 24;
using Region =
    ferroc::Global<ferroc::Static<region_size>, ferroc::ThreadExit::pthread_key, RegionTag>;

// The standard-library front doors of that allocator.
template <class T> using RegionAllocator = ferroc::global_allocator<T, Region>;
std::pmr::memory_resource* region_resource() {
  return &ferroc::global_resource<Region>::instance();
}

// True when [p, p + size) lies inside the region that Region owns.
bool in_region(void const* p, std::size_t size) {
  auto const& base = Region::arenas().base();
  auto const lo = reinterpret_cast<std::uintptr_t>(&base);
  auto const addr = reinterpret_cast<std::uintptr_t>(p);
  return addr >= lo && addr + size <= lo + sizeof(base);
}

std::uint8_t pattern(std::size_t block, std::size_t offset) {
  return static_cast<std::uint8_t>(block * 37 + offset);
}

// One worker: raw blocks of assorted small sizes, a vector and a pmr string. Counts problems.
std::size_t worker(std::size_t id, std::size_t blocks) try {
  std::size_t problems = 0;
  std::vector<void*> live; // bookkeeping on the default allocator, not the region
  live.reserve(blocks);
  for (std::size_t i = 0; i < blocks; ++i) {
    std::size_t const size = 16 + (i * 7 + id) % 241;
    auto* p = static_cast<std::uint8_t*>(Region::try_allocate(size));
    if (p == nullptr || !in_region(p, size)) {
      ++problems;
      continue;
    }
    for (std::size_t k = 0; k < size; ++k)
      p[k] = pattern(i, k);
    live.push_back(p);
  }
  std::size_t i = 0;
  for (void* v : live) {
    auto const* p = static_cast<std::uint8_t const*>(v);
    std::size_t const size = 16 + (i * 7 + id) % 241;
    for (std::size_t k = 0; k < size; ++k)
      problems += p[k] != pattern(i, k) ? 1 : 0;
    Region::deallocate(v);
    ++i;
  }

  // At most 1024 elements: the vector's buffer stays a small block (8 KiB).
  std::vector<std::uint64_t, RegionAllocator<std::uint64_t>> numbers;
  for (std::uint64_t n = 0; n < blocks && n < 1024; ++n)
    numbers.push_back(n * n);
  if (!numbers.empty() && !in_region(numbers.data(), numbers.size() * sizeof(std::uint64_t)))
    ++problems;
  for (std::uint64_t n = 0; n < numbers.size(); ++n)
    problems += numbers[n] != n * n ? 1 : 0;

  std::pmr::string text(200, 'r', region_resource());
  text += " and some more";
  if (!in_region(text.data(), text.size()) || text.compare(200, 14, " and some more") != 0)
    ++problems;
  return problems;
} catch (std::bad_alloc const&) {
  // RegionAllocator and the region's memory resource throw when the region is full.
  return 1;
}

} // namespace

int main(int argc, char** argv) {
  std::size_t threads = 2;
  std::size_t blocks = 10000;
  if ((argc > 1 && !example::parse(argv[1], 1, 2, threads)) ||
      (argc > 2 && !example::parse(argv[2], 1, 20000, blocks))) {
    // The limits keep each worker within one segment of small pages (see Region).
    std::fprintf(stderr, "usage: custom_global [threads: 1..2] [blocks: 1..20000]\n");
    return 2;
  }

  int failures = 0;
  auto check = [&failures](bool ok, char const* what) {
    if (!ok) {
      std::fprintf(stderr, "custom_global: FAILED: %s\n", what);
      ++failures;
    }
  };

  // 1. Threads, each with its own heap over the shared region.
  std::vector<std::size_t> problems(threads);
  std::vector<std::thread> pool;
  for (std::size_t t = 0; t < threads; ++t)
    pool.emplace_back([t, blocks, &problems] { problems[t] = worker(t, blocks); });
  for (auto& th : pool)
    th.join();
  std::size_t total_problems = 0;
  for (std::size_t p : problems)
    total_problems += p;
  check(total_problems == 0, "a worker saw a wrong block");
  std::printf("custom_global: %zu threads x %zu blocks, all inside the %zu MiB region\n", threads,
              blocks, region_size >> 20);

  // 2. The region is a hard limit: fill it with 32 KiB blocks until allocation fails.
  std::size_t const block = 32 * 1024;
  std::vector<void*> filled;
  for (;;) {
    void* p = Region::try_allocate(block);
    if (p == nullptr)
      break;
    check(in_region(p, block), "a block outside the region");
    std::memset(p, 0xC3, block);
    filled.push_back(p);
  }
  std::size_t const first_fill = filled.size();
  check(first_fill > 0, "no 32 KiB block fitted");
  check(first_fill * block <= region_size, "more bytes handed out than the region holds");
  // The typed front door reports the same exhaustion as std::bad_alloc.
  bool threw = false;
  try {
    std::vector<char, RegionAllocator<char>> big;
    big.reserve(region_size);
  } catch (std::bad_alloc const&) {
    threw = true;
  }
  check(threw, "RegionAllocator did not throw std::bad_alloc when the region was full");

  // 3. Free it all, collect, and the memory serves again.
  for (void* p : filled)
    Region::deallocate(p);
  filled.clear();
  Region::collect(/*force=*/true);
  for (;;) {
    void* p = Region::try_allocate(block);
    if (p == nullptr)
      break;
    filled.push_back(p);
  }
  check(filled.size() >= first_fill, "freed memory did not all come back");
  for (void* p : filled)
    Region::deallocate(p);
  Region::collect(/*force=*/true);
  std::printf("custom_global: the region held %zu blocks of 32 KiB, then %zu again after a "
              "collect\n",
              first_fill, filled.size());

  // The default allocator is unaffected by all this.
  void* d = ferroc::DefaultGlobal::try_allocate(block);
  check(d != nullptr && !in_region(d, block), "the default allocator used the region");
  ferroc::DefaultGlobal::deallocate(d);
  return failures == 0 ? 0 : 1;
}
