// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// sh8bench: many sizes, freed in another order than allocated and by another
// thread, after MicroQuill's SmartHeap benchmark sh8bench (the multi-threaded
// successor of sh6bench).
//
// Each thread allocates a batch of 500 blocks (sizes 8-1000 bytes, one block
// in 32 up to 8 KiB), frees the blocks at odd positions from last to first
// and allocates new ones of other sizes in their place, as sh6bench does;
// then, instead of freeing the batch itself, it posts it to the next thread
// (thread i to i+1, in a ring), and frees the batches posted to it, each from
// first to last. So nearly every block is freed by a thread other than the
// one that allocated it, in an order unrelated to the allocation order. A
// thread whose neighbour lags more than 16 batches behind waits for it
// (freeing its own mail meanwhile). With one thread it frees its own batches.
//
// Work: scale x 200 batches (150,000 blocks) split among the threads. Full
// scale: 40 (about 2 s with glibc malloc on 2 threads). ops = blocks
// allocated.

#include "workload.hpp"

namespace {

using namespace workload;

constexpr Info info{"sh8bench",
                    "batches of many sizes (8 B-8 KiB) freed in another order than allocated, "
                    "mostly by the next thread",
                    "blocks allocated (and freed, mostly by another thread)", 40};

constexpr std::uint64_t batches_per_scale = 200;
constexpr std::size_t batch_blocks = 500;
constexpr std::int64_t max_pending = 16;

struct Entry {
  void* p;
  std::size_t size;
};

/// A batch travels to the next thread as one malloc'd block.
struct Batch {
  Node link; // first: a Batch* is a Node*
  Entry entries[batch_blocks];
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
  check_stamp(e.p, e.size, key_of(e.p), "sh8bench");
  checked_free(e.p, tally);
}

/// Frees every batch posted to `box`; returns how many batches.
std::uint64_t consume(Mailbox& box, Tally& tally) {
  std::uint64_t n = 0;
  for (Node* node = box.take_all(); node != nullptr; ++n) {
    auto* const batch = reinterpret_cast<Batch*>(node);
    node = node->next;
    for (Entry const& e : batch->entries)
      free_entry(e, tally);
    checked_free(batch, tally);
  }
  if (n != 0)
    box.taken(n);
  return n;
}

} // namespace

int main(int argc, char** argv) {
  Args const args = parse_args(info, argc, argv);
  unsigned const threads = args.threads;
  std::uint64_t const batches = batches_per_scale * args.scale;
  std::vector<Mailbox> boxes(threads);
  std::atomic<unsigned> producers_done{0};
  std::atomic<std::uint64_t> ops{0};
  std::atomic<std::uint64_t> consumed{0};

  Stopwatch watch;
  run_threads(threads, [&](unsigned index) {
    Tally tally;
    Rng rng(seed(10, index));
    Mailbox& inbox = boxes[index];
    Mailbox& next = boxes[(index + 1) % threads];
    std::uint64_t got = 0;
    std::uint64_t const mine = share(batches, threads, index);
    for (std::uint64_t b = 0; b < mine; ++b) {
      auto* const batch = static_cast<Batch*>(checked_malloc(sizeof(Batch), tally));
      for (Entry& e : batch->entries)
        fill_entry(e, rng, tally);
      for (std::size_t k = batch_blocks / 2; k-- > 0;)
        free_entry(batch->entries[2 * k + 1], tally);
      for (std::size_t i = 1; i < batch_blocks; i += 2)
        fill_entry(batch->entries[i], rng, tally);
      // Flow control: do not run far ahead of a neighbour that gets no CPU.
      for (Backoff wait; threads > 1 && next.pending() >= max_pending; wait.pause())
        got += consume(inbox, tally);
      next.post(&batch->link);
      got += consume(inbox, tally);
    }
    // release: our posts happen before another thread sees us done.
    producers_done.fetch_add(1, std::memory_order_release);
    // Keep freeing (a neighbour may wait for room) until every producer is
    // done; acquire: then the last take sees every post.
    for (Backoff wait; producers_done.load(std::memory_order_acquire) < threads; wait.pause())
      got += consume(inbox, tally);
    got += consume(inbox, tally);
    // relaxed: read after the join.
    ops.fetch_add(mine * (batch_blocks + batch_blocks / 2), std::memory_order_relaxed);
    consumed.fetch_add(got, std::memory_order_relaxed);
  });
  double const seconds = watch.seconds();
  if (consumed.load(std::memory_order_relaxed) != batches)
    fail("sh8bench: %llu batches posted but %llu freed", static_cast<unsigned long long>(batches),
         static_cast<unsigned long long>(consumed.load(std::memory_order_relaxed)));
  return finish(info, args, ops.load(std::memory_order_relaxed), seconds);
}
