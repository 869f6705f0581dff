// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// Statistics (FERROC_STAT=1, set for this executable): exact block counts
// per class, remote frees counted when the owner takes them in, huge
// blocks, the page/segment/committed/reserved gauges and their peaks, the
// registry of heaps across threads, the global allocator, and the printed
// table.

#include <catch2/catch.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <ferroc/ferroc.hpp>

static_assert(ferroc::detail::stats_enabled, "this suite is built with FERROC_STAT=1");

namespace {

using ferroc::Stats;
using ferroc::detail::class_size;
using ferroc::detail::size_class_of;

using Arenas = ferroc::Arenas<ferroc::MmapAlloc>;
using Context = ferroc::Context<ferroc::MmapAlloc>;
using Heap = ferroc::Heap<ferroc::MmapAlloc>;

// The request that fills a block of `size` bytes: checked mode adds a
// trailer to every request, and the counts below are of block sizes.
constexpr std::size_t fit(std::size_t size) {
  if (ferroc::detail::checked)
    return size - ferroc::detail::checked_extra;
  return size - ferroc::detail::canary_extra; // 0 without secure mode
}

Stats::Class const& class_of(Stats const& s, std::size_t size) {
  return s.classes[size_class_of(size)];
}

// The line of `out` that starts with `head`, its columns separated by one
// space each.
std::string row(std::string const& out, std::string const& head) {
  std::size_t at = out.find("\n" + head);
  if (at == std::string::npos)
    return {};
  std::string line = out.substr(at + 1, out.find('\n', at + 1) - at - 1);
  std::string squeezed;
  for (char ch : line)
    if (ch != ' ' || (!squeezed.empty() && squeezed.back() != ' '))
      squeezed += ch;
  return squeezed;
}

// Everything fe_stats_print / print_stats writes, read back through a pipe.
std::string printed(Stats const& s) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  ferroc::print_stats(s, fds[1]);
  close(fds[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;)
    out.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  return out;
}

} // namespace

TEST_CASE("stats: blocks are counted per size class, by heap and by arenas", "[stats]") {
  Arenas arenas{ferroc::MmapAlloc{}};
  Context cx(arenas);
  Heap heap(cx);

  std::vector<void*> small, medium;
  for (int i = 0; i < 300; ++i)
    small.push_back(heap.try_allocate(fit(32)));
  for (int i = 0; i < 40; ++i)
    medium.push_back(heap.try_allocate(fit(5000)));
  for (int i = 0; i < 100; ++i)
    heap.deallocate(small[static_cast<std::size_t>(i)]);

  Stats const h = heap.stats();
  REQUIRE(h.enabled);
  CHECK(class_of(h, 32).block_size == 32);
  CHECK(class_of(h, 32).allocs == 300);
  CHECK(class_of(h, 32).frees == 100);
  CHECK(class_of(h, 5000).allocs == 40);
  CHECK(class_of(h, 5000).frees == 0);
  CHECK(h.allocs == 340);
  CHECK(h.frees == 100);
  std::size_t const c5000 = class_size(size_class_of(5000));
  CHECK(h.bytes_allocated == 300 * 32 + 40 * c5000);
  CHECK(h.bytes_in_use() == 200 * 32 + 40 * c5000);
  // 32 B: the first page (shortened by the segment header); 5 KiB blocks:
  // twelve to each further 64 KiB page.
  CHECK(h.pages.current == 1 + (40 + 11) / 12);
  CHECK(h.segments.current == 1);
  CHECK(h.heaps == 1);

  // The arenas' view is the same while one heap is alive.
  Stats const a = arenas.stats();
  CHECK(a.allocs == 340);
  CHECK(a.frees == 100);
  CHECK(a.heaps == 1);
  CHECK(a.pages.current == h.pages.current);
  CHECK(a.segments.current == 1);

  for (std::size_t i = 100; i < small.size(); ++i)
    heap.deallocate(small[i]);
  for (void* p : medium)
    heap.deallocate(p);
  Stats const after = heap.stats();
  CHECK(after.frees == after.allocs);
  CHECK(after.bytes_in_use() == 0);
  CHECK(after.pages.peak == h.pages.current);
}

TEST_CASE("stats: zeroed, aligned and reallocated blocks count like the others", "[stats]") {
  Arenas arenas{ferroc::MmapAlloc{}};
  Context cx(arenas);
  Heap heap(cx);
  void* z = heap.allocate_zeroed(fit(100));
  void* al = heap.try_allocate(fit(64), 256); // padded: one block of a larger class
  void* r =
      heap.reallocate(heap.try_allocate(fit(32)), fit(4000)); // moves: one more alloc and a free
  Stats const s = heap.stats();
  CHECK(s.allocs == 4);
  CHECK(s.frees == 1);
  CHECK(class_of(s, 100).allocs == 1);
  CHECK(class_of(s, 4000).allocs == 1);
  heap.deallocate(z);
  heap.deallocate(al);
  heap.deallocate(r);
  CHECK(heap.stats().frees == 4);
}

TEST_CASE("stats: blocks freed by other threads are counted when the owner takes them in",
          "[stats][threads]") {
  Arenas arenas{ferroc::MmapAlloc{}};
  Context cx(arenas);
  Heap heap(cx);
  std::vector<void*> blocks;
  for (int i = 0; i < 1000; ++i)
    blocks.push_back(heap.try_allocate(fit(48)));
  std::thread([&] {
    Context other_cx(arenas);
    Heap other(other_cx);
    for (void* p : blocks)
      other.deallocate(p);
    // Frees of another heap's blocks are not this heap's.
    CHECK(other.stats().frees == 0);
    CHECK(arenas.stats().heaps == 2);
  }).join();
  CHECK(heap.stats().frees == 0); // still on the pages' remote lists
  heap.collect();
  CHECK(heap.stats().frees == 1000);
  Stats const a = arenas.stats();
  CHECK(a.allocs == 1000);
  CHECK(a.frees == 1000);
  CHECK(a.heaps == 1);
}

TEST_CASE("stats: the counts of exited heaps stay in the arenas' totals", "[stats][threads]") {
  Arenas arenas{ferroc::MmapAlloc{}};
  constexpr int threads = 4;
  constexpr int per_thread = 500;
  std::vector<void*> kept[threads];
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      Context cx(arenas);
      Heap heap(cx);
      for (int i = 0; i < per_thread; ++i) {
        void* p = heap.try_allocate(fit(static_cast<std::size_t>(32 + (i % 8) * 100)));
        if (i % 2 == 0)
          heap.deallocate(p);
        else
          kept[t].push_back(p); // outlives the heap: its segment is abandoned
      }
    });
  }
  for (auto& th : pool)
    th.join();
  Stats s = arenas.stats();
  CHECK(s.heaps == 0);
  CHECK(s.allocs == std::uint64_t{threads} * per_thread);
  CHECK(s.frees == std::uint64_t{threads} * per_thread / 2);
  // A thread that starts after another ended may have reclaimed its segment.
  CHECK(s.abandoned_segments >= 1);
  CHECK(s.pages.current > 0);

  // A new heap frees the rest; reclaiming the abandoned segments takes the
  // remote frees in, and the totals balance.
  Context cx(arenas);
  Heap heap(cx);
  for (auto& list : kept)
    for (void* p : list)
      heap.deallocate(p);
  heap.collect(true);
  s = arenas.stats();
  CHECK(s.abandoned_segments == 0);
  CHECK(s.frees == s.allocs);
  CHECK(s.bytes_in_use() == 0);
  CHECK(s.pages.current == 0);
  CHECK(s.pages.peak >= threads);
}

TEST_CASE("stats: huge blocks, segments, committed and reserved bytes", "[stats]") {
  Arenas arenas{ferroc::MmapAlloc{}};
  Context cx(arenas);
  Heap heap(cx);
  CHECK(arenas.stats().reserved.current == 0);

  void* huge = heap.try_allocate(fit(10 << 20));
  REQUIRE(huge != nullptr);
  Stats s = arenas.stats();
  CHECK(s.huge_blocks.current == 1);
  CHECK(s.huge_bytes.current == 10 << 20);
  CHECK(s.huge_allocs == 1);
  CHECK(s.bytes_allocated == 10 << 20);
  CHECK(s.segments.current == 1);
  // The first arena is as large as the run the block needs (arenas start
  // small and grow with use).
  CHECK(s.reserved.current == 3 * ferroc::detail::segment_size);
  CHECK(s.committed.current == 3 * ferroc::detail::segment_size); // 10 MiB and the header
  CHECK(heap.stats().huge_allocs == 0);                           // huge blocks belong to no heap

  heap.deallocate(huge);
  // Released slots stay committed for the purge delay; a forced collect
  // purges them now.
  CHECK(arenas.stats().committed.current == 3 * ferroc::detail::segment_size);
  heap.collect(true);
  s = arenas.stats();
  CHECK(s.huge_blocks.current == 0);
  CHECK(s.huge_blocks.peak == 1);
  CHECK(s.huge_bytes.peak == 10 << 20);
  CHECK(s.huge_frees == 1);
  CHECK(s.segments.current == 0);
  CHECK(s.segments.peak == 1);
  CHECK(s.committed.current == 0);
  CHECK(s.committed.peak == 3 * ferroc::detail::segment_size);

  // Free pages given back with a decommit no longer count as committed.
  std::vector<void*> blocks;
  for (int i = 0; i < 4000; ++i) // about 1000 small pages' worth... of 64 KiB: 62 pages
    blocks.push_back(heap.try_allocate(fit(1000)));
  s = arenas.stats();
  CHECK(s.pages.current >= 60);
  std::size_t const committed_full = s.committed.current;
  for (std::size_t i = 0; i < blocks.size(); ++i)
    if (i >= 100)
      heap.deallocate(blocks[i]);
  heap.collect(true);
  s = arenas.stats();
  CHECK(s.pages.current <= 3);
  CHECK(s.committed.current < committed_full);
  CHECK(s.committed.current >= s.pages.current * ferroc::detail::small_page_size);
  for (std::size_t i = 0; i < 100; ++i)
    heap.deallocate(blocks[i]);
  // Reusing decommitted pages counts them in again.
  for (int i = 0; i < 4000; ++i)
    blocks[static_cast<std::size_t>(i)] = heap.try_allocate(fit(1000));
  CHECK(arenas.stats().committed.current == committed_full);
  for (void* p : blocks)
    heap.deallocate(p);
}

TEST_CASE("stats: guarded blocks count as huge blocks, freed when freed", "[stats][guarded]") {
  Arenas arenas{ferroc::MmapAlloc{}};
  Context cx(arenas);
  Heap heap(cx);
  void* p = heap.try_allocate_guarded(100);
  REQUIRE(p != nullptr);
  bool const guarded = !ferroc::detail::instrumented; // checked mode: an ordinary block
  Stats s = arenas.stats();
  if (guarded) {
    CHECK(s.huge_blocks.current == 1);
    CHECK(s.huge_bytes.current == 112); // 100 rounded up to 16
    CHECK(s.huge_allocs == 1);
    CHECK(s.segments.current == 1);
    CHECK(s.reserved.current == ferroc::detail::segment_size);
  }
  CHECK(s.allocs == 1);
  heap.deallocate(p);
  s = arenas.stats();
  // Counted freed at once, though its segment waits in the quarantine.
  CHECK(s.huge_blocks.current == 0);
  CHECK(s.frees == 1);
  CHECK(s.bytes_in_use() == 0);
  if (guarded)
    CHECK(s.segments.current == 1);
}

TEST_CASE("stats: destroy counts every block of the heap freed", "[stats]") {
  Arenas arenas{ferroc::MmapAlloc{}};
  Context cx(arenas);
  Heap heap(cx);
  for (int i = 0; i < 777; ++i)
    (void)heap.try_allocate(fit(static_cast<std::size_t>(32 + i % 300)));
  heap.destroy();
  Stats const s = heap.stats();
  CHECK(s.allocs == 777);
  CHECK(s.frees == 777);
  CHECK(s.pages.current == 0);
}

TEST_CASE("stats: the global allocator adds up every thread", "[stats][global]") {
  using G = ferroc::DefaultGlobal;
  Stats const before = ferroc::stats();
  std::atomic<int> ready{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < 3; ++t) {
    pool.emplace_back([&] {
      std::vector<void*> v;
      for (int i = 0; i < 1000; ++i)
        v.push_back(G::try_allocate(fit(200)));
      for (void* p : v)
        G::deallocate(p);
      ready.fetch_add(1);
    });
  }
  for (auto& th : pool)
    th.join();
  Stats const after = ferroc::stats();
  CHECK(ready.load() == 3);
  CHECK(class_of(after, 200).allocs - class_of(before, 200).allocs == 3000);
  CHECK(class_of(after, 200).frees - class_of(before, 200).frees == 3000);
}

TEST_CASE("stats: print_stats writes a table of the used classes", "[stats]") {
  Arenas arenas{ferroc::MmapAlloc{}};
  Context cx(arenas);
  Heap heap(cx);
  std::vector<void*> v;
  for (int i = 0; i < 12345; ++i)
    v.push_back(heap.try_allocate(fit(64)));
  void* huge = heap.try_allocate(fit(5 << 20));
  std::string const out = printed(arenas.stats());
  CHECK(out.find("ferroc statistics\n") == 0);
  CHECK(row(out, "4 ") == "4 64 B 12345 0 12345 771.5 KiB");
  CHECK(row(out, "huge ") == "huge - 1 0 1 5.0 MiB");
  CHECK(row(out, "total ") == "total - 12346 0 12346 5.7 MiB");
  CHECK(row(out, "huge bytes") == "huge bytes 5.0 MiB 5.0 MiB");
  // An arena of one slot for the small blocks' segment, then one of two
  // for the huge block (arenas start small and grow with use).
  CHECK(row(out, "reserved") == "reserved 12.0 MiB 12.0 MiB");
  CHECK(out.find("heaps alive 1") != std::string::npos);
  // Only classes that were used have a row.
  CHECK(out.find(" 32 B ") == std::string::npos);
  heap.deallocate(huge);
  for (void* p : v)
    heap.deallocate(p);
}
