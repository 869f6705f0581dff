// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// Heaps on several threads: blocks freed by a thread other than the one that
// allocated them, heaps that die while their blocks live on (abandoned
// segments), and reclaiming those segments from a new heap.
//
// Scale: FERROC_TEST_SCALE multiplies the blocks per thread (default 1 =
// 100k blocks per thread, the CI run; 10 for the full run).
#include <ferroc/ferroc.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <memory_resource>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "test_util.hpp"

namespace {

using ferroc_test::check_pattern;
using ferroc_test::fill_pattern;
using ferroc_test::KiB;
using ferroc_test::MiB;

using MmapArenas = ferroc::Arenas<ferroc::OsAlloc>;
using MmapContext = ferroc::Context<ferroc::OsAlloc>;
using MmapHeap = ferroc::Heap<ferroc::OsAlloc>;

// A block in flight from its producer to the thread that frees it.
struct Item {
  void* block;
  std::uint32_t producer;
  std::uint32_t seq;
};

// What the producer wrote: the tag and the size follow from (producer, seq).
std::uint64_t tag_of(std::uint32_t producer, std::uint32_t seq) {
  return (std::uint64_t{producer} << 32U) | seq;
}

std::size_t size_of(std::uint32_t producer, std::uint32_t seq) {
  // Small sizes, 8..264 bytes, with an occasional medium block.
  if (seq % 997 == 0) {
    return 2 * KiB + (seq % 13) * 1000;
  }
  return 8 + ((seq * 7 + producer) % 33) * 8;
}

// A mutex-protected queue of blocks for one consumer thread.
class Mailbox {
public:
  void push(std::vector<Item>& batch) {
    const std::lock_guard lock{mutex_};
    items_.insert(items_.end(), batch.begin(), batch.end());
    batch.clear();
  }

  void take_all(std::vector<Item>& out) {
    const std::lock_guard lock{mutex_};
    out.assign(items_.begin(), items_.end());
    items_.clear();
  }

private:
  std::mutex mutex_;
  std::deque<Item> items_;
};

// The shared structures' atomics are atomic instructions in a threaded
// build (their single-threaded stand-ins are checked in tests/embedded).
static_assert(ferroc::detail::atomic<int>::atomic_instructions);
static_assert(decltype(ferroc::detail::Page::xthread_free)::atomic_instructions);
static_assert(ferroc::detail::atomic<std::uint64_t>::is_always_lock_free);
static_assert(alignof(ferroc::detail::atomic<std::uint64_t>) == 8);

} // namespace

TEST_CASE("the library's atomics behave as std::atomic", "[threads][atomic]") {
  namespace fd = ferroc::detail;
  fd::atomic<std::uintptr_t> word{6};
  std::uintptr_t expected = 5;
  CHECK_FALSE(word.compare_exchange_strong(expected, 9, fd::memory_order_acq_rel,
                                           fd::memory_order_relaxed));
  CHECK(expected == 6);
  CHECK(word.compare_exchange_strong(expected, 9, fd::memory_order_release));
  expected = 9;
  while (!word.compare_exchange_weak(expected, 8, fd::memory_order_acq_rel)) {
    REQUIRE(expected == 9); // fails only spuriously
  }
  CHECK(word.exchange(9, fd::memory_order_acquire) == 8);
  CHECK(word.fetch_or(16) == 9);
  CHECK(word.fetch_and(~std::uintptr_t{1}) == 25);
  CHECK(word.fetch_add(2, fd::memory_order_relaxed) == 24);
  CHECK(word.fetch_sub(6) == 26);
  word.store(1, fd::memory_order_release);
  CHECK(word.load(fd::memory_order_acquire) == 1);

  std::uint64_t plain = 0b1010;
  fd::atomic_ref<std::uint64_t> ref{plain};
  CHECK(ref.fetch_or(0b0101, fd::memory_order_relaxed) == 0b1010);
  CHECK(ref.fetch_and(0b0110) == 0b1111);
  CHECK(ref.load() == 0b0110);
  CHECK(plain == 0b0110);

  // Many threads at once: no increment is lost.
  fd::atomic<std::size_t> count{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&count] {
      for (int i = 0; i < 10000; ++i)
        count.fetch_add(1, fd::memory_order_relaxed);
    });
  for (auto& th : threads)
    th.join();
  CHECK(count.load() == 40000);
}

TEST_CASE("8 threads free each other's blocks", "[threads][stress]") {
  constexpr std::uint32_t thread_count = 8;
  const auto per_thread = static_cast<std::uint32_t>(100000 * ferroc_test::test_scale());
  constexpr std::size_t batch_size = 64;

  MmapArenas arenas{ferroc::OsAlloc{}};
  const std::size_t start_segments = arenas.segments_in_use();
  std::vector<Mailbox> mailboxes(thread_count);
  // produced[t] is final once done[t] is set (release/acquire pair).
  std::vector<std::atomic<std::uint32_t>> produced(thread_count);
  std::vector<std::atomic<bool>> done(thread_count);
  std::atomic<std::uint64_t> corrupted{0};
  std::atomic<std::uint64_t> failed{0};
  std::atomic<std::uint64_t> freed{0};

  // Thread t allocates, fills and sends its blocks to thread t + 1, and
  // checks and frees the blocks of thread t - 1.
  auto worker = [&](std::uint32_t self) {
    MmapContext cx{arenas};
    MmapHeap heap{cx};
    const std::uint32_t next = (self + 1) % thread_count;
    const std::uint32_t previous = (self + thread_count - 1) % thread_count;
    Mailbox& outbox = mailboxes[next];
    Mailbox& inbox = mailboxes[self];
    std::vector<Item> batch;
    std::vector<Item> received;
    std::uint32_t consumed = 0;

    auto drain = [&] {
      inbox.take_all(received);
      for (const Item& item : received) {
        const std::size_t size = size_of(item.producer, item.seq);
        if (item.producer != previous ||
            !check_pattern(item.block, size, tag_of(item.producer, item.seq))) {
          corrupted.fetch_add(1, std::memory_order_relaxed);
        }
        heap.deallocate(item.block);
      }
      consumed += static_cast<std::uint32_t>(received.size());
      received.clear();
    };

    std::uint32_t sent = 0;
    for (std::uint32_t seq = 0; seq < per_thread; ++seq) {
      const std::size_t size = size_of(self, seq);
      void* p = heap.try_allocate(size);
      if (p == nullptr) {
        failed.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      fill_pattern(p, size, tag_of(self, seq));
      batch.push_back({p, self, seq});
      ++sent;
      if (batch.size() == batch_size) {
        outbox.push(batch);
        drain();
      }
    }
    outbox.push(batch);
    produced[self].store(sent, std::memory_order_relaxed);
    // Release: the consumer that sees done also sees produced and the pushes.
    done[self].store(true, std::memory_order_release);

    // Our heap may die before the next thread frees our last blocks: that is
    // part of the test (their segments get abandoned).
    for (;;) {
      // Acquire: pairs with the producer's release store above.
      const bool producer_done = done[previous].load(std::memory_order_acquire);
      drain();
      if (producer_done && consumed == produced[previous].load(std::memory_order_relaxed)) {
        break;
      }
      std::this_thread::yield();
    }
    freed.fetch_add(consumed, std::memory_order_relaxed);
  };

  std::vector<std::thread> threads;
  for (std::uint32_t t = 0; t < thread_count; ++t) {
    threads.emplace_back(worker, t);
  }
  for (auto& thread : threads) {
    thread.join();
  }

  CHECK(failed.load() == 0);
  CHECK(corrupted.load() == 0);
  CHECK(freed.load() == std::uint64_t{per_thread} * thread_count);

  // Heaps that died before their last blocks came back left abandoned
  // segments; a new heap reclaims and releases them all.
  MmapContext cx{arenas};
  MmapHeap heap{cx};
  heap.collect(true);
  CHECK(arenas.abandoned_segments() == 0);
  CHECK(arenas.segments_in_use() == start_segments);
}

TEST_CASE("blocks outlive their heap and are freed from another thread", "[threads][abandon]") {
  MmapArenas arenas{ferroc::OsAlloc{}};
  const std::size_t start_segments = arenas.segments_in_use();
  CHECK(arenas.abandoned_segments() == 0);

  struct Block {
    void* p;
    std::size_t size;
  };
  std::vector<Block> blocks;
  {
    MmapContext cx{arenas};
    MmapHeap heap{cx};
    // Small, medium, large and huge blocks, so every segment kind is left
    // behind.
    for (std::size_t i = 0; i < 20000; ++i) {
      std::size_t size = 16 + (i % 64) * 16;
      if (i % 100 == 1) {
        size = 20 * KiB;
      } else if (i % 2000 == 2) {
        size = 700 * KiB;
      } else if (i == 3) {
        size = 6 * MiB;
      }
      void* p = heap.try_allocate(size);
      REQUIRE(p != nullptr);
      fill_pattern(p, size, i);
      blocks.push_back({p, size});
    }
    // heap and cx end here, with every block still live.
  }
  CHECK(arenas.abandoned_segments() > 0);
  CHECK(arenas.segments_in_use() > start_segments);

  std::atomic<std::size_t> corrupted{0};
  std::thread freer([&] {
    MmapContext cx{arenas};
    MmapHeap heap{cx};
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      if (!check_pattern(blocks[i].p, blocks[i].size, i)) {
        corrupted.fetch_add(1, std::memory_order_relaxed);
      }
      // Half through this thread's own heap, half without any heap.
      if (i % 2 == 0) {
        heap.deallocate(blocks[i].p);
      } else {
        arenas.deallocate(blocks[i].p);
      }
    }
  });
  freer.join();
  CHECK(corrupted.load() == 0);

  MmapContext cx{arenas};
  MmapHeap heap{cx};
  heap.collect(true);
  CHECK(arenas.abandoned_segments() == 0);
  CHECK(arenas.segments_in_use() == start_segments);
}

TEST_CASE("a new heap reclaims abandoned segments while blocks are live", "[threads][abandon]") {
  MmapArenas arenas{ferroc::OsAlloc{}};
  const std::size_t start_segments = arenas.segments_in_use();

  // A thread allocates and exits, keeping every other block alive.
  std::vector<void*> survivors;
  std::thread owner([&] {
    MmapContext cx{arenas};
    MmapHeap heap{cx};
    std::vector<void*> all;
    for (std::size_t i = 0; i < 30000; ++i) {
      void* p = heap.try_allocate(64);
      if (p == nullptr) {
        return;
      }
      fill_pattern(p, 64, i);
      all.push_back(p);
    }
    for (std::size_t i = 0; i < all.size(); ++i) {
      if (i % 2 == 1) {
        heap.deallocate(all[i]);
      } else {
        survivors.push_back(all[i]);
      }
    }
  });
  owner.join();
  REQUIRE(survivors.size() == 15000);
  CHECK(arenas.abandoned_segments() > 0);

  {
    MmapContext cx{arenas};
    MmapHeap heap{cx};
    heap.collect(true); // reclaims: the abandoned segments still hold survivors
    CHECK(arenas.abandoned_segments() == 0);

    // The reclaimed pages have free holes: new blocks of the same class fill
    // them and must never land on a survivor.
    std::vector<void*> fresh;
    for (std::size_t i = 0; i < 15000; ++i) {
      void* p = heap.try_allocate(64);
      REQUIRE(p != nullptr);
      fill_pattern(p, 64, ~std::uint64_t{i});
      fresh.push_back(p);
    }
    std::size_t corrupted = 0;
    for (std::size_t i = 0; i < survivors.size(); ++i) {
      corrupted += check_pattern(survivors[i], 64, 2 * i) ? 0 : 1;
    }
    for (std::size_t i = 0; i < fresh.size(); ++i) {
      corrupted += check_pattern(fresh[i], 64, ~std::uint64_t{i}) ? 0 : 1;
    }
    CHECK(corrupted == 0);

    // Survivors go back through the reclaiming heap, fresh ones from a
    // third thread.
    for (void* p : survivors) {
      heap.deallocate(p);
    }
    std::thread other([&] {
      for (void* p : fresh) {
        arenas.deallocate(p);
      }
    });
    other.join();
    heap.collect(true);
  }
  CHECK(arenas.abandoned_segments() == 0);
  CHECK(arenas.segments_in_use() == start_segments);
}

TEST_CASE("large blocks of a dead heap come back to the heap that reclaims them",
          "[threads][abandon][large]") {
  MmapArenas arenas{ferroc::OsAlloc{}};
  const std::size_t start_segments = arenas.segments_in_use();
  // Sizes of several large classes: they share slices of the same segments.
  constexpr std::size_t sizes[] = {80 * KiB, 200 * KiB, 700 * KiB, 1536 * KiB};
  std::vector<void*> survivors;
  std::thread owner([&] {
    MmapContext cx{arenas};
    MmapHeap heap{cx};
    for (std::size_t i = 0; i < 16; ++i) {
      void* p = heap.try_allocate(sizes[i % 4]);
      REQUIRE(p != nullptr);
      // Large blocks start on a slice.
      CHECK(ferroc_test::is_aligned(p, ferroc::detail::large_slice_size));
      fill_pattern(p, sizes[i % 4], i);
      survivors.push_back(p);
    }
  });
  owner.join();
  CHECK(arenas.abandoned_segments() > 0);
  {
    MmapContext cx{arenas};
    MmapHeap heap{cx};
    heap.collect(true); // reclaims the segments; their blocks stay live
    CHECK(arenas.abandoned_segments() == 0);
    std::size_t corrupted = 0;
    for (std::size_t i = 0; i < survivors.size(); ++i) {
      corrupted += check_pattern(survivors[i], sizes[i % 4], i) ? 0 : 1;
    }
    CHECK(corrupted == 0);
    // Half go back from another thread: the heap learns of each free on its
    // next slow path, without a collect.
    std::thread other([&] {
      for (std::size_t i = 0; i < survivors.size(); i += 2) {
        arenas.deallocate(survivors[i]);
      }
    });
    other.join();
    // The freed runs serve new large blocks of other sizes, never a survivor.
    std::vector<void*> fresh;
    for (std::size_t i = 0; i < 8; ++i) {
      void* p = heap.try_allocate(sizes[(i + 1) % 4]);
      REQUIRE(p != nullptr);
      fill_pattern(p, sizes[(i + 1) % 4], ~std::uint64_t{i});
      fresh.push_back(p);
    }
    for (std::size_t i = 1; i < survivors.size(); i += 2) {
      corrupted += check_pattern(survivors[i], sizes[i % 4], i) ? 0 : 1;
      heap.deallocate(survivors[i]);
    }
    for (std::size_t i = 0; i < fresh.size(); ++i) {
      corrupted += check_pattern(fresh[i], sizes[(i + 1) % 4], ~std::uint64_t{i}) ? 0 : 1;
      heap.deallocate(fresh[i]);
    }
    CHECK(corrupted == 0);
    heap.collect(true);
  }
  CHECK(arenas.segments_in_use() == start_segments);
}

TEST_CASE("a new heap leaves alone abandoned segments that cannot serve it",
          "[threads][abandon][large]") {
  MmapArenas arenas{ferroc::OsAlloc{}};
  // Threads that each fill large segments with 1 MiB blocks and exit,
  // leaving the blocks live: their segments are abandoned full.
  constexpr std::size_t block = 1024 * KiB;
  constexpr int owners = 8;
  std::vector<void*> live;
  std::mutex live_lock;
  for (int t = 0; t < owners; ++t) {
    std::thread owner([&] {
      MmapContext cx{arenas};
      MmapHeap heap{cx};
      for (int i = 0; i < 6; ++i) {
        void* p = heap.try_allocate(block);
        REQUIRE(p != nullptr);
        std::lock_guard<std::mutex> guard(live_lock);
        fill_pattern(p, block, live.size());
        live.push_back(p);
      }
    });
    owner.join();
  }
  std::size_t const abandoned = arenas.abandoned_segments();
  REQUIRE(abandoned >= owners);
  {
    // A thread that wants a 1 MiB block looks at some of them, takes in
    // none that is full (it walked all their pages before, and gave them
    // up again at its exit: every new thread took in every one), and
    // claims a segment of its own.
    MmapContext cx{arenas};
    MmapHeap heap{cx};
    void* p = heap.try_allocate(block);
    REQUIRE(p != nullptr);
    std::size_t const full = abandoned - arenas.abandoned_segments();
    CHECK(full <= 1); // at most one with a run left
    heap.deallocate(p);
  }
  // Once blocks come back, the segments serve again: a collect takes them in.
  std::size_t corrupted = 0;
  for (std::size_t i = 0; i < live.size(); ++i) {
    corrupted += check_pattern(live[i], block, i) ? 0 : 1;
    arenas.deallocate(live[i]);
  }
  CHECK(corrupted == 0);
  {
    MmapContext cx{arenas};
    MmapHeap heap{cx};
    heap.collect(true);
    CHECK(arenas.abandoned_segments() == 0);
  }
}

TEST_CASE("many threads free into one heap's pages at once", "[threads][stress]") {
  // One owner allocates; four threads free disjoint quarters concurrently,
  // all pushing onto the same pages' thread-free lists. The owner then
  // reuses the memory.
  MmapArenas arenas{ferroc::OsAlloc{}};
  MmapContext cx{arenas};
  MmapHeap heap{cx};
  const std::size_t count = 40000 * ferroc_test::test_scale();
  std::vector<void*> blocks(count);
  for (std::size_t i = 0; i < count; ++i) {
    blocks[i] = heap.try_allocate(32 + (i % 4) * 16);
    REQUIRE(blocks[i] != nullptr);
    fill_pattern(blocks[i], 32, i);
  }
  const std::size_t segments = arenas.segments_in_use();

  constexpr std::size_t freers = 4;
  std::atomic<std::size_t> corrupted{0};
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < freers; ++t) {
    threads.emplace_back([&, t] {
      for (std::size_t i = t; i < count; i += freers) {
        if (!check_pattern(blocks[i], 32, i)) {
          corrupted.fetch_add(1, std::memory_order_relaxed);
        }
        arenas.deallocate(blocks[i]);
      }
    });
  }
  // Meanwhile the owner keeps allocating and freeing its own blocks.
  for (int round = 0; round < 50; ++round) {
    void* p = heap.try_allocate(48);
    REQUIRE(p != nullptr);
    heap.deallocate(p);
  }
  for (auto& thread : threads) {
    thread.join();
  }
  CHECK(corrupted.load() == 0);

  heap.collect(false);
  for (std::size_t i = 0; i < count; ++i) {
    blocks[i] = heap.try_allocate(32 + (i % 4) * 16);
    REQUIRE(blocks[i] != nullptr);
  }
  // All of it came back: the same blocks fit in the same segments.
  CHECK(arenas.segments_in_use() <= segments);
  for (void* p : blocks) {
    heap.deallocate(p);
  }
}

TEST_CASE("a page counts the blocks other threads free to it, and its owner trusts the count",
          "[threads][stress]") {
  MmapArenas arenas{ferroc::OsAlloc{}};
  MmapContext cx{arenas};
  MmapHeap heap{cx};
  auto page_of = [](void* p) { return ferroc::detail::segment_of(p)->page_of(p); };
  // 200 blocks of 64 B on one page, which has more to hand out.
  std::vector<void*> blocks;
  while (blocks.size() < 200) {
    void* p = heap.try_allocate(64);
    REQUIRE(p != nullptr);
    if (!blocks.empty() && page_of(p) != page_of(blocks.front())) {
      heap.deallocate(p);
      break;
    }
    blocks.push_back(p);
  }
  REQUIRE(blocks.size() == 200);
  ferroc::detail::Page* const pg = page_of(blocks.front());
  REQUIRE(pg->free != nullptr);
  auto listed = [pg] {
    // relaxed: read after the freeing threads were joined.
    return ferroc::detail::thread_free_count(
        pg->xthread_free.load(ferroc::detail::memory_order_relaxed));
  };
  // Four threads free 150 of them at once, all onto the page's one list.
  auto free_from_threads = [&](std::size_t first, std::size_t last) {
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (std::size_t i = first + t; i < last; i += 4)
          arenas.deallocate(blocks[i]);
      });
    }
    for (auto& thread : threads)
      thread.join();
  };
  free_from_threads(0, 150);
  if constexpr (ferroc::detail::thread_free_counted)
    CHECK(listed() == 150);
  // A collect leaves them on the list: the page keeps 50 blocks in use
  // and has free blocks of its own.
  heap.collect(false);
  CHECK(pg->in_use);
  CHECK(pg->used == (ferroc::detail::thread_free_counted ? 200 : 50));
  // Once the others free the last 50, the count says the page is empty.
  free_from_threads(150, 200);
  heap.collect(false);
  CHECK_FALSE(pg->in_use);
  heap.collect(true);
  CHECK(arenas.segments_in_use() == 0);
}

TEST_CASE("a page that runs dry takes back what other threads freed, counted as they pushed",
          "[threads][stress]") {
  MmapArenas arenas{ferroc::OsAlloc{}};
  MmapContext cx{arenas};
  MmapHeap heap{cx};
  // Rounds of: fill whole pages, have four threads free all but one block
  // of each at once, free a few of our own, and allocate them all again.
  // Every block must come back exactly once, and the pages' counts of
  // blocks in use must end at zero.
  const std::size_t count = 20000 * ferroc_test::test_scale();
  std::vector<void*> blocks(count);
  for (int round = 0; round < 4; ++round) {
    for (std::size_t i = 0; i < count; ++i) {
      blocks[i] = heap.try_allocate(48);
      REQUIRE(blocks[i] != nullptr);
      fill_pattern(blocks[i], 48, i + round);
    }
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (std::size_t i = t; i < count; i += 4) {
          if (i % 64 != 0)
            arenas.deallocate(blocks[i]);
        }
      });
    }
    for (std::size_t i = 0; i < count; i += 128)
      heap.deallocate(blocks[i]);
    for (auto& thread : threads)
      thread.join();
    std::vector<void*> again;
    std::set<void*> seen;
    for (std::size_t i = 0; i < count; ++i) {
      if (i % 64 == 0 && i % 128 != 0)
        continue; // still ours
      void* p = heap.try_allocate(48);
      REQUIRE(p != nullptr);
      CHECK(seen.insert(p).second);
      fill_pattern(p, 48, i);
      again.push_back(p);
    }
    for (std::size_t i = 64; i < count; i += 128) {
      CHECK(check_pattern(blocks[i], 48, i + round));
      CHECK(seen.count(blocks[i]) == 0);
      heap.deallocate(blocks[i]);
    }
    for (void* p : again)
      heap.deallocate(p);
  }
  heap.collect(true);
  CHECK(arenas.segments_in_use() == 0);
}

// A Heap belongs to one thread: an allocator bound to it must not follow
// another thread's container into an assignment (it would then allocate
// from that thread's heap, racing with it: ThreadSanitizer reported it in
// the allocation slow path).
TEST_CASE("heap_allocator and heap_resource stay with their container",
          "[threads][heap_allocator]") {
  using IntAlloc = ferroc::heap_allocator<int, ferroc::OsAlloc>;
  using Traits = std::allocator_traits<IntAlloc>;
  static_assert(!Traits::propagate_on_container_copy_assignment::value);
  static_assert(!Traits::propagate_on_container_move_assignment::value);
  static_assert(!Traits::propagate_on_container_swap::value);
  using Vec = std::vector<int, IntAlloc>;
  using PmrVec = std::pmr::vector<int>;

  MmapArenas arenas{ferroc::OsAlloc{}};
  MmapContext cx{arenas};
  MmapHeap mine_heap{cx};
  ferroc::heap_resource<ferroc::OsAlloc> mine_resource{mine_heap};

  // The other thread builds its containers on its own heap, hands them
  // over, and keeps allocating from that heap while this thread grows the
  // containers assigned from them.
  std::atomic<int> stage{0};
  Vec* theirs = nullptr;
  PmrVec const* theirs_pmr = nullptr;
  std::thread other([&] {
    MmapContext other_cx{arenas};
    MmapHeap other_heap{other_cx};
    ferroc::heap_resource<ferroc::OsAlloc> other_resource{other_heap};
    Vec v(1000, 7, IntAlloc{other_heap});
    PmrVec pv(1000, 9, &other_resource);
    theirs = &v;
    theirs_pmr = &pv;
    stage.store(1); // v and pv are built
    while (stage.load() != 2) {
      void* p = other_heap.try_allocate(48);
      other_heap.deallocate(p);
    }
  });
  while (stage.load() != 1)
    std::this_thread::yield();

  Vec mine(IntAlloc{mine_heap});
  mine = *theirs; // copy assignment
  CHECK(mine.get_allocator() == IntAlloc{mine_heap});
  Vec moved_into(IntAlloc{mine_heap});
  moved_into = std::move(*theirs); // between heaps: element by element
  CHECK(moved_into.get_allocator() == IntAlloc{mine_heap});
  PmrVec mine_pmr(&mine_resource);
  mine_pmr = *theirs_pmr;
  CHECK(mine_pmr.get_allocator().resource() == &mine_resource);
  for (int i = 0; i < 100000; ++i) {
    mine.push_back(i);
    moved_into.push_back(i);
    mine_pmr.push_back(i);
  }
  CHECK(mine.size() == 101000);
  CHECK(moved_into.size() == 101000);
  CHECK(mine[999] == 7);
  CHECK(moved_into[999] == 7);
  CHECK(mine_pmr[999] == 9);
  stage.store(2); // we are done with v and pv
  other.join();
}
