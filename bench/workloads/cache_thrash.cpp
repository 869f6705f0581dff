// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// cache_thrash: active false sharing, after the cache-thrash test of the
// Hoard allocator (Berger et al., ASPLOS 2000).
//
// Every thread, over and over, allocates a small object, writes every byte of
// it many times and frees it. An allocator that serves small requests of
// different threads from the same cache line (one shared heap, or blocks
// handed out in address order across threads) makes those writes bounce the
// line between cores; one with per-thread pages keeps each thread's objects
// apart.
//
// Work: scale x 2,000 objects split among the threads, each object's 8 bytes
// written 1,000 times. Full scale: 200 (about 2 s with glibc malloc on
// 2 threads). ops = objects allocated and freed.

#include "false_sharing.hpp"

namespace {

using namespace workload;

constexpr Info info{"cache_thrash",
                    "active false sharing: every thread allocates small objects, writes them "
                    "many times and frees them",
                    "objects allocated, written 1,000 times and freed", 200};

} // namespace

int main(int argc, char** argv) {
  Args const args = parse_args(info, argc, argv);
  unsigned const threads = args.threads;
  std::uint64_t const objects = objects_per_scale * args.scale;

  Stopwatch watch;
  run_threads(threads, [&](unsigned index) {
    Tally tally;
    std::uint64_t const mine = share(objects, threads, index);
    for (std::uint64_t n = 0; n < mine; ++n) {
      void* const p = checked_malloc(object_size, tally);
      if (!scribble(p, static_cast<unsigned>(n)))
        fail("cache_thrash: thread %u: object %p lost a write", index, p);
      checked_free(p, tally);
    }
  });
  double const seconds = watch.seconds();
  return finish(info, args, objects, seconds);
}
