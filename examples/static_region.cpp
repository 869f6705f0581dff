// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// A heap bound to a fixed region: `Static<N>` holds N bytes inside itself and never calls the
// OS, as on bare metal. The heap fills the region until allocation fails, frees everything,
// fills it again (all of it is reusable), then fills it with blocks of another size (freed
// pages serve other size classes after a forced collect). Returns nonzero on a wrong result.
//
//   static_region [block_size]     (default 1024 bytes)
#include <ferroc/ferroc.hpp>

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string_view>

namespace {

// 16 MiB of memory in static storage: the only memory this heap will ever use.
ferroc::Static<1 << 24> region;

// Allocated blocks are chained through their first bytes, so no other memory is needed to
// remember them; the rest of each block holds a pattern checked before it is freed.
struct Node {
  Node* next;
  std::size_t index;
};

std::uint8_t pattern(std::size_t index, std::size_t offset) {
  return static_cast<std::uint8_t>(index * 31 + offset);
}

struct Round {
  std::size_t blocks = 0;
  bool intact = true;
};

// Allocates blocks of `size` bytes until the heap says no, checks and frees them all.
template <class Heap> Round fill_and_free(Heap& heap, std::size_t size) {
  Round round;
  Node* head = nullptr;
  for (;;) {
    void* p = heap.try_allocate(size);
    if (p == nullptr) {
      break;
    }
    auto* bytes = static_cast<std::uint8_t*>(p);
    for (std::size_t i = sizeof(Node); i < size; ++i) {
      bytes[i] = pattern(round.blocks, i);
    }
    head = new (p) Node{head, round.blocks};
    ++round.blocks;
  }
  // Blocks come back newest first: indices count down from blocks - 1.
  std::size_t expected = round.blocks;
  while (head != nullptr) {
    Node* next = head->next;
    --expected;
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(head);
    bool ok = head->index == expected;
    for (std::size_t i = sizeof(Node); ok && i < size; ++i) {
      ok = bytes[i] == pattern(head->index, i);
    }
    round.intact = round.intact && ok;
    heap.deallocate(head);
    head = next;
  }
  return round;
}

} // namespace

int main(int argc, char** argv) {
  std::size_t size = 1024;
  if (argc > 1) {
    const std::string_view arg(argv[1]);
    const auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), size);
    if (ec != std::errc{} || end != arg.data() + arg.size() || size < sizeof(Node) ||
        size > (1U << 20)) {
      std::fprintf(stderr, "usage: static_region [block_size: %zu..1048576]\n", sizeof(Node));
      return 2;
    }
  }

  ferroc::Arenas arenas{region}; // the region is used by reference, never copied
  ferroc::Context cx{arenas};
  ferroc::Heap heap{cx};

  const Round first = fill_and_free(heap, size);
  heap.collect(/*force=*/true);
  const Round second = fill_and_free(heap, size);
  heap.collect(/*force=*/true);
  const std::size_t other_size = size >= 4096 ? size / 4 : size * 4;
  const Round third = fill_and_free(heap, other_size);
  heap.collect(/*force=*/true);

  std::printf("static_region: %zu-byte region, %zu bytes taken from it\n", region.capacity(),
              region.used_bytes());
  std::printf("static_region: %zu blocks of %zu B, then %zu again, then %zu blocks of %zu B\n",
              first.blocks, size, second.blocks, third.blocks, other_size);

  int failures = 0;
  auto check = [&failures](bool ok, const char* what) {
    if (!ok) {
      std::fprintf(stderr, "static_region: FAILED: %s\n", what);
      ++failures;
    }
  };
  check(first.intact && second.intact && third.intact, "a block's contents changed while live");
  check(first.blocks > 0, "no block could be allocated");
  check(first.blocks * size <= region.capacity(), "more bytes handed out than the region has");
  check(second.blocks >= first.blocks, "freed blocks were not all reusable");
  // Blocks of another size class need the freed pages back: allow a little extra waste.
  check(third.blocks * other_size >= first.blocks * size / 4 * 3,
        "freed pages were not reused for another block size");
  check(region.used_bytes() <= region.capacity(), "used_bytes exceeds the capacity");
  return failures == 0 ? 0 : 1;
}
