// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// Blocks that change threads (in the style of xmalloc-test): producer threads allocate batches
// of blocks and hand them over a shared queue to consumer threads, which check and free them.
// Every free is a cross-thread free, the case that a per-thread allocator must make cheap.
//
// The same workload runs on ferroc's global allocator and on the system malloc, and the
// example prints both times. Each block carries a pattern derived from its producer and
// sequence number; a consumer that finds it changed counts an error. Returns nonzero on a
// wrong result.
//
//   exchange [pairs] [batches] [batch_size]    (defaults: 2 pairs, 2000 batches, 64 blocks)
#include <ferroc/ferroc.hpp>

#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "example_util.hpp"

namespace {

using example::FerrocAlloc;
using example::SystemAlloc;

// A block's first word is its size, the second its tag; the rest repeats the tag.
struct Header {
  std::size_t size;
  std::uint64_t tag;
};

constexpr std::size_t min_block = sizeof(Header);

std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 33U;
  x *= 0xFF51AFD7ED558CCDULL;
  x ^= x >> 33U;
  return x;
}

void fill(void* p, std::size_t size, std::uint64_t tag) {
  auto* h = static_cast<Header*>(p);
  h->size = size;
  h->tag = tag;
  auto* bytes = static_cast<std::uint8_t*>(p);
  for (std::size_t i = sizeof(Header); i < size; ++i)
    bytes[i] = static_cast<std::uint8_t>(tag + i);
}

bool intact(void const* p, std::size_t expected_size) {
  auto const* h = static_cast<Header const*>(p);
  if (h->size != expected_size)
    return false;
  auto const* bytes = static_cast<std::uint8_t const*>(p);
  for (std::size_t i = sizeof(Header); i < h->size; ++i) {
    if (bytes[i] != static_cast<std::uint8_t>(h->tag + i))
      return false;
  }
  return true;
}

struct Batch {
  std::vector<void*> blocks;
  std::vector<std::size_t> sizes;
};

// A plain locked queue: the allocator, not the queue, is what is being exercised.
class Queue {
public:
  void push(Batch b) {
    {
      std::lock_guard<std::mutex> guard(lock_);
      items_.push_back(std::move(b));
    }
    ready_.notify_one();
  }
  // False once every producer is done and the queue is empty.
  bool pop(Batch& out) {
    std::unique_lock<std::mutex> guard(lock_);
    ready_.wait(guard, [this] { return !items_.empty() || producers_left_ == 0; });
    if (items_.empty())
      return false;
    out = std::move(items_.front());
    items_.pop_front();
    return true;
  }
  void set_producers(std::size_t n) { producers_left_ = n; }
  void producer_done() {
    {
      std::lock_guard<std::mutex> guard(lock_);
      --producers_left_;
    }
    ready_.notify_all();
  }

private:
  std::mutex lock_;
  std::condition_variable ready_;
  std::deque<Batch> items_;
  std::size_t producers_left_ = 0;
};

struct Totals {
  std::size_t allocated = 0;
  std::size_t freed = 0;
  std::size_t errors = 0;
  double seconds = 0;
};

template <class A> Totals run(std::size_t pairs, std::size_t batches, std::size_t batch_size) {
  Queue queue;
  queue.set_producers(pairs);
  std::vector<std::size_t> allocated(pairs);
  std::vector<std::size_t> failed(pairs);
  std::vector<std::size_t> freed(pairs);
  std::vector<std::size_t> errors(pairs);
  auto const start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < pairs; ++t) {
    threads.emplace_back([&, t] {
      std::uint64_t seq = 0;
      for (std::size_t b = 0; b < batches; ++b) {
        Batch batch;
        batch.blocks.reserve(batch_size);
        batch.sizes.reserve(batch_size);
        for (std::size_t i = 0; i < batch_size; ++i) {
          std::uint64_t const tag = (std::uint64_t{t} << 48U) | seq++;
          // Mostly small blocks, now and then a few KiB.
          std::uint64_t const r = mix(tag);
          std::size_t const size = min_block + (r % 16 == 0 ? r % 8192 : r % 240);
          void* p = A::allocate(size);
          if (p == nullptr) {
            ++failed[t];
            continue;
          }
          fill(p, size, tag);
          batch.blocks.push_back(p);
          batch.sizes.push_back(size);
        }
        allocated[t] += batch.blocks.size();
        queue.push(std::move(batch));
      }
      queue.producer_done();
    });
    threads.emplace_back([&, t] {
      Batch batch;
      while (queue.pop(batch)) {
        for (std::size_t i = 0; i < batch.blocks.size(); ++i) {
          if (!intact(batch.blocks[i], batch.sizes[i]))
            ++errors[t];
          A::deallocate(batch.blocks[i]);
          ++freed[t];
        }
      }
    });
  }
  for (auto& th : threads)
    th.join();
  Totals totals;
  totals.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (std::size_t t = 0; t < pairs; ++t) {
    totals.allocated += allocated[t];
    totals.freed += freed[t];
    totals.errors += errors[t] + failed[t];
  }
  return totals;
}

template <class A> bool report(std::size_t pairs, std::size_t batches, std::size_t batch_size) {
  Totals const t = run<A>(pairs, batches, batch_size);
  std::size_t const expected = pairs * batches * batch_size;
  std::printf("exchange: %-6s %zu blocks through %zu producer/consumer pairs in %.3f s (%.1f M "
              "blocks/s)\n",
              A::name, t.freed, pairs, t.seconds,
              t.seconds > 0 ? static_cast<double>(t.freed) / t.seconds / 1e6 : 0.0);
  bool ok = true;
  if (t.errors != 0) {
    std::fprintf(stderr, "exchange: FAILED (%s): %zu blocks failed or arrived corrupted\n", A::name,
                 t.errors);
    ok = false;
  }
  if (t.allocated != expected || t.freed != expected) {
    std::fprintf(stderr, "exchange: FAILED (%s): %zu allocated, %zu freed, %zu expected\n", A::name,
                 t.allocated, t.freed, expected);
    ok = false;
  }
  return ok;
}

} // namespace

int main(int argc, char** argv) {
  std::size_t pairs = 2;
  std::size_t batches = 2000;
  std::size_t batch_size = 64;
  if ((argc > 1 && !example::parse(argv[1], 1, 64, pairs)) ||
      (argc > 2 && !example::parse(argv[2], 1, 10000000, batches)) ||
      (argc > 3 && !example::parse(argv[3], 1, 100000, batch_size))) {
    std::fprintf(stderr,
                 "usage: exchange [pairs: 1..64] [batches: 1..10000000] [batch_size: 1..100000]\n");
    return 2;
  }
  bool ok = report<FerrocAlloc>(pairs, batches, batch_size);
  ok = report<SystemAlloc>(pairs, batches, batch_size) && ok;
  return ok ? 0 : 1;
}
