// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// glibc_thread: the malloc/free loop of glibc_simple (after glibc's
// bench-malloc-simple) run by every thread at once, each on its own blocks:
// per-thread caches and heaps, and any lock that threads share.
//
// Work: scale x 250,000 blocks split among the threads. Full scale: 320
// (about 2 s with glibc malloc on 2 threads). ops = blocks allocated (and
// freed).

#include "glibc_loop.hpp"

namespace {

using namespace workload;

constexpr Info info{"glibc_thread",
                    "the glibc_simple loop (batches of one size, 16-256 B) in every thread "
                    "at once",
                    "blocks allocated and freed", 320};

constexpr std::uint64_t pairs_per_scale = 250000;

} // namespace

int main(int argc, char** argv) {
  Args const args = parse_args(info, argc, argv);
  unsigned const threads = args.threads;
  std::uint64_t const pairs = pairs_per_scale * args.scale;
  std::atomic<std::uint64_t> ops{0};
  Stopwatch watch;
  run_threads(threads, [&](unsigned index) {
    Tally tally;
    std::uint64_t const done = glibc_loop(share(pairs, threads, index), tally);
    // relaxed: read after the join.
    ops.fetch_add(done, std::memory_order_relaxed);
  });
  double const seconds = watch.seconds();
  return finish(info, args, ops.load(std::memory_order_relaxed), seconds);
}
