// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// big_alloc: large blocks, 64 KiB to 16 MiB, grown and shrunk with realloc,
// their contents checked: the path where allocators go to the operating
// system (mmap, mremap, page faults) or keep big spans cached.
//
// The threads share 16 slots between them (at least one each). A step picks
// one of the thread's slots: an empty one gets a new block; a full one has its
// block resized with realloc to a new random size (half the time) or freed.
// Sizes are log-uniform over 64 KiB-16 MiB. Every block gets a word written
// into each 4 KiB page (so every page is really touched) and realloc is
// checked to have kept the words of the part that stays.
//
// Work: scale x 50 steps split among the threads. Full scale: 60 (about 2 s
// with glibc malloc on 2 threads). ops = malloc and realloc calls.

#include "workload.hpp"

namespace {

using namespace workload;

constexpr Info info{"big_alloc",
                    "large blocks (64 KiB-16 MiB) allocated, grown and shrunk with realloc and "
                    "freed, every page written and checked",
                    "malloc and realloc calls", 60};

constexpr std::uint64_t steps_per_scale = 50;
constexpr std::size_t total_slots = 16;
constexpr std::size_t page = 4096;
constexpr std::size_t min_size = std::size_t{64} << 10U;

/// Log-uniform over [64 KiB, 16 MiB).
std::size_t random_size(Rng& rng) {
  std::size_t const base = min_size << rng.below(8);
  return base + rng.below(base);
}

inline std::uint64_t page_word(std::uint64_t key, std::size_t offset) {
  return key ^ (offset * 0x9E3779B97F4A7C15ULL);
}

/// Writes the word of every page of [0, size) whose word did not fit below
/// `from` (the words of the pages before are already there).
void stamp_pages(void* p, std::size_t from, std::size_t size, std::uint64_t key) {
  auto* const bytes = static_cast<char*>(p);
  std::size_t const first = from >= 8 ? from - 7 : 0; // first offset whose word ends past `from`
  for (std::size_t off = (first + page - 1) / page * page; off + 8 <= size; off += page)
    store_word(bytes + off, page_word(key, off));
}

/// Checks the words of the pages in [0, size).
void check_pages(void const* p, std::size_t size, std::uint64_t key, char const* what) {
  auto const* const bytes = static_cast<char const*>(p);
  for (std::size_t off = 0; off + 8 <= size; off += page) {
    if (load_word(bytes + off) != page_word(key, off)) [[unlikely]] {
      fail("big_alloc: %s: block %p of %zu bytes differs at byte %zu", what, p, size, off);
      return;
    }
  }
}

struct Slot {
  void* p = nullptr;
  std::size_t size = 0;
  std::uint64_t key = 0;
};

} // namespace

int main(int argc, char** argv) {
  Args const args = parse_args(info, argc, argv);
  unsigned const threads = args.threads;
  std::uint64_t const steps = steps_per_scale * args.scale;
  std::size_t const slots = total_slots / threads > 0 ? total_slots / threads : 1;
  std::atomic<std::uint64_t> ops{0};

  Stopwatch watch;
  run_threads(threads, [&](unsigned index) {
    Tally tally;
    Rng rng(seed(11, index));
    std::vector<Slot> slot(slots);
    std::uint64_t calls = 0;
    std::uint64_t const mine = share(steps, threads, index);
    for (std::uint64_t n = 0; n < mine; ++n) {
      Slot& s = slot[rng.below(slots)];
      if (s.p == nullptr) {
        s.size = random_size(rng);
        s.key = rng.next();
        s.p = checked_malloc(s.size, tally);
        stamp_pages(s.p, 0, s.size, s.key);
        ++calls;
      } else if (rng.chance(1, 2)) {
        std::size_t const old_size = s.size;
        s.size = random_size(rng);
        s.p = checked_realloc(s.p, s.size);
        check_pages(s.p, old_size < s.size ? old_size : s.size, s.key, "after realloc");
        stamp_pages(s.p, old_size, s.size, s.key);
        ++calls;
      } else {
        check_pages(s.p, s.size, s.key, "before free");
        checked_free(s.p, tally);
        s.p = nullptr;
      }
    }
    for (Slot& s : slot) {
      if (s.p != nullptr) {
        check_pages(s.p, s.size, s.key, "before free");
        checked_free(s.p, tally);
      }
    }
    // relaxed: read after the join.
    ops.fetch_add(calls, std::memory_order_relaxed);
  });
  double const seconds = watch.seconds();
  return finish(info, args, ops.load(std::memory_order_relaxed), seconds);
}
