// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// A heap in 256 KiB of static memory, as on a microcontroller: the embedded
// configuration (examples/CMakeLists.txt builds it so) has 64 KiB segments
// with 4 KiB small and 16 KiB medium pages, is single-threaded (no TLS, no
// atomics) and has no exceptions and no RTTI. The heap allocates blocks
// until the region is full, frees them all, allocates the same amount
// again and checks every block's contents; then a std::pmr container and
// blocks of every page kind share the region. Returns nonzero on a wrong
// result.
//
//   embedded [block_size]     (default 100 bytes, 16..32768)
#include <ferroc/ferroc.hpp>

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory_resource>
#include <new>
#include <string_view>

namespace {

// The only memory the heap will ever use. Aligned to the segment size, all
// four 64 KiB segments of it are usable (unaligned, three). Windows object
// files align data to 8 KiB at most: there the region is one segment larger
// instead, for the same four.
#if defined(_WIN32)
constexpr std::size_t region_size = 256 * 1024 + ferroc::detail::segment_size;
alignas(8192) std::byte memory[region_size];
#else
constexpr std::size_t region_size = 256 * 1024;
alignas(ferroc::detail::segment_size) std::byte memory[region_size];
#endif

// constinit: the region's bookkeeping needs no code at start-up.
constinit ferroc::SpanBase region{memory, region_size};

// Blocks are chained through their first bytes, so remembering them takes no
// other memory; the rest of each block holds a pattern checked before it is
// freed.
struct Node {
  Node* next;
  std::size_t index;
};

std::uint8_t pattern(std::size_t index, std::size_t offset) {
  return static_cast<std::uint8_t>(index * 31 + offset);
}

struct Fill {
  Node* head = nullptr;
  std::size_t blocks = 0;
};

template <class Heap> Fill fill(Heap& heap, std::size_t size) {
  Fill f;
  while (void* p = heap.try_allocate(size)) {
    auto* bytes = static_cast<std::uint8_t*>(p);
    for (std::size_t i = sizeof(Node); i < size; ++i) {
      bytes[i] = pattern(f.blocks, i);
    }
    f.head = new (p) Node{f.head, f.blocks};
    ++f.blocks;
  }
  return f;
}

// Checks and frees every block of `f`; false if one changed while live.
template <class Heap> bool check_and_free(Heap& heap, Fill f, std::size_t size) {
  bool intact = true;
  std::size_t expected = f.blocks;
  for (Node* n = f.head; n != nullptr;) {
    Node* next = n->next;
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(n);
    intact = intact && n->index == --expected;
    for (std::size_t i = sizeof(Node); intact && i < size; ++i) {
      intact = bytes[i] == pattern(n->index, i);
    }
    heap.deallocate(n);
    n = next;
  }
  return intact && expected == 0;
}

int failures = 0;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "embedded: FAILED: %s\n", what);
    ++failures;
  }
}

} // namespace

int main(int argc, char** argv) {
  std::size_t size = 100;
  if (argc > 1) {
    const std::string_view arg(argv[1]);
    const auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), size);
    if (ec != std::errc{} || end != arg.data() + arg.size() || size < sizeof(Node) ||
        size > ferroc::detail::large_block_max) {
      std::fprintf(stderr, "usage: embedded [block_size: %zu..%zu]\n", sizeof(Node),
                   ferroc::detail::large_block_max);
      return 2;
    }
  }

  ferroc::Arenas arenas{region}; // the region is used by reference
  ferroc::Context cx{arenas};
  ferroc::Heap heap{cx};

  // Until full, free everything, and the same amount again.
  const Fill first = fill(heap, size);
  const std::size_t used_when_full = region.used_bytes();
  check(check_and_free(heap, first, size), "a block's contents changed while live");
  heap.collect(/*force=*/true);
  const Fill second = fill(heap, size);
  check(check_and_free(heap, second, size), "a reused block's contents changed while live");
  heap.collect(/*force=*/true);

  std::printf("embedded: %zu-byte region in %zu-byte segments (%zu-byte header each)\n",
              region.capacity(), ferroc::detail::segment_size, ferroc::detail::segment_header_size);
  std::printf("embedded: %zu blocks of %zu B until full: %zu bytes (%.1f %% of the region)\n",
              first.blocks, size, first.blocks * size,
              100.0 * static_cast<double>(first.blocks * size) / region_size);
  std::printf("embedded: after freeing them all, %zu blocks again\n", second.blocks);
  check(first.blocks > 0, "no block could be allocated");
  check(second.blocks == first.blocks, "freed memory was not all reusable");
  check(used_when_full <= region.capacity(), "the heap took more than the region");

  // A standard container on the same heap, beside blocks of every kind.
  {
    ferroc::heap_resource resource{heap};
    std::pmr::vector<std::uint32_t> samples{&resource};
    for (std::uint32_t i = 0; i < 2000; ++i) {
      samples.push_back(i * 3);
    }
    void* small = heap.try_allocate(24);
    void* medium = heap.try_allocate(2000);
    void* large = heap.try_allocate(20000);
    check(samples[1999] == 5997 && small != nullptr && medium != nullptr && large != nullptr,
          "a container and blocks of every kind do not fit together");
    std::printf("embedded: a pmr vector of %zu samples beside small, medium and large blocks\n",
                samples.size());
    heap.deallocate(small);
    heap.deallocate(medium);
    heap.deallocate(large);
  }
  heap.collect(/*force=*/true);
  check(region.used_bytes() <= region_size, "used_bytes exceeds the capacity");
  return failures == 0 ? 0 : 1;
}
