// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// mstress: mixed sizes and lifetimes with blocks moving between threads, in
// the manner of the stress test of mimalloc (test-stress).
//
// The run is a number of rounds; each round starts a fresh set of threads and
// ends when they finish, so the allocator also sees threads exit while their
// blocks live on. Each thread keeps a local set of up to 256 blocks and, at
// random, allocates into it or frees from it; now and then it swaps a block
// with one of 1,024 transfer slots shared by all threads (the block it gets
// back was usually allocated by another thread, perhaps one that has exited),
// and now and then it replaces one of its 32 long-lived blocks, which survive
// the round and are freed by the thread of the same number in the next one.
// Sizes are mostly small (90% up to 256 bytes), some medium (up to 8 KiB and
// 64 KiB) and a few large (0.1%, up to 1 MiB). Every block is filled with a
// pattern derived from its address and checked in full before it is freed.
//
// Work: scale x 2 rounds of 25,000 steps split among the threads. Full scale:
// 150 (about 2 s with glibc malloc on 2 threads). ops = blocks allocated.

#include "workload.hpp"

namespace {

using namespace workload;

constexpr Info info{"mstress",
                    "stress: mixed sizes (8 B to 1 MiB) and lifetimes, blocks swapped between "
                    "threads through shared slots, thread rounds, contents checked in full",
                    "blocks allocated (filled, checked in full and freed)", 150};

constexpr std::uint64_t rounds_per_scale = 2;
constexpr std::uint64_t steps_per_round = 25000;
constexpr std::size_t transfer_slots = 1024;
constexpr std::size_t local_blocks = 256;
constexpr std::size_t kept_blocks = 32;
constexpr std::size_t max_size = std::size_t{1} << 20U;
constexpr std::uint64_t header_cookie = 0x6D73747265737321ULL;

/// A size: 90% 8-256 bytes, 9% up to 8 KiB, 0.9% up to 64 KiB, 0.1% up to 1 MiB.
std::size_t random_size(Rng& rng) {
  std::size_t const r = rng.below(1000);
  if (r < 900)
    return 8 * rng.range(1, 32);
  if (r < 990)
    return rng.range(257, 8192);
  if (r < 999)
    return rng.range(8193, 65536);
  return rng.range(65537, max_size);
}

// A block holds its size in its first word (so that any thread can check a
// block it did not allocate) and a pattern of its address in the others.
void* make_block(Rng& rng, Tally& tally) {
  std::size_t const size = random_size(rng);
  void* const p = checked_malloc(size, tally);
  fill(p, size, key_of(p));
  static_cast<std::uint64_t*>(p)[0] = size ^ header_cookie;
  return p;
}

void drop_block(void* p, Tally& tally) {
  auto* const words = static_cast<std::uint64_t*>(p);
  std::size_t const size = static_cast<std::size_t>(words[0] ^ header_cookie);
  if (size < 8 || size > max_size) {
    fail("mstress: block %p has a broken header", p);
  } else {
    // Restore word 0 of the pattern, then check the whole block.
    words[0] = key_of(p);
    check_fill(p, size, key_of(p), "mstress");
  }
  checked_free(p, tally);
}

struct Shared {
  std::atomic<void*> transfer[transfer_slots];
};

} // namespace

int main(int argc, char** argv) {
  Args const args = parse_args(info, argc, argv);
  unsigned const threads = args.threads;
  std::uint64_t const rounds = rounds_per_scale * args.scale;

  auto* const shared = new Shared;
  for (auto& slot : shared->transfer)
    slot.store(nullptr, std::memory_order_relaxed);
  // Long-lived blocks of thread number i, handed from round to round.
  std::vector<void*> kept(kept_blocks * threads, nullptr);
  std::atomic<std::uint64_t> allocated{0};

  Stopwatch watch;
  for (std::uint64_t round = 0; round < rounds; ++round) {
    run_threads(threads, [&](unsigned index) {
      Tally tally;
      Rng rng(seed(5, index, round));
      void* local[local_blocks];
      std::size_t count = 0;
      void** const mine = kept.data() + kept_blocks * index;
      std::uint64_t const steps = share(steps_per_round, threads, index);
      for (std::uint64_t s = 0; s < steps; ++s) {
        std::size_t const r = rng.below(100);
        if (r < 1) {
          // Replace a long-lived block.
          void*& k = mine[rng.below(kept_blocks)];
          if (k != nullptr)
            drop_block(k, tally);
          k = make_block(rng, tally);
        } else if (r < 6) {
          // Swap a block (a new one if we hold none) with a shared slot.
          void* give = nullptr;
          if (count > 0) {
            std::size_t const i = rng.below(count);
            give = local[i];
            local[i] = local[--count];
          } else {
            give = make_block(rng, tally);
          }
          // acq_rel: we publish our block's contents and take over the
          // contents of the one we get.
          void* const got =
              shared->transfer[rng.below(transfer_slots)].exchange(give, std::memory_order_acq_rel);
          if (got != nullptr)
            local[count++] = got;
        } else if (count == local_blocks || (r < 53 && count > 0)) {
          std::size_t const i = rng.below(count);
          drop_block(local[i], tally);
          local[i] = local[--count];
        } else {
          local[count++] = make_block(rng, tally);
        }
      }
      while (count > 0)
        drop_block(local[--count], tally);
      // relaxed: read after the join.
      allocated.fetch_add(tally.allocs, std::memory_order_relaxed);
    });
  }
  double const seconds = watch.seconds();

  Tally tally;
  for (void* k : kept)
    if (k != nullptr)
      drop_block(k, tally);
  for (auto& slot : shared->transfer)
    if (void* p = slot.exchange(nullptr, std::memory_order_acquire); p != nullptr)
      drop_block(p, tally);
  tally.flush();
  delete shared;
  return finish(info, args, allocated.load(std::memory_order_relaxed), seconds);
}
