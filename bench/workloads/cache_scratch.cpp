// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// cache_scratch: passive false sharing, after the cache-scratch test of the
// Hoard allocator (Berger et al., ASPLOS 2000).
//
// The main thread allocates one small object per thread, back to back, so
// that neighbouring objects share cache lines, and hands object i to thread
// i. Each thread frees the object it was given, then over and over allocates
// an object of the same size, writes every byte of it many times and frees
// it. An allocator that gives a thread the block just freed by it, although
// another thread's heap owns it, puts the objects of different threads into
// one cache line again, and every write then bounces that line between cores.
//
// Work: scale x 2,000 objects split among the threads, each object's 8 bytes
// written 1,000 times. Full scale: 200 (about 2 s with glibc malloc on
// 2 threads). ops = objects allocated and freed by the threads.

#include "false_sharing.hpp"

namespace {

using namespace workload;

constexpr Info info{"cache_scratch",
                    "passive false sharing: threads free small objects handed over by the main "
                    "thread, then allocate and write their own",
                    "objects allocated, written 1,000 times and freed", 200};

} // namespace

int main(int argc, char** argv) {
  Args const args = parse_args(info, argc, argv);
  unsigned const threads = args.threads;
  std::uint64_t const objects = objects_per_scale * args.scale;

  // Handed over to the threads: allocated here, freed there.
  std::vector<void*> handed(threads);
  {
    Tally tally;
    for (unsigned i = 0; i < threads; ++i) {
      handed[i] = checked_malloc(object_size, tally);
      if (!scribble(handed[i], i))
        fail("cache_scratch: object of thread %u lost a write", i);
    }
  }

  Stopwatch watch;
  run_threads(threads, [&](unsigned index) {
    Tally tally;
    if (!scribble(handed[index], index))
      fail("cache_scratch: handed-over object of thread %u lost a write", index);
    checked_free(handed[index], tally);
    std::uint64_t const mine = share(objects, threads, index);
    for (std::uint64_t n = 0; n < mine; ++n) {
      void* const p = checked_malloc(object_size, tally);
      if (!scribble(p, static_cast<unsigned>(n)))
        fail("cache_scratch: thread %u: object %p lost a write", index, p);
      checked_free(p, tally);
    }
  });
  double const seconds = watch.seconds();
  return finish(info, args, objects, seconds);
}
