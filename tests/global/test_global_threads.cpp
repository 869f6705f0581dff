// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// The default global allocator under threads: blocks handed between threads
// and freed there, and thread churn (many short-lived threads, made with
// std::thread and with pthread_create) whose heaps must be released at
// thread exit and whose memory must come back after a forced collect.
//
// Catch2's assertions are not thread-safe: worker threads count failures in
// atomics that the test thread checks after joining them.
#include <ferroc/ferroc.hpp>

#include <catch2/catch.hpp>

#include <pthread.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "global_test_util.hpp"

namespace {

namespace t = ferroc_global_test;
using G = ferroc::DefaultGlobal;

// ---- blocks handed between threads ------------------------------------------

struct Item {
  void* p;
  std::size_t size;
  std::size_t align;
  std::uint64_t tag;
};

struct Mailbox {
  std::mutex lock;
  std::vector<Item> items;
};

struct Exchange {
  explicit Exchange(std::size_t n) : boxes(n) {}
  std::vector<Mailbox> boxes;
  std::atomic<std::size_t> allocated{0};
  std::atomic<std::size_t> freed{0};
  std::atomic<std::size_t> corrupt{0};
  std::atomic<std::size_t> failed{0};
  std::atomic<std::size_t> misaligned{0};
  std::atomic<std::size_t> finished{0};
};

// Checks and frees every block waiting in `box`.
void drain(Exchange& ex, Mailbox& box) {
  std::vector<Item> taken;
  {
    std::lock_guard<std::mutex> guard(box.lock);
    taken.swap(box.items);
  }
  for (Item const& it : taken) {
    if (!t::holds(it.p, it.size, it.tag))
      ex.corrupt.fetch_add(1, std::memory_order_relaxed);
    if (G::usable_size(it.p) < it.size)
      ex.corrupt.fetch_add(1, std::memory_order_relaxed);
    // Free through each of the three front doors in turn.
    switch (it.tag % 3) {
    case 0:
      G::deallocate(it.p);
      break;
    case 1:
      ferroc::Ferroc::instance().deallocate(it.p);
      break;
    default:
      ferroc::resource()->deallocate(it.p, it.size, it.align);
      break;
    }
    ex.freed.fetch_add(1, std::memory_order_relaxed);
  }
}

void exchange_worker(Exchange& ex, std::size_t self, std::size_t rounds, std::size_t per_round) {
  std::size_t const n = ex.boxes.size();
  t::Rng rng(0x5eed0000 + self);
  std::uint64_t counter = 0;
  for (std::size_t r = 0; r < rounds; ++r) {
    std::size_t const target = (self + 1 + r % (n - 1)) % n;
    std::vector<Item> batch;
    batch.reserve(per_round);
    for (std::size_t i = 0; i < per_round; ++i) {
      std::size_t const size = rng.size();
      std::size_t const align = (rng.below(8) == 0) ? std::size_t{64} << rng.below(4) : 16;
      void* p = G::try_allocate(size, align);
      if (p == nullptr) {
        ex.failed.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      if (!t::is_aligned(p, align))
        ex.misaligned.fetch_add(1, std::memory_order_relaxed);
      std::uint64_t const tag = (std::uint64_t{self} << 40) | counter++;
      t::fill(p, size, tag);
      batch.push_back({p, size, align, tag});
    }
    ex.allocated.fetch_add(batch.size(), std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> guard(ex.boxes[target].lock);
      ex.boxes[target].items.insert(ex.boxes[target].items.end(), batch.begin(), batch.end());
    }
    drain(ex, ex.boxes[self]);
  }
  // Everyone has sent everything once all have finished: drain the rest.
  ex.finished.fetch_add(1, std::memory_order_acq_rel);
  while (ex.finished.load(std::memory_order_acquire) != n)
    std::this_thread::yield();
  drain(ex, ex.boxes[self]);
}

// ---- thread churn -------------------------------------------------------------

// What one short-lived thread does: allocate and free a mix of sizes through
// the global allocator, and leave one block behind for the main thread to
// free after the thread is gone.
struct ChurnResult {
  void* left_behind = nullptr;
  std::size_t left_size = 0;
  std::uint64_t tag = 0;
  bool ok = true;
};

void churn_body(ChurnResult& out, std::uint64_t id) {
  t::Rng rng(id * 7919 + 1);
  std::array<std::pair<void*, std::size_t>, 48> live{};
  for (auto& [p, size] : live) {
    size = rng.size();
    p = G::try_allocate(size);
    if (p == nullptr) {
      out.ok = false;
      return;
    }
    t::fill(p, size, id + size);
  }
  {
    std::vector<std::uint64_t, ferroc::allocator<std::uint64_t>> v;
    for (std::uint64_t i = 0; i < 500; ++i)
      v.push_back(i ^ id);
    for (std::uint64_t i = 0; i < 500; ++i)
      out.ok = out.ok && v[i] == (i ^ id);
  }
  for (auto& [p, size] : live) {
    out.ok = out.ok && t::holds(p, size, id + size);
    G::deallocate(p);
  }
  out.left_size = 100 + id % 2000;
  out.left_behind = G::try_allocate(out.left_size);
  out.tag = id;
  if (out.left_behind == nullptr)
    out.ok = false;
  else
    t::fill(out.left_behind, out.left_size, id);
}

struct PthreadArg {
  ChurnResult* out;
  std::uint64_t id;
};

extern "C" void* churn_pthread_entry(void* arg) {
  auto* a = static_cast<PthreadArg*>(arg);
  churn_body(*a->out, a->id);
  return nullptr;
}

enum class Maker { std_thread, pthread };

// Runs `total` churn threads, `wave` at a time; returns how many failed,
// after checking and freeing what each left behind.
std::size_t run_churn(Maker maker, std::size_t total, std::size_t wave) {
  std::size_t bad = 0;
  std::vector<ChurnResult> results(wave);
  std::vector<PthreadArg> args(wave);
  std::vector<std::thread> threads;
  std::vector<pthread_t> handles(wave);
  std::vector<char> created(wave);
  for (std::size_t started = 0; started < total; started += wave) {
    std::size_t const n = std::min(wave, total - started);
    for (std::size_t i = 0; i < n; ++i) {
      results[i] = ChurnResult{};
      std::uint64_t const id = started + i;
      if (maker == Maker::std_thread) {
        threads.emplace_back([&r = results[i], id] { churn_body(r, id); });
      } else {
        args[i] = {&results[i], id};
        created[i] = pthread_create(&handles[i], nullptr, &churn_pthread_entry, &args[i]) == 0;
        if (created[i] == 0)
          results[i].ok = false;
      }
    }
    if (maker == Maker::std_thread) {
      for (auto& th : threads)
        th.join();
      threads.clear();
    } else {
      for (std::size_t i = 0; i < n; ++i) {
        if (created[i] != 0)
          pthread_join(handles[i], nullptr);
      }
    }
    // The threads are gone: their blocks stay valid and free from here.
    for (std::size_t i = 0; i < n; ++i) {
      ChurnResult const& r = results[i];
      if (!r.ok)
        ++bad;
      if (r.left_behind != nullptr) {
        if (!t::holds(r.left_behind, r.left_size, r.tag))
          ++bad;
        G::deallocate(r.left_behind);
      }
    }
  }
  return bad;
}

} // namespace

TEST_CASE("threads: 8 threads hand blocks to each other to free", "[global][threads]") {
  std::size_t const n = 8;
  std::size_t const rounds = 100 * t::test_scale();
  std::size_t const per_round = 40;
  Exchange ex(n);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < n; ++i)
    threads.emplace_back([&ex, i, rounds] { exchange_worker(ex, i, rounds, per_round); });
  for (auto& th : threads)
    th.join();
  CHECK(ex.failed.load() == 0);
  CHECK(ex.misaligned.load() == 0);
  CHECK(ex.corrupt.load() == 0);
  CHECK(ex.allocated.load() == n * rounds * per_round - ex.failed.load());
  CHECK(ex.freed.load() == ex.allocated.load());
  for (auto& box : ex.boxes)
    CHECK(box.items.empty());
  ferroc::Ferroc::instance().collect(true);
}

TEST_CASE("threads: churn of std::thread and pthread_create threads", "[global][threads][churn]") {
  std::size_t const total = 500 * t::test_scale(); // per kind of thread
  std::size_t const wave = 20;

  // collect works on the calling thread's heap, and a thread that has only
  // freed has none yet: make ours now, so that its collect below can take
  // in what the exited threads abandoned.
  REQUIRE(G::thread_heap() != nullptr);

  // Warm up: the first waves bring thread stacks, the C library's own
  // per-thread arenas and our thread data into being; they stay cached.
  REQUIRE(run_churn(Maker::std_thread, wave * 2, wave) == 0);
  REQUIRE(run_churn(Maker::pthread, wave * 2, wave) == 0);
  ferroc::Ferroc::instance().collect(true);
  std::size_t const segments_before = G::arenas().segments_in_use();
  std::size_t const rss_before = t::resident_bytes();

  CHECK(run_churn(Maker::std_thread, total, wave) == 0);
  CHECK(run_churn(Maker::pthread, total, wave) == 0);

  // Every dead thread's segments were abandoned; a forced collect takes
  // them all in and gives their memory back.
  ferroc::Ferroc::instance().collect(true);
  std::size_t const rss_after = t::resident_bytes();
  std::size_t const segments_after = G::arenas().segments_in_use();
  INFO("segments in use: " << segments_before << " -> " << segments_after);
  INFO("resident: " << rss_before / 1024 << " KiB -> " << rss_after / 1024 << " KiB");
  CHECK(G::arenas().abandoned_segments() == 0);
  CHECK(segments_after <= segments_before + 2);
#if !FERROC_GLOBAL_TEST_SANITIZED && !FERROC_TEST_EMULATED
  CHECK(rss_after <= rss_before + 8 * t::MiB);
#endif
}

TEST_CASE("threads: a block freed by a thread that never allocated", "[global][threads]") {
  void* p = G::try_allocate(1000);
  REQUIRE(p != nullptr);
  t::fill(p, 1000, 99);
  bool ok = false;
  // The thread's first call is a free: it must not need a heap of its own.
  std::thread th([p, &ok] {
    ok = t::holds(p, 1000, 99);
    G::deallocate(p);
  });
  th.join();
  CHECK(ok);
  // And a block allocated by a thread that has exited, freed here.
  void* q = nullptr;
  std::thread th2([&q] {
    q = G::try_allocate(5000);
    if (q != nullptr)
      t::fill(q, 5000, 5);
  });
  th2.join();
  REQUIRE(q != nullptr);
  CHECK(t::holds(q, 5000, 5));
  G::deallocate(q);
}
