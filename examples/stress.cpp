// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// A multithreaded stress test in the style of mimalloc's mstress: in every iteration a fresh set
// of threads allocates and frees blocks of random sizes, keeps some of them for a while, and
// swaps others through a shared transfer table, so that blocks are freed by threads that did
// not allocate them, often after their allocating thread has exited.
//
// Every block is filled with words derived from its length and a cookie; whoever frees a
// block checks them first, so any overlap or stray write shows up as corruption. The same
// workload runs on ferroc's global allocator and on the system malloc, and the example prints
// both times. Returns nonzero on a wrong result.
//
//   stress [threads] [scale] [iterations]     (defaults: 4 threads, scale 50, 10 iterations)
#include <ferroc/ferroc.hpp>

#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <thread>
#include <vector>

#include "example_util.hpp"

namespace {

using example::FerrocAlloc;
using example::Rng;
using example::SystemAlloc;

constexpr std::uint64_t cookie = 0xBF58476D1CE4E5B9ULL;
constexpr std::size_t max_items = std::size_t{1} << 17; // 1 MiB blocks at most
constexpr std::size_t transfer_slots = 1000;

std::array<std::atomic<std::uint64_t*>, transfer_slots> transfer{};
std::atomic<std::size_t> corrupted{0};
std::atomic<std::size_t> failed{0};

// A block of `items` words: word i holds (items - i) ^ cookie, so word 0 also tells the length.
template <class A> std::uint64_t* alloc_items(std::size_t items, Rng& rng) {
  // Now and then a much bigger block, as real programs do.
  if (rng.chance(1))
    items *= 100;
  if (items > max_items)
    items = max_items;
  if (items == 0)
    items = 1;
  auto* p = static_cast<std::uint64_t*>(A::allocate(items * sizeof(std::uint64_t)));
  if (p == nullptr) {
    failed.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  for (std::size_t i = 0; i < items; ++i)
    p[i] = (items - i) ^ cookie;
  return p;
}

template <class A> void free_items(std::uint64_t* p) {
  if (p == nullptr)
    return;
  std::uint64_t const items = p[0] ^ cookie;
  if (items == 0 || items > max_items) {
    corrupted.fetch_add(1, std::memory_order_relaxed);
    return; // the length itself is wrong: do not walk the block, nor free it
  }
  for (std::uint64_t i = 0; i < items; ++i) {
    if (p[i] != ((items - i) ^ cookie)) {
      corrupted.fetch_add(1, std::memory_order_relaxed);
      break;
    }
  }
  A::deallocate(p);
}

// One thread of one iteration.
template <class A> void stress(std::size_t tid, std::size_t iteration, std::size_t scale) {
  Rng rng(tid * 1000003 + iteration * 7919 + 1);
  std::size_t allocs = 100 * scale * (tid % 8 + 1); // some threads do more work than others
  std::size_t retain = allocs / 2;
  std::vector<std::uint64_t*> data;
  std::vector<std::uint64_t*> retained;
  while (allocs > 0 || retain > 0) {
    if (retain == 0 || (allocs > 0 && rng.chance(50))) {
      --allocs;
      std::uint64_t* p = alloc_items<A>(1 + rng.below(64), rng);
      if (data.empty() || rng.chance(50)) {
        data.push_back(p);
      } else {
        std::size_t const i = rng.below(data.size());
        free_items<A>(data[i]);
        data[i] = p;
      }
    } else {
      --retain;
      retained.push_back(alloc_items<A>(1 + rng.below(128), rng));
    }
    if (!data.empty() && rng.chance(10)) {
      // Free one of ours...
      std::size_t const i = rng.below(data.size());
      free_items<A>(data[i]);
      data[i] = nullptr;
    }
    if (!data.empty() && rng.chance(25)) {
      // ... or swap one with the transfer table: the block we get back was likely allocated
      // by another thread, maybe one that has exited already.
      std::size_t const i = rng.below(data.size());
      std::size_t const slot = rng.below(transfer_slots);
      // acq_rel: we publish our block's contents and read the other's.
      data[i] = transfer[slot].exchange(data[i], std::memory_order_acq_rel);
    }
  }
  for (std::uint64_t* p : retained)
    free_items<A>(p);
  for (std::uint64_t* p : data)
    free_items<A>(p);
}

template <class A> double run(std::size_t threads, std::size_t scale, std::size_t iterations) {
  auto const start = std::chrono::steady_clock::now();
  for (std::size_t it = 0; it < iterations; ++it) {
    std::vector<std::thread> pool;
    for (std::size_t t = 0; t < threads; ++t)
      pool.emplace_back([t, it, scale] { stress<A>(t, it, scale); });
    for (auto& th : pool)
      th.join();
  }
  // What is left in the transfer table outlived its threads.
  for (auto& slot : transfer)
    free_items<A>(slot.exchange(nullptr, std::memory_order_acquire));
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

} // namespace

int main(int argc, char** argv) {
  std::size_t threads = 4;
  std::size_t scale = 50;
  std::size_t iterations = 10;
  if ((argc > 1 && !example::parse(argv[1], 1, 256, threads)) ||
      (argc > 2 && !example::parse(argv[2], 1, 100000, scale)) ||
      (argc > 3 && !example::parse(argv[3], 1, 100000, iterations))) {
    std::fprintf(stderr, "usage: stress [threads: 1..256] [scale: 1..100000] [iterations]\n");
    return 2;
  }

  double const f = run<FerrocAlloc>(threads, scale, iterations);
  std::printf("stress: %s %zu threads, scale %zu, %zu iterations: %.3f s\n", FerrocAlloc::name,
              threads, scale, iterations, f);
  double const m = run<SystemAlloc>(threads, scale, iterations);
  std::printf("stress: %s %zu threads, scale %zu, %zu iterations: %.3f s\n", SystemAlloc::name,
              threads, scale, iterations, m);

  int failures = 0;
  if (corrupted.load() != 0) {
    std::fprintf(stderr, "stress: FAILED: %zu corrupted blocks\n", corrupted.load());
    ++failures;
  }
  if (failed.load() != 0) {
    std::fprintf(stderr, "stress: FAILED: %zu allocations returned nullptr\n", failed.load());
    ++failures;
  }
  return failures == 0 ? 0 : 1;
}
