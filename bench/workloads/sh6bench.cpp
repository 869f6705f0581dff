// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// sh6bench: many sizes, freed in an order other than the one they were
// allocated in, after MicroQuill's SmartHeap benchmark sh6bench.
//
// Each thread works on its own blocks, in batches of 500. It allocates a
// batch (sizes 8-1000 bytes, one block in 32 up to 8 KiB), frees the blocks
// at odd positions from last to first, allocates new blocks of other sizes in
// their place, and then frees the whole batch from first to last. So free
// lists fill out of address order and blocks of many sizes are interleaved.
//
// Work: scale x 150 batches (112,500 blocks: 500 per batch and 250 more in
// the freed places) split among the threads. Full scale: 200 (about 2 s
// with glibc malloc on 2 threads). ops = blocks allocated.

#include "workload.hpp"

namespace {

using namespace workload;

constexpr Info info{"sh6bench",
                    "batches of many sizes (8 B-8 KiB) freed in another order than allocated, "
                    "each thread on its own blocks",
                    "blocks allocated (and freed)", 200};

constexpr std::uint64_t batches_per_scale = 150;
constexpr std::size_t batch_blocks = 500;

struct Entry {
  void* p;
  std::size_t size;
};

std::size_t random_size(Rng& rng) {
  return rng.chance(1, 32) ? rng.range(1001, 8192) : rng.range(8, 1000);
}

void fill_entry(Entry& e, Rng& rng, Tally& tally) {
  e.size = random_size(rng);
  e.p = checked_malloc(e.size, tally);
  stamp(e.p, e.size, key_of(e.p));
}

void free_entry(Entry const& e, Tally& tally) {
  check_stamp(e.p, e.size, key_of(e.p), "sh6bench");
  checked_free(e.p, tally);
}

} // namespace

int main(int argc, char** argv) {
  Args const args = parse_args(info, argc, argv);
  unsigned const threads = args.threads;
  std::uint64_t const batches = batches_per_scale * args.scale;
  std::atomic<std::uint64_t> ops{0};

  Stopwatch watch;
  run_threads(threads, [&](unsigned index) {
    Tally tally;
    Rng rng(seed(9, index));
    auto* const batch = static_cast<Entry*>(checked_malloc(batch_blocks * sizeof(Entry), tally));
    std::uint64_t const mine = share(batches, threads, index);
    for (std::uint64_t b = 0; b < mine; ++b) {
      for (std::size_t i = 0; i < batch_blocks; ++i)
        fill_entry(batch[i], rng, tally);
      for (std::size_t k = batch_blocks / 2; k-- > 0;)
        free_entry(batch[2 * k + 1], tally);
      for (std::size_t i = 1; i < batch_blocks; i += 2)
        fill_entry(batch[i], rng, tally);
      for (std::size_t i = 0; i < batch_blocks; ++i)
        free_entry(batch[i], tally);
    }
    checked_free(batch, tally);
    // relaxed: read after the join.
    ops.fetch_add(tally.allocs - 1, std::memory_order_relaxed);
  });
  double const seconds = watch.seconds();
  return finish(info, args, ops.load(std::memory_order_relaxed), seconds);
}
