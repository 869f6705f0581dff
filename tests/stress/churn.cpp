// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// Thread churn: many short-lived threads must not make the process grow.
//
//   churn [rounds] [threads] [wave]
//
// Each round starts `threads` threads, `wave` at a time (and waits for a wave
// before starting the next). Each thread first frees the blocks that a
// thread of the previous round left behind (a thread that has exited since,
// so these frees land in abandoned or reclaimed segments), then allocates a
// mix of blocks, frees most of them itself and leaves the rest for the next
// round. Every block's pattern is checked before it is freed.
//
// The resident set is sampled after every round. The first round is the
// warm-up (thread stacks, the C library's per-thread arenas and Ferroc's
// thread data come into being and stay cached); the mean of the next three
// samples is the baseline, the mean of the last three the end value, and the
// end may exceed the baseline by at most 8 MiB plus 1 MiB per thread of a
// wave. Means, because the free pages that exited threads' segments hold
// until they are reclaimed make single samples swing by a few MiB; and the
// wave's share, because each thread of a wave that runs beside the others
// takes segments of its own, and how many run at once depends on the load of
// the machine (on a busy 2-core machine 8 to 23 segments at the end, the end
// up to 16 MiB above the baseline, with no trend over 100 rounds). A leak
// shows as a trend: segments never taken again add several MiB a round, far
// more than the bound over the 20 rounds of the CI run. Under a
// sanitizer the workload runs but the bound is not checked. At the end every
// allocation must have been matched by a free, and after a forced collect no
// segment may be left abandoned.
//
// Without arguments the number of rounds follows FERROC_TEST_SCALE: 20 for
// unset or 1 (the CI run), 100 for 10 (the full run); arguments win.
#include <ferroc/ferroc.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <utility>
#include <vector>

#include "stress_util.hpp"

namespace {

namespace s = ferroc_stress;

struct Config {
  std::size_t rounds = 100;
  std::size_t threads = 1000;
  std::size_t wave = 16;
};

constexpr std::size_t allocated_per_thread = 32;
constexpr std::size_t left_per_thread = 6;
constexpr std::size_t keep_every = allocated_per_thread / left_per_thread;
static_assert(keep_every * (left_per_thread - 1) < allocated_per_thread);

// The blocks one thread leaves for a thread of the next round.
using Leftovers = std::array<void*, left_per_thread>;

struct Counters {
  std::atomic<std::uint64_t> allocations{0};
  std::atomic<std::uint64_t> frees{0};
};

// A block length in words: mostly small (8 B .. 1 KiB), 1 in 32 medium (up
// to 64 KiB), 1 in 1024 large (up to 1 MiB; each takes a segment of its own).
std::size_t pick_words(s::Rng& rng) {
  if (rng.one_in(1024))
    return 8 * 1024 + rng.below(128 * 1024 - 8 * 1024 + 1);
  if (rng.one_in(32))
    return 128 + rng.below(8 * 1024 - 128 + 1);
  return 1 + rng.below(128);
}

void* allocate_block(s::Rng& rng) {
  std::size_t const words = pick_words(rng);
  void* p = s::Alloc::try_allocate(words * 8);
  if (p == nullptr) {
    std::fprintf(stderr, "churn: allocating %zu bytes failed\n", words * 8);
    s::die();
  }
  s::write_pattern(p, words);
  return p;
}

void free_block(void* p) {
  s::check_pattern(p, "churn");
  s::Alloc::deallocate(p);
}

// Checks and frees what a thread of the previous round left; returns how many.
std::uint64_t free_inherited(Leftovers& inherited) {
  std::uint64_t frees = 0;
  for (void*& p : inherited) {
    if (p != nullptr) {
      free_block(p);
      p = nullptr;
      ++frees;
    }
  }
  return frees;
}

// The life of thread `id` of round `round`. `inherited` holds what a thread
// of the previous round left (freed here, then refilled for the next round);
// each thread of a round owns a different entry, and joining a wave orders
// its writes before the next round reads them.
void thread_body(Leftovers& inherited, Counters& counters, std::uint64_t id, std::uint64_t round) {
  std::uint64_t frees = free_inherited(inherited);
  // The blocks left for the next round take their sizes from the thread's
  // position alone: every round then leaves the same amount of live data
  // behind, and the resident set shows what the allocator holds on to
  // rather than how the dice fell.
  s::Rng keep_rng(id);
  s::Rng rng((round << 32U) | id);
  std::array<void*, allocated_per_thread - left_per_thread> temporary{};
  std::size_t kept = 0;
  std::size_t temp = 0;
  for (std::size_t i = 0; i < allocated_per_thread; ++i) {
    // Kept blocks are spread among the others, so they pin pages.
    if (i % keep_every == 0 && kept < left_per_thread)
      inherited[kept++] = allocate_block(keep_rng);
    else
      temporary[temp++] = allocate_block(rng);
  }
  // Free in an order that mixes sizes and leaves holes in pages.
  for (std::size_t i = temporary.size(); i > 1; --i)
    std::swap(temporary[i - 1], temporary[rng.below(i)]);
  for (void* p : temporary)
    free_block(p);
  frees += temporary.size();
  counters.allocations.fetch_add(allocated_per_thread, std::memory_order_relaxed);
  counters.frees.fetch_add(frees, std::memory_order_relaxed);
}

void run_round(Config const& config, std::vector<Leftovers>& leftovers, Counters& counters,
               std::size_t round) {
  std::vector<std::thread> wave;
  wave.reserve(config.wave);
  for (std::size_t first = 0; first < config.threads; first += config.wave) {
    for (std::size_t id = first; id < config.threads && id < first + config.wave; ++id) {
      // Shifting by the round hands thread `id` what thread `id + 1` of the
      // previous round left, while each thread of a round gets its own entry.
      Leftovers& inherited = leftovers[(id + round) % config.threads];
      wave.emplace_back(
          [&inherited, &counters, id, round] { thread_body(inherited, counters, id, round); });
    }
    for (std::thread& thread : wave)
      thread.join();
    wave.clear();
  }
}

// Frees what the last round left.
void free_leftovers(std::vector<Leftovers>& leftovers, Counters& counters) {
  std::uint64_t frees = 0;
  for (Leftovers& left : leftovers)
    frees += free_inherited(left);
  counters.frees.fetch_add(frees, std::memory_order_relaxed);
}

[[noreturn]] void usage() {
  std::fprintf(stderr, "usage: churn [rounds] [threads] [wave]  (positive numbers)\n");
  std::exit(2);
}

Config parse_arguments(int argc, char** argv) {
  Config config;
  // FERROC_TEST_SCALE = k: max(20, 10k) rounds, so 20 in CI, 100 in the full run.
  config.rounds = std::max<std::size_t>(20, 10 * s::test_scale());
  if (argc > 4)
    usage();
  std::size_t* const fields[] = {&config.rounds, &config.threads, &config.wave};
  for (int i = 1; i < argc; ++i) {
    *fields[i - 1] = s::parse_count(argv[i]);
    if (*fields[i - 1] == 0)
      usage();
  }
  return config;
}

double mib(std::size_t bytes) {
  return static_cast<double>(bytes) / static_cast<double>(s::MiB);
}

// Mean of samples[first, first + count).
std::size_t mean(std::vector<std::size_t> const& samples, std::size_t first, std::size_t count) {
  std::size_t sum = 0;
  for (std::size_t i = first; i < first + count; ++i)
    sum += samples[i];
  return sum / count;
}

// Compares the resident set at the start (after the warm-up round) and at
// the end; returns false if it grew too much or cannot be read.
bool check_growth(std::vector<std::size_t> const& rss, std::size_t wave) {
  // Three samples at each end, fewer when the run is too short for that.
  std::size_t const window = std::min<std::size_t>(3, (rss.size() - 1) / 2);
  if (window == 0) {
    std::printf("churn: too few rounds to measure the resident set\n");
    return true;
  }
  std::size_t const base = mean(rss, 1, window);
  std::size_t const end = mean(rss, rss.size() - window, window);
  std::size_t const peak = *std::max_element(rss.begin(), rss.end());
  std::printf("churn: RSS %.1f MiB after warm-up, %.1f MiB at the end (%+.1f MiB; means of %zu "
              "rounds), peak %.1f MiB\n",
              mib(base), mib(end), mib(end) - mib(base), window, mib(peak));
#if FERROC_STRESS_SANITIZED
  std::printf("churn: built with a sanitizer, the RSS bound is not checked\n");
  (void)wave;
  return true;
#else
  std::size_t const max_growth = 8 * s::MiB + wave * s::MiB;
  if (base == 0 || end == 0) {
    std::fprintf(stderr, "churn: cannot read the resident set size\n");
    return false;
  }
  if (end > base + max_growth) {
    std::fprintf(stderr, "churn: the resident set grew by %.1f MiB, more than %.0f MiB\n",
                 mib(end) - mib(base), mib(max_growth));
    return false;
  }
  return true;
#endif
}

} // namespace

int main(int argc, char** argv) {
  Config const config = parse_arguments(argc, argv);
  auto const start = std::chrono::steady_clock::now();

  // The bookkeeping comes from the C library's malloc and is all made now,
  // before the first measurement.
  std::vector<Leftovers> leftovers(config.threads, Leftovers{});
  std::vector<std::size_t> rss;
  rss.reserve(config.rounds);
  Counters counters;

  for (std::size_t round = 0; round < config.rounds; ++round) {
    run_round(config, leftovers, counters, round);
    rss.push_back(s::resident_bytes());
  }
  std::size_t const segments = s::Global::arenas().segments_in_use();
  free_leftovers(leftovers, counters);

  std::chrono::duration<double> const elapsed = std::chrono::steady_clock::now() - start;
  std::uint64_t const allocations = counters.allocations.load(std::memory_order_relaxed);
  std::uint64_t const frees = counters.frees.load(std::memory_order_relaxed);
  std::printf("churn: %zu rounds x %zu threads (waves of %zu): %llu allocations, %zu segments in "
              "use at the end, %.2f s\n",
              config.rounds, config.threads, config.wave,
              static_cast<unsigned long long>(allocations), segments, elapsed.count());

  bool ok = check_growth(rss, config.wave);
  if (allocations != frees) {
    std::fprintf(stderr, "churn: %llu allocations but %llu frees\n",
                 static_cast<unsigned long long>(allocations),
                 static_cast<unsigned long long>(frees));
    ok = false;
  }
  ok = s::check_segments_returned("churn") && ok;
  return ok ? 0 : 1;
}
