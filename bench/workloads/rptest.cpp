// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// rptest: random sizes and cross-thread frees at a fixed working-set size,
// after the benchmark that comes with rpmalloc (Mattias Jansson).
//
// Each thread keeps a working set of 2,000 slots, all full after a warm-up.
// A step picks a random slot and replaces its block with a new one of random
// size (75% 16-256 bytes, 20% up to 4 KiB, 5% up to 32 KiB). One replaced
// block in four is not freed by the thread itself but posted to a random
// other thread, which frees it the next time it empties its mailbox (every
// 32 steps). The live memory stays about the same, so the test measures
// speed and the handling of remote frees rather than growth.
//
// Work: scale x 50,000 steps split among the threads. Full scale: 200
// (about 2 s with glibc malloc on 2 threads). ops = blocks allocated.

#include "workload.hpp"

namespace {

using namespace workload;

constexpr Info info{"rptest",
                    "fixed working set of random sizes (16 B-32 KiB); a quarter of the blocks "
                    "freed by another thread",
                    "blocks allocated (one in four freed by another thread)", 200};

constexpr std::uint64_t steps_per_scale = 50000;
constexpr std::size_t slots = 2000;
constexpr unsigned drain_every = 32;
constexpr std::int64_t max_pending = 8192;
constexpr std::size_t max_size = 32768;

std::size_t random_size(Rng& rng) {
  std::size_t const r = rng.below(100);
  if (r < 75)
    return 16 * rng.range(1, 16);
  if (r < 95)
    return 16 * rng.range(17, 256);
  return 16 * rng.range(257, max_size / 16);
}

// A block's first word is the mailbox link while it travels; the second holds
// its size (mixed with its address), so that the receiver can check it; the
// last word (from 24 bytes on) a value of its address and size.
void* make_block(Rng& rng, Tally& tally) {
  std::size_t const size = random_size(rng);
  auto* const p = static_cast<char*>(checked_malloc(size, tally));
  store_word(p, 0);
  store_word(p + 8, size ^ key_of(p));
  if (size >= 24)
    store_word(p + size - 8, mix(key_of(p) + size));
  return p;
}

void drop_block(void* block, Tally& tally) {
  auto* const p = static_cast<char*>(block);
  std::size_t const size = static_cast<std::size_t>(load_word(p + 8) ^ key_of(p));
  if (size < 16 || size > max_size ||
      (size >= 24 && load_word(p + size - 8) != mix(key_of(p) + size)))
    fail("rptest: block %p was overwritten", block);
  checked_free(block, tally);
}

std::uint64_t drain(Mailbox& box, Tally& tally) {
  std::uint64_t n = 0;
  for (Node* node = box.take_all(); node != nullptr;) {
    Node* const next = node->next;
    drop_block(node, tally);
    node = next;
    ++n;
  }
  if (n != 0)
    box.taken(n);
  return n;
}

} // namespace

int main(int argc, char** argv) {
  Args const args = parse_args(info, argc, argv);
  unsigned const threads = args.threads;
  std::uint64_t const steps = steps_per_scale * args.scale;
  std::vector<Mailbox> boxes(threads);
  std::atomic<std::uint64_t> ops{0};
  std::atomic<std::uint64_t> posted{0};
  std::atomic<std::uint64_t> received{0};
  Barrier finished(threads);

  Stopwatch watch;
  run_threads(threads, [&](unsigned index) {
    Tally tally;
    Rng rng(seed(8, index));
    Mailbox& inbox = boxes[index];
    auto* const slot = static_cast<void**>(checked_malloc(slots * sizeof(void*), tally));
    for (std::size_t i = 0; i < slots; ++i)
      slot[i] = make_block(rng, tally);
    std::uint64_t sent = 0;
    std::uint64_t got = 0;
    std::uint64_t const mine = share(steps, threads, index);
    for (std::uint64_t n = 0; n < mine; ++n) {
      void*& s = slot[rng.below(slots)];
      if (threads > 1 && rng.chance(1, 4)) {
        unsigned to = static_cast<unsigned>(rng.below(threads - 1));
        to += to >= index ? 1 : 0;
        // Flow control: a thread that gets no CPU must not pile up blocks.
        if (boxes[to].pending() < max_pending) {
          boxes[to].post(static_cast<Node*>(s));
          ++sent;
        } else {
          drop_block(s, tally);
        }
      } else {
        drop_block(s, tally);
      }
      s = make_block(rng, tally);
      if (n % drain_every == drain_every - 1)
        got += drain(inbox, tally);
    }
    finished.wait(); // nothing more will be posted
    got += drain(inbox, tally);
    for (std::size_t i = 0; i < slots; ++i)
      drop_block(slot[i], tally);
    checked_free(slot, tally);
    // relaxed: read after the join.
    ops.fetch_add(tally.allocs - 1, std::memory_order_relaxed);
    posted.fetch_add(sent, std::memory_order_relaxed);
    received.fetch_add(got, std::memory_order_relaxed);
  });
  double const seconds = watch.seconds();
  if (posted.load(std::memory_order_relaxed) != received.load(std::memory_order_relaxed))
    fail("rptest: %llu blocks posted but %llu received",
         static_cast<unsigned long long>(posted.load(std::memory_order_relaxed)),
         static_cast<unsigned long long>(received.load(std::memory_order_relaxed)));
  char extra[64];
  std::snprintf(extra, sizeof extra, "remote_frees=%llu",
                static_cast<unsigned long long>(received.load(std::memory_order_relaxed)));
  return finish(info, args, ops.load(std::memory_order_relaxed), seconds, extra);
}
