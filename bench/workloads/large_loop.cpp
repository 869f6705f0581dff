// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// large_loop: blocks of 5-25 MiB replaced in a loop (the shape of
// mimalloc-bench's malloc-large, and of programs that build big buffers
// over and over). 20 slots in all, split among the threads; a step picks a
// slot of the thread's, allocates a new block of a random size, writes all
// of it (as std::make_unique<char[]> does) and then frees the slot's old
// block after checking its pattern. What it measures is whether freed
// memory comes back without page faults, and how much the allocator holds
// to that end (peak RSS).
//
// Work: scale x 100 blocks. Full scale: 20 (2,000 blocks, about 30 GiB
// written; about 5 s with glibc malloc on 2 cores). ops = blocks.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include "workload.hpp"

namespace {

using namespace workload;

constexpr Info info{"large_loop",
                    "blocks of 5-25 MiB allocated, written in full and replaced in a loop, 20 "
                    "live",
                    "a block allocated, written and freed", 20};

constexpr std::uint64_t blocks_per_scale = 100;
constexpr std::size_t slots = 20;
constexpr std::size_t min_size = std::size_t{5} << 20;
constexpr std::size_t max_size = std::size_t{25} << 20;

struct Slot {
  char* p = nullptr;
  std::size_t size = 0;
};

void run_thread(unsigned index, std::size_t my_slots, std::uint64_t steps) {
  Tally tally;
  Rng rng(seed(11, index));
  std::vector<Slot> mine(my_slots);
  auto release = [&](Slot& s) {
    if (s.p == nullptr)
      return;
    check_stamp(s.p, s.size, key_of(s.p), "large_loop");
    checked_free(s.p, tally);
    s = {};
  };
  for (std::uint64_t i = 0; i < steps; ++i) {
    Slot& s = mine[rng.below(my_slots)];
    std::size_t const size = rng.range(min_size, max_size);
    auto* p = static_cast<char*>(checked_malloc(size, tally));
    // Not zero: the compiler would fold malloc + memset(0) into calloc, and a
    // fresh mapping would then skip the writes this workload is about.
    std::memset(p, static_cast<int>(i % 255) + 1, size);
    stamp(p, size, key_of(p));
    escape(p);
    release(s);
    s = {p, size};
  }
  for (Slot& s : mine)
    release(s);
}

} // namespace

int main(int argc, char** argv) {
  Args const args = parse_args(info, argc, argv);
  require_linked_malloc(info);
  std::uint64_t const total = blocks_per_scale * args.scale;
  std::size_t const per_thread = std::max<std::size_t>(1, slots / args.threads);
  Stopwatch watch;
  {
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < args.threads; ++t) {
      std::uint64_t const steps = total / args.threads + (t < total % args.threads ? 1 : 0);
      threads.emplace_back(run_thread, t, per_thread, steps);
    }
    for (auto& t : threads)
      t.join();
  }
  double const seconds = watch.seconds();
  return finish(info, args, total, seconds);
}
