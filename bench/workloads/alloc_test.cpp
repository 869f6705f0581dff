// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// alloc_test: random sizes with a power-law distribution, reallocation, and
// a working set whose size changes, after the alloc-test of OLogN
// Technologies (the "random allocations with a changing working set" test).
//
// Each thread owns 4,096 slots, of which only the first `active` are used;
// `active` sweeps between 1/16 of the slots and all of them and back, in
// steps of 64, so the live memory grows and shrinks in waves (the slots that
// fall outside are freed). Each step picks an active slot: an empty one gets
// a new block (one in eight from calloc, checked to be zero); a full one has
// its block resized with realloc (one in three; contents kept are checked) or
// freed. Sizes follow a power law, P(size > s) = (8 / s)^0.75 from 8 bytes up
// to 64 KiB: most blocks are small (median 20 bytes), a few are large (2.5%
// over 1 KiB).
//
// Work: scale x 100,000 steps split among the threads. Full scale: 150
// (about 2 s with glibc malloc on 2 threads). ops = malloc, calloc and
// realloc calls.

#include "workload.hpp"

#include <cmath>

namespace {

using namespace workload;

constexpr Info info{"alloc_test",
                    "power-law sizes (8 B-64 KiB), realloc and calloc, per-thread working set "
                    "growing and shrinking in waves",
                    "malloc, calloc and realloc calls", 150};

constexpr std::uint64_t steps_per_scale = 100000;
constexpr std::size_t slots = 4096;
constexpr std::size_t min_active = slots / 16;
constexpr std::size_t wave_step = 64;
constexpr std::uint64_t steps_per_wave_step = 512;
constexpr std::size_t min_size = 8;
constexpr std::size_t max_size = 65536;

/// Power law: P(size > s) = (min_size / s)^0.75, cut off at max_size.
std::size_t random_size(Rng& rng) {
  for (;;) {
    double const s = static_cast<double>(min_size) * std::pow(1.0 - rng.unit(), -4.0 / 3.0);
    if (s <= static_cast<double>(max_size))
      return static_cast<std::size_t>(s);
  }
}

struct Slot {
  void* p = nullptr;
  std::size_t size = 0;
  std::uint64_t key = 0; // kept across realloc, which may move the block
};

/// Checks what realloc must have kept of a block of `old_size` that now has
/// `new_size` bytes: the first word, and the last one if it grew.
void check_kept(Slot const& s, std::size_t old_size) {
  if (load_word(s.p) != (old_size >= 16 ? s.key : (s.key ^ old_size)) ||
      (old_size >= 16 && s.size >= old_size &&
       load_word(static_cast<char const*>(s.p) + old_size - 8) != mix(s.key + old_size)))
    fail("alloc_test: realloc from %zu to %zu bytes lost the contents of %p", old_size, s.size,
         s.p);
}

} // namespace

int main(int argc, char** argv) {
  Args const args = parse_args(info, argc, argv);
  unsigned const threads = args.threads;
  std::uint64_t const steps = steps_per_scale * args.scale;
  std::atomic<std::uint64_t> ops{0};

  Stopwatch watch;
  run_threads(threads, [&](unsigned index) {
    Tally tally;
    Rng rng(seed(7, index));
    auto* const slot = static_cast<Slot*>(checked_calloc(slots, sizeof(Slot), tally));
    std::uint64_t calls = 0;
    std::size_t active = min_active;
    bool growing = true;
    std::uint64_t const mine = share(steps, threads, index);
    for (std::uint64_t n = 0; n < mine; ++n) {
      if (n % steps_per_wave_step == steps_per_wave_step - 1) {
        // Move the working set one step along its wave.
        if (growing && active + wave_step > slots) {
          growing = false;
        } else if (!growing && active - wave_step < min_active) {
          growing = true;
        }
        if (growing) {
          active += wave_step;
        } else {
          active -= wave_step;
          for (std::size_t i = active; i < active + wave_step; ++i) {
            if (slot[i].p != nullptr) {
              check_stamp(slot[i].p, slot[i].size, slot[i].key, "alloc_test");
              checked_free(slot[i].p, tally);
              slot[i].p = nullptr;
            }
          }
        }
      }
      Slot& s = slot[rng.below(active)];
      if (s.p == nullptr) {
        s.size = random_size(rng);
        s.key = rng.next();
        if (rng.chance(1, 8)) {
          s.p = checked_calloc(1, s.size, tally);
          if (load_word(s.p) != 0 || load_word(static_cast<char*>(s.p) + s.size - 8) != 0)
            fail("alloc_test: calloc(1, %zu) gave a block that is not zero", s.size);
        } else {
          s.p = checked_malloc(s.size, tally);
        }
        stamp(s.p, s.size, s.key);
        ++calls;
      } else if (rng.chance(1, 3)) {
        std::size_t const old_size = s.size;
        s.size = random_size(rng);
        s.p = checked_realloc(s.p, s.size);
        check_kept(s, old_size);
        stamp(s.p, s.size, s.key);
        ++calls;
      } else {
        check_stamp(s.p, s.size, s.key, "alloc_test");
        checked_free(s.p, tally);
        s.p = nullptr;
      }
    }
    for (std::size_t i = 0; i < slots; ++i) {
      if (slot[i].p != nullptr) {
        check_stamp(slot[i].p, slot[i].size, slot[i].key, "alloc_test");
        checked_free(slot[i].p, tally);
      }
    }
    checked_free(slot, tally);
    // relaxed: read after the join.
    ops.fetch_add(calls, std::memory_order_relaxed);
  });
  double const seconds = watch.seconds();
  return finish(info, args, ops.load(std::memory_order_relaxed), seconds);
}
