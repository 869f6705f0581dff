// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// A multi-threaded stress test of the global allocator, after the design of
// mimalloc's test-stress:
//
//   stress [threads] [scale] [iterations]
//
// Each iteration starts `threads` threads. Each thread runs a random mix of
// operations on blocks of mostly small sizes (1 in 100 medium, up to 64 KiB;
// 1 in 1000 large, up to 4 MiB): it allocates into its own array of slots
// (freeing what was there), frees slots, and trades slots with a shared
// array of atomic slots, so that blocks move to other threads and are freed
// there. Threads do different amounts of work, so they exit at different
// times while others still run; what they leave in the shared array lives on
// in their abandoned segments until a later thread frees it or reclaims the
// segment. Between iterations the main thread frees about half of the shared
// slots. `scale` sets the work per thread and the size of its array.
//
// Every block carries a pattern (see stress_util.hpp) that is checked before
// it is freed; a mismatch ends the program with status 1. At the end every
// allocation must have been matched by a free.
//
// Without arguments the size follows FERROC_TEST_SCALE (tests/README.md);
// arguments given on the command line win.
#include <ferroc/ferroc.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <thread>
#include <vector>

#include "stress_util.hpp"

namespace {

namespace s = ferroc_stress;

struct Config {
  std::size_t threads = 32;
  std::size_t scale = 50;
  std::size_t iterations = 50;
};

// The shared slots that blocks travel through between threads.
constexpr std::size_t transfer_slots = 1000;

struct Shared {
  std::array<std::atomic<void*>, transfer_slots> transfer{};
  std::atomic<std::uint64_t> allocations{0};
  std::atomic<std::uint64_t> frees{0};
};

// A block length in words: mostly small (8 B .. 1 KiB), 1 in 100 medium (up
// to 64 KiB), 1 in 1000 large (up to 4 MiB: past the largest "large" block,
// 2 MiB, into huge blocks that take segments of their own).
std::size_t pick_words(s::Rng& rng) {
  if (rng.one_in(1000))
    return 8 * 1024 + rng.below(512 * 1024 - 8 * 1024 + 1);
  if (rng.one_in(100))
    return 128 + rng.below(8 * 1024 - 128 + 1);
  return 1 + rng.below(128);
}

// One thread's share of an iteration.
class Worker {
public:
  Worker(Shared& shared, Config const& config, std::size_t iteration, std::size_t id)
      : shared_(shared), rng_(iteration * 1'000'003 + id),
        // Different amounts of work per thread, so that threads exit (and
        // abandon their segments) while others still allocate.
        operations_(50 * config.scale * (1 + id % 8)), slots_(10 * config.scale + 8) {}

  void run() {
    for (std::size_t op = 0; op < operations_; ++op)
      step();
    finish();
    // Batched: the shared counters would otherwise be the hottest line here.
    shared_.allocations.fetch_add(allocations_, std::memory_order_relaxed);
    shared_.frees.fetch_add(frees_, std::memory_order_relaxed);
  }

private:
  void step() {
    std::uint64_t const r = rng_.below(100);
    void*& slot = slots_[rng_.below(slots_.size())];
    if (r < 50) {
      release(slot);
      slot = allocate();
    } else if (r < 80) {
      release(slot);
      slot = nullptr;
    } else {
      // What comes out of the shared slot is ours now, and may have been
      // allocated by a thread that has exited since.
      slot = trade(slot);
    }
  }

  // The thread is about to exit: leave some of its blocks to others.
  void finish() {
    for (void*& slot : slots_) {
      if (slot != nullptr && rng_.one_in(8))
        slot = trade(slot);
      release(slot);
      slot = nullptr;
    }
  }

  void* trade(void* mine) {
    std::atomic<void*>& shared = shared_.transfer[rng_.below(transfer_slots)];
    // acq_rel: our pattern writes go with the block, and the previous
    // owner's writes come with the one we take.
    return shared.exchange(mine, std::memory_order_acq_rel);
  }

  void* allocate() {
    std::size_t const words = pick_words(rng_);
    void* p = s::Alloc::try_allocate(words * 8);
    if (p == nullptr) {
      std::fprintf(stderr, "stress: allocating %zu bytes failed\n", words * 8);
      s::die();
    }
    s::write_pattern(p, words);
    ++allocations_;
    return p;
  }

  void release(void* p) {
    if (p == nullptr)
      return;
    s::check_pattern(p, "stress");
    s::Alloc::deallocate(p);
    ++frees_;
  }

  Shared& shared_;
  s::Rng rng_;
  std::size_t operations_;
  // The thread's own blocks; the vector itself comes from Ferroc too.
  std::vector<void*, ferroc::allocator<void*>> slots_;
  std::uint64_t allocations_ = 0;
  std::uint64_t frees_ = 0;
};

void run_iteration(Shared& shared, Config const& config, std::size_t iteration) {
  std::vector<std::thread> threads;
  threads.reserve(config.threads);
  for (std::size_t id = 0; id < config.threads; ++id)
    threads.emplace_back([&shared, &config, iteration, id] {
      Worker worker(shared, config, iteration, id);
      worker.run();
    });
  for (std::thread& thread : threads)
    thread.join();
}

// Frees the blocks in the shared slots: about half of them (chosen by `rng`)
// between iterations, all of them at the end.
void drain_transfers(Shared& shared, s::Rng& rng, bool all) {
  std::uint64_t frees = 0;
  for (std::atomic<void*>& slot : shared.transfer) {
    if (!all && rng.one_in(2))
      continue;
    void* p = slot.exchange(nullptr, std::memory_order_acquire); // acquire: the owner's writes
    if (p == nullptr)
      continue;
    s::check_pattern(p, "stress (main thread)");
    s::Alloc::deallocate(p);
    ++frees;
  }
  shared.frees.fetch_add(frees, std::memory_order_relaxed);
}

[[noreturn]] void usage() {
  std::fprintf(stderr, "usage: stress [threads] [scale] [iterations]  (positive numbers)\n");
  std::exit(2);
}

// The size from FERROC_TEST_SCALE = k: scale and iterations are both
// max(20, 5k), so 1 (the CI run) is 32 threads, scale 20, 20 iterations and
// 10 (the full run) is mimalloc's default of 32 threads, scale 50, 50
// iterations.
Config config_from_environment() {
  Config config;
  config.scale = std::max<std::size_t>(20, 5 * s::test_scale());
  config.iterations = config.scale;
  return config;
}

Config parse_arguments(int argc, char** argv) {
  Config config = config_from_environment();
  if (argc > 4)
    usage();
  std::size_t* const fields[] = {&config.threads, &config.scale, &config.iterations};
  for (int i = 1; i < argc; ++i) {
    *fields[i - 1] = s::parse_count(argv[i]);
    if (*fields[i - 1] == 0)
      usage();
  }
  return config;
}

} // namespace

int main(int argc, char** argv) {
  Config const config = parse_arguments(argc, argv);
  auto const start = std::chrono::steady_clock::now();

  Shared shared;
  s::Rng rng(0x57E55);
  for (std::size_t iteration = 0; iteration < config.iterations; ++iteration) {
    run_iteration(shared, config, iteration);
    drain_transfers(shared, rng, iteration + 1 == config.iterations);
  }

  std::chrono::duration<double> const elapsed = std::chrono::steady_clock::now() - start;
  std::uint64_t const allocations = shared.allocations.load(std::memory_order_relaxed);
  std::uint64_t const frees = shared.frees.load(std::memory_order_relaxed);
  std::printf("stress: %zu threads, scale %zu, %zu iterations: %llu allocations, %.2f s\n",
              config.threads, config.scale, config.iterations,
              static_cast<unsigned long long>(allocations), elapsed.count());
  bool ok = true;
  if (allocations != frees) {
    std::fprintf(stderr, "stress: %llu allocations but %llu frees\n",
                 static_cast<unsigned long long>(allocations),
                 static_cast<unsigned long long>(frees));
    ok = false;
  }
  return s::check_segments_returned("stress") && ok ? 0 : 1;
}
