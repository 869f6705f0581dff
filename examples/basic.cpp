// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// The generic trio: an Arenas shared by all threads, and one Context and one Heap per thread.
// Allocates by hand, through a std::vector bound to the heap, then runs the delayed clean-up.
// Returns nonzero if any result is wrong.
//
//   basic [count]     (count: how many ints to push into the vector; default 1000)
#include <ferroc/ferroc.hpp>

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>
#include <numeric>
#include <string_view>
#include <vector>

namespace {

int fail(const char* what) {
  std::fprintf(stderr, "basic: FAILED: %s\n", what);
  return 1;
}

} // namespace

int main(int argc, char** argv) {
  long count = 1000;
  if (argc > 1) {
    const std::string_view arg(argv[1]);
    const auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), count);
    if (ec != std::errc{} || end != arg.data() + arg.size() || count < 0 || count > 100'000'000) {
      std::fprintf(stderr, "usage: basic [count]\n");
      return 2;
    }
  }

  ferroc::Arenas arenas{ferroc::OsAlloc{}}; // thread-safe: share it between threads
  ferroc::Context cx{arenas};               // one per thread
  ferroc::Heap heap{cx};                    // one per thread

  // Manual allocation: 100 bytes, 64-byte aligned.
  void* raw = heap.try_allocate(100, 64);
  if (raw == nullptr) {
    return fail("allocate(100, 64) returned null");
  }
  if (reinterpret_cast<std::uintptr_t>(raw) % 64 != 0) {
    return fail("allocate(100, 64) is not 64-byte aligned");
  }
  if (heap.usable_size(raw) < 100) {
    return fail("usable_size is below the requested size");
  }
  std::memset(raw, 0xab, 100);
  heap.deallocate(raw);

  // A standard container whose memory comes from this heap; like std::allocator, its
  // allocator throws std::bad_alloc when the heap has no memory left.
  long long sum = 0;
  try {
    std::vector<int, ferroc::heap_allocator<int, ferroc::OsAlloc>> numbers{heap};
    for (long i = 1; i <= count; ++i) {
      numbers.push_back(static_cast<int>(i));
    }
    sum = std::accumulate(numbers.begin(), numbers.end(), 0LL);
  } catch (const std::bad_alloc&) {
    return fail("out of memory");
  }
  const long long expected = static_cast<long long>(count) * (count + 1) / 2;
  if (sum != expected) {
    return fail("the vector's sum is wrong");
  }

  // Run delayed clean-up now (force: also give free memory back to the OS).
  heap.collect(/*force=*/true);

  std::printf("basic: %ld ints summed to %lld through a ferroc heap\n", count, sum);
  return 0;
}
