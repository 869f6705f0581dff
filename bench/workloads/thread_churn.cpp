// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// thread_churn: threads that live for one allocation (after mimalloc-bench's
// mleak and the thread-churn report that found a slow mode). The main thread
// starts `threads` threads at a time and joins them; each allocates one
// block of 64-319 bytes, stamps it, swaps it into a random slot of a table
// shared by all and frees the block it found there (a block another,
// already exited, thread allocated). So every thread's heap is made, used
// once and given up, and every block is freed by a thread other than its
// owner, after the owner is gone: thread start and exit, abandoning and
// reclaiming, at their cost per thread.
//
// Reports, besides the total, the slowest wave's time (slowest_wave_ms)
// against the median wave's (median_wave_ms): a stall of some thread start
// or exit shows there even when the total hides it.
//
// Work: scale x 1,000 threads. Full scale: 50 (50,000 threads; about 3 s
// with glibc malloc on 2 cores). ops = threads started.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <thread>
#include <vector>

#include "workload.hpp"

namespace {

using namespace workload;

constexpr Info info{"thread_churn",
                    "threads started `threads` at a time, each allocating one block and freeing "
                    "one left by an exited thread",
                    "a thread started and joined", 50};

constexpr std::uint64_t threads_per_scale = 1000;
constexpr std::size_t table_size = 1000;

std::atomic<void*> table[table_size];

void one_allocation(std::uint64_t id) {
  Tally tally;
  Rng rng(seed(7, id));
  std::size_t const size = 64 + id % 256;
  void* p = checked_malloc(size, tally);
  stamp(p, 16, key_of(p)); // its first 16 bytes: the freeing thread does not know its size
  // acq_rel: the next thread that takes the block sees its stamp.
  void* old = table[rng.below(table_size)].exchange(p, std::memory_order_acq_rel);
  if (old != nullptr) {
    check_stamp(old, 16, key_of(old), "thread_churn");
    checked_free(old, tally);
  }
}

} // namespace

int main(int argc, char** argv) {
  Args const args = parse_args(info, argc, argv);
  require_linked_malloc(info);
  std::uint64_t const total = threads_per_scale * args.scale;
  std::vector<double> waves;
  waves.reserve(total / args.threads + 1);
  Stopwatch watch;
  {
    std::vector<std::thread> threads;
    threads.reserve(args.threads);
    for (std::uint64_t started = 0; started < total; started += args.threads) {
      Stopwatch wave;
      std::uint64_t const count = std::min<std::uint64_t>(args.threads, total - started);
      for (std::uint64_t i = 0; i < count; ++i)
        threads.emplace_back(one_allocation, started + i);
      for (auto& t : threads)
        t.join();
      threads.clear();
      waves.push_back(wave.seconds());
    }
  }
  Tally tally;
  for (auto& slot : table) {
    if (void* p = slot.exchange(nullptr, std::memory_order_acquire)) {
      check_stamp(p, 16, key_of(p), "thread_churn");
      checked_free(p, tally);
    }
  }
  tally.flush();
  double const seconds = watch.seconds();
  std::sort(waves.begin(), waves.end());
  char extra[96];
  std::snprintf(extra, sizeof extra, "median_wave_ms=%.3f slowest_wave_ms=%.3f",
                waves[waves.size() / 2] * 1e3, waves.back() * 1e3);
  return finish(info, args, total, seconds, extra);
}
