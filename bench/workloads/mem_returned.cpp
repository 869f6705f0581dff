// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// mem_returned: does memory go back to the system after a peak? The threads
// together allocate scale x 16 MiB of small blocks (16-256 bytes), then free
// all of them: each thread frees half of its own blocks and half of its
// neighbour's (so half the frees are cross-thread). Then every thread keeps
// doing a little ordinary work (a few small blocks allocated and freed, with
// short sleeps) for 0.3 s, during which an allocator may return memory on
// its own schedule, and the main thread reads the resident set size. Nothing
// allocator-specific is called (no malloc_trim, no collect): this is what a
// program gets by just freeing.
//
// Reports, besides the time of the allocate-and-free part, the resident set
// size (from /proc/self/statm) before the run (rss_base_kib), at the peak
// (rss_at_peak_kib), after the quiet phase with the threads still alive
// (rss_after_kib), after they have exited (rss_exit_kib), and the share of
// the peak's growth given back by the end of the quiet phase (returned_pct).
// These are measurements, not checks: the checks are the block contents and
// counts.
//
// Work: scale x 16 MiB of blocks in all, split among the threads, and the
// fixed 0.3 s quiet phase. Full scale: 32 (512 MiB; about 2 s with glibc
// malloc on 2 threads). ops = blocks allocated in the peak; seconds = the time
// to allocate and free them (the quiet phase is not counted).

#include "workload.hpp"

namespace {

using namespace workload;

constexpr Info info{"mem_returned",
                    "peak of small blocks (scale x 16 MiB) all freed, then light activity; "
                    "reports the resident set size after it (rss_after_kib)",
                    "blocks allocated (and freed) in the peak", 32};

constexpr std::uint64_t bytes_per_scale = std::uint64_t{16} << 20U;
constexpr std::size_t min_size = 16;
constexpr std::size_t max_size = 256;
constexpr std::size_t mean_size = (min_size + max_size) / 2;
constexpr double quiet_seconds = 0.3;
constexpr std::size_t quiet_slots = 64;

// A block holds its size (mixed with its address) in its first word and a
// value of both in its last, so that the array of blocks needs only pointers.
void* make_block(Rng& rng, Tally& tally) {
  std::size_t const size = rng.range(min_size / 8, max_size / 8) * 8;
  auto* const p = static_cast<char*>(checked_malloc(size, tally));
  store_word(p, size ^ key_of(p));
  store_word(p + size - 8, mix(key_of(p) + size));
  return p;
}

void drop_block(void* block, Tally& tally) {
  auto* const p = static_cast<char*>(block);
  std::size_t const size = static_cast<std::size_t>(load_word(p) ^ key_of(p));
  if (size < min_size || size > max_size || load_word(p + size - 8) != mix(key_of(p) + size))
    fail("mem_returned: block %p was overwritten", block);
  checked_free(block, tally);
}

struct PerThread {
  void** blocks = nullptr;
  std::size_t count = 0;
};

std::int64_t signed_kib(std::uint64_t kib) {
  return static_cast<std::int64_t>(kib);
}

} // namespace

int main(int argc, char** argv) {
  Args const args = parse_args(info, argc, argv);
  unsigned const threads = args.threads;
  std::uint64_t const blocks = bytes_per_scale * args.scale / mean_size;
  std::vector<PerThread> per(threads);
  // The workers and the main thread meet at each phase boundary.
  Barrier phase(threads + 1);

  auto worker = [&](unsigned index) {
    Tally tally;
    Rng rng(seed(13, index));
    PerThread& mine = per[index];
    // Peak: allocate this thread's share.
    mine.count = static_cast<std::size_t>(share(blocks, threads, index));
    mine.blocks = static_cast<void**>(checked_malloc(mine.count * sizeof(void*) + 8, tally));
    for (std::size_t i = 0; i < mine.count; ++i)
      mine.blocks[i] = make_block(rng, tally);
    phase.wait(); // 1: peak reached
    phase.wait(); // 2: the main thread has measured it
    // Free: the even blocks of our own, the odd ones of our neighbour.
    PerThread const& other = per[(index + 1) % threads];
    for (std::size_t i = 0; i < mine.count; i += 2)
      drop_block(mine.blocks[i], tally);
    for (std::size_t i = 1; i < other.count; i += 2)
      drop_block(other.blocks[i], tally);
    phase.wait(); // 3: everything freed
    checked_free(mine.blocks, tally);
    mine.blocks = nullptr;
    // Quiet phase: a little ordinary work.
    void* slot[quiet_slots] = {};
    Stopwatch quiet;
    for (std::uint64_t n = 1; quiet.seconds() < quiet_seconds; ++n) {
      void*& s = slot[rng.below(quiet_slots)];
      if (s != nullptr)
        drop_block(s, tally);
      s = make_block(rng, tally);
      if (n % 256 == 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    for (void* s : slot)
      if (s != nullptr)
        drop_block(s, tally);
    phase.wait(); // 4: quiet phase over
    phase.wait(); // 5: the main thread has measured; exit
  };

  std::uint64_t const rss_base = rss_now_kib();
  Stopwatch watch;
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (unsigned i = 0; i < threads; ++i)
    pool.emplace_back(worker, i);
  phase.wait(); // 1
  double const alloc_seconds = watch.seconds();
  std::uint64_t const rss_at_peak = rss_now_kib();
  Stopwatch free_watch;
  phase.wait(); // 2
  phase.wait(); // 3
  double const seconds = alloc_seconds + free_watch.seconds();
  phase.wait(); // 4
  std::uint64_t const rss_after = rss_now_kib();
  phase.wait(); // 5
  for (auto& t : pool)
    t.join();
  std::uint64_t const rss_exit = rss_now_kib();

  std::int64_t const growth = signed_kib(rss_at_peak) - signed_kib(rss_base);
  std::int64_t const returned =
      growth > 0 ? (signed_kib(rss_at_peak) - signed_kib(rss_after)) * 100 / growth : 0;
  char extra[256];
  std::snprintf(extra, sizeof extra,
                "rss_base_kib=%llu rss_at_peak_kib=%llu rss_after_kib=%llu rss_exit_kib=%llu "
                "returned_pct=%lld",
                static_cast<unsigned long long>(rss_base),
                static_cast<unsigned long long>(rss_at_peak),
                static_cast<unsigned long long>(rss_after),
                static_cast<unsigned long long>(rss_exit), static_cast<long long>(returned));
  return finish(info, args, blocks, seconds, extra);
}
