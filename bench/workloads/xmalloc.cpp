// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// xmalloc: producers allocate, consumers free, after Lever and Boreham's
// xmalloc test ("malloc() performance in a multithreaded Linux environment",
// USENIX 2000).
//
// Every thread is a producer and a consumer. As a producer it allocates a
// batch of 64 blocks of 16-256 bytes and posts the batch to the next thread's
// mailbox (thread i to thread i+1, in a ring); as a consumer it takes the
// batches posted to it and frees their blocks. So with two or more threads
// every block is freed by a thread other than the one that allocated it, the
// case where allocators with thread-local caches either pass memory back to
// its owner or hoard it. A producer whose neighbour lags more than 64 batches
// behind waits for it (consuming its own mail meanwhile). With one thread
// the ring has one member, which frees its own blocks.
//
// Work: scale x 100,000 blocks in all, split among the threads. Full scale:
// 250 (about 2 s with glibc malloc on 2 threads). ops = blocks allocated (each
// freed by the consumer).

#include "workload.hpp"

namespace {

using namespace workload;

constexpr Info info{"xmalloc",
                    "producer/consumer: each thread posts batches of new blocks to the next "
                    "thread, which frees them",
                    "blocks of 16-256 bytes allocated by one thread and freed by another", 250};

constexpr std::uint64_t blocks_per_scale = 100000;
constexpr std::size_t batch_blocks = 64;
constexpr std::int64_t max_pending = 64;

struct Block {
  void* p;
  std::size_t size;
};

/// A batch is itself a malloc'd block, passed by the mailbox.
struct Batch {
  Node link; // first: a Batch* is a Node*
  std::size_t count;
  Block blocks[batch_blocks];
};

/// Frees every batch waiting in `box`; returns how many blocks it freed.
std::uint64_t consume(Mailbox& box, Tally& tally) {
  Node* node = box.take_all();
  std::uint64_t batches = 0;
  std::uint64_t blocks = 0;
  while (node != nullptr) {
    auto* const batch = reinterpret_cast<Batch*>(node);
    node = node->next;
    for (std::size_t i = 0; i < batch->count; ++i) {
      Block const& b = batch->blocks[i];
      check_stamp(b.p, b.size, key_of(b.p), "xmalloc");
      checked_free(b.p, tally);
    }
    blocks += batch->count;
    checked_free(batch, tally);
    ++batches;
  }
  if (batches != 0)
    box.taken(batches);
  return blocks;
}

} // namespace

int main(int argc, char** argv) {
  Args const args = parse_args(info, argc, argv);
  unsigned const threads = args.threads;
  std::uint64_t const blocks = blocks_per_scale * args.scale;

  std::vector<Mailbox> boxes(threads);
  std::atomic<std::uint64_t> consumed{0};
  std::atomic<unsigned> producers_done{0};
  Stopwatch watch;
  run_threads(threads, [&](unsigned index) {
    Tally tally;
    Rng rng(seed(4, index));
    Mailbox& inbox = boxes[index];
    Mailbox& next = boxes[(index + 1) % threads];
    std::uint64_t left = share(blocks, threads, index);
    std::uint64_t freed = 0;
    while (left > 0) {
      auto* const batch = static_cast<Batch*>(checked_malloc(sizeof(Batch), tally));
      batch->count = left < batch_blocks ? static_cast<std::size_t>(left) : batch_blocks;
      for (std::size_t i = 0; i < batch->count; ++i) {
        std::size_t const size = 16 + 8 * rng.below(31);
        void* const p = checked_malloc(size, tally);
        stamp(p, size, key_of(p));
        batch->blocks[i] = Block{p, size};
      }
      left -= batch->count;
      // Flow control: do not run far ahead of a consumer that gets no CPU.
      for (Backoff wait; threads > 1 && next.pending() >= max_pending; wait.pause())
        freed += consume(inbox, tally);
      next.post(&batch->link);
      freed += consume(inbox, tally);
    }
    // release: our posts happen before another thread sees us done.
    producers_done.fetch_add(1, std::memory_order_release);
    // Keep consuming (a neighbour may still wait for room) until every
    // producer is done; then nothing more will be posted.
    // acquire: pairs with the release above, so the last take sees every post.
    for (Backoff wait; producers_done.load(std::memory_order_acquire) < threads; wait.pause())
      freed += consume(inbox, tally);
    freed += consume(inbox, tally);
    // relaxed: read after the join.
    consumed.fetch_add(freed, std::memory_order_relaxed);
  });
  double const seconds = watch.seconds();
  if (consumed.load(std::memory_order_relaxed) != blocks)
    fail("xmalloc: %llu blocks produced but %llu consumed", static_cast<unsigned long long>(blocks),
         static_cast<unsigned long long>(consumed.load(std::memory_order_relaxed)));
  return finish(info, args, blocks, seconds);
}
