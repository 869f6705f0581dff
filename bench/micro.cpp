// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// Micro benchmarks of the allocation fast path (Google Benchmark).
//
// Two access patterns, for block sizes from 16 B to 4 KiB:
//   pair   allocate one block and free it at once (the free list stays hot);
//   batch  allocate 1000 blocks, then free all 1000 in allocation order.
// Every benchmark reports `items_per_second`, one item being one allocate + deallocate pair, so
// the time per pair is 1 / items_per_second for both patterns.
//
// Allocators: a ferroc Heap (one Arenas/Context/Heap per benchmark thread), glibc malloc/free and
// mimalloc's mi_malloc/mi_free. The mimalloc shared library replaces `malloc` for the whole
// process it is linked into, so the mimalloc benchmarks live in a separate executable: this file is
// built twice, once plain (ferroc and glibc) and once with FERROC_BENCH_MIMALLOC (mimalloc only).
#include <benchmark/benchmark.h>

#include <array>
#include <cstddef>
#include <cstdlib>
#include <string>

#ifdef FERROC_BENCH_MIMALLOC
#include <mimalloc.h>
#else
#include <ferroc/ferroc.hpp>
#endif

namespace {

// The block sizes every pattern runs with.
constexpr std::array<std::int64_t, 8> sizes{16, 32, 64, 128, 256, 512, 1024, 4096};

// How many blocks the batch pattern keeps live at once.
constexpr std::size_t batch_len = 1000;

#ifndef FERROC_BENCH_MIMALLOC
// The trio a thread allocates from. Built once per thread on first use and kept until the thread
// ends, so repeated benchmark runs reuse warm segments instead of mapping fresh ones each time.
struct FerrocThreadHeap {
  ferroc::Arenas<ferroc::MmapAlloc> arenas{ferroc::MmapAlloc{}};
  ferroc::Context<ferroc::MmapAlloc> cx{arenas};
  ferroc::Heap<ferroc::MmapAlloc> heap{cx};

  static ferroc::Heap<ferroc::MmapAlloc>& get() {
    thread_local FerrocThreadHeap instance;
    return instance.heap;
  }
};

// A ferroc Heap. The reference is taken once, outside the timed loop: the loop then sees exactly
// what a user holding a `Heap&` sees (the header-only fast path, inlined).
struct FerrocAlloc {
  ferroc::Heap<ferroc::MmapAlloc>& heap = FerrocThreadHeap::get();

  void* allocate(std::size_t size) noexcept { return heap.try_allocate(size); }
  void deallocate(void* p) noexcept { heap.deallocate(p); }
};

// The C library's allocator (glibc ptmalloc with its per-thread cache on Debian).
struct GlibcAlloc {
  static void* allocate(std::size_t size) noexcept { return std::malloc(size); }
  static void deallocate(void* p) noexcept { std::free(p); }
};
#else
// mimalloc through its own entry points (the process-wide `malloc` is mimalloc here as well).
struct MimallocAlloc {
  static void* allocate(std::size_t size) noexcept { return mi_malloc(size); }
  static void deallocate(void* p) noexcept { mi_free(p); }
};
#endif

// Allocate a few blocks first so that first-use setup (thread heap, page claims) is not timed,
// and report a failing allocator instead of timing null pointers.
template <class Alloc> bool warm_up(benchmark::State& state, Alloc alloc, std::size_t size) {
  std::array<void*, batch_len> blocks{};
  bool ok = true;
  for (void*& p : blocks) {
    p = alloc.allocate(size);
    ok = ok && p != nullptr;
  }
  for (void* p : blocks) {
    alloc.deallocate(p);
  }
  if (!ok) {
    state.SkipWithError("allocation returned null");
  }
  return ok;
}

// Allocate one block and free it at once.
template <class Alloc> void bm_pair(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  Alloc alloc;
  if (!warm_up(state, alloc, size)) {
    return;
  }
  for (auto _ : state) {
    void* p = alloc.allocate(size);
    benchmark::DoNotOptimize(p); // the block escapes: the pair cannot be elided
    alloc.deallocate(p);
    benchmark::ClobberMemory(); // no allocator state is carried in registers across iterations
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

// Allocate `batch_len` blocks, then free them all in allocation order.
template <class Alloc> void bm_batch(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  Alloc alloc;
  if (!warm_up(state, alloc, size)) {
    return;
  }
  std::array<void*, batch_len> blocks{};
  for (auto _ : state) {
    for (void*& p : blocks) {
      p = alloc.allocate(size);
      benchmark::DoNotOptimize(p);
    }
    benchmark::ClobberMemory();
    for (void* p : blocks) {
      alloc.deallocate(p);
    }
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(batch_len));
}

// Registers "<name>/pair/<size>" and "<name>/batch/<size>" for every size.
template <class Alloc> void register_allocator(const std::string& name) {
  auto* pair = benchmark::RegisterBenchmark((name + "/pair").c_str(), bm_pair<Alloc>);
  auto* batch = benchmark::RegisterBenchmark((name + "/batch").c_str(), bm_batch<Alloc>);
  for (const std::int64_t size : sizes) {
    pair->Arg(size);
    batch->Arg(size);
  }
}

} // namespace

int main(int argc, char** argv) {
#ifdef FERROC_BENCH_MIMALLOC
  register_allocator<MimallocAlloc>("mimalloc");
#else
  register_allocator<FerrocAlloc>("ferroc");
  register_allocator<GlibcAlloc>("glibc");
#endif
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    return 1;
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
