// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// Guarded blocks (heap/heap_guarded.hpp), named by the first argument. The
// checks of a fault run the access in a forked child, which must die of
// SIGSEGV (or must not, where no guard is expected); the process exits 0
// when every check holds. Kinds whose name starts with "abort_" commit one
// misuse in a child that must abort with a message (death.h; CTest
// matches it).
//
// Any build with free checks:
//   explicit        Heap::try_allocate_guarded, Global's and the C API's:
//                   an overflow past the block end and a read after free
//                   fault; usable_size, realloc, visit, the segment count,
//                   aligned requests, frees from other threads; over a
//                   Static region, and past the size bound, an ordinary
//                   block;
//   abort_double_free, abort_double_free_capi, abort_interior
//                   the free checks name the misuse of a guarded block.
// Secure builds (FERROC_SECURE=1), with FERROC_GUARDED_SAMPLE_RATE set by
// CTest:
//   sample_all      (rate 1) every allocation, small to large, through
//                   every allocating call, is guarded;
//   sample_none     (unset or 0) none is: a write past the end does not
//                   fault;
//   sample_rate     (rate 8) about one in eight is;
//   sample_many     (rate 1) tens of thousands of live blocks: past the
//                   bound of guarded blocks the rest are ordinary, and all
//                   keep their data, freed here and by another thread.

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include <ferroc/c_api.hpp>
#include <ferroc/ferroc.hpp>

#include "../checked/death.h"

#if FERROC_CHECKED || !FERROC_FREE_CHECKS
#error "guarded.cpp tests release and secure builds: build it without FERROC_CHECKED"
#endif

namespace {

using Base = ferroc::MmapAlloc;

struct Instance {
  ferroc::Arenas<Base> arenas{Base{}};
  ferroc::Context<Base> cx{arenas};
  ferroc::Heap<Base> heap{cx};
};

Instance& instance() {
  static Instance in;
  return in;
}

// Hides a pointer from the optimiser, so that deliberate misuse is neither
// folded away nor warned about.
template <class T> T* launder_ptr(T* p) {
  asm volatile("" : "+r"(p));
  return p;
}

int failures = 0;

void check(bool ok, char const* what) {
  if (!ok) {
    std::fprintf(stderr, "guarded: FAILED: %s\n", what);
    ++failures;
  }
}

// Whether an access to the byte at `p` (a write when `write`) kills a
// child process with SIGSEGV.
bool faults(char* p, bool write) {
  std::fflush(nullptr);
  pid_t const child = fork();
  if (child == 0) {
    alarm(30);
    std::signal(SIGSEGV, SIG_DFL); // a sanitizer's handler would exit instead
    volatile char* q = launder_ptr(p);
    if (write)
      *q = 1;
    else
      (void)*q;
    _exit(0);
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0) {
  }
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV;
}

std::size_t round16(std::size_t n) {
  return (n + 15) & ~std::size_t{15};
}

bool is_guarded(void const* p) {
  ferroc::detail::Segment const* seg = ferroc::detail::segment_of(p);
  return seg->kind == ferroc::detail::PageKind::huge && seg->guarded;
}

// A guarded block of `size` asked for: it holds `size` bytes, all usable;
// a byte past its rounded end faults, its last byte does not.
// A byte before its start, past the OS page it starts in, faults too.
void check_guarded(void* block, std::size_t size, char const* what) {
  auto* p = static_cast<char*>(block);
  if (p == nullptr) {
    check(false, what);
    return;
  }
  check(is_guarded(p), what);
  std::memset(p, 0x5a, size);
  std::size_t const end = round16(size == 0 ? 1 : size);
  check(!faults(p + end - 1, true), what);
  check(faults(p + end, true), what);
  check(faults(p + end, false), what);
  std::size_t const os_page = ferroc::detail::os_page_size();
  std::size_t const into_page = reinterpret_cast<std::uintptr_t>(p) % os_page;
  if (into_page != 0)
    check(!faults(p - 1, false), what);
  // Unless the block starts right after the header (the largest ones).
  auto* header_end = reinterpret_cast<char*>(ferroc::detail::segment_of(p)) +
                     ferroc::detail::align_up(ferroc::detail::segment_header_size, os_page);
  if (p - into_page > header_end) {
    check(faults(p - into_page - 1, false), what);
    check(faults(p - into_page - 1, true), what);
  }
}

int run_explicit() {
  Instance& in = instance();
  namespace capi = ferroc::c_api;

  for (std::size_t size : {0u, 1u, 16u, 48u, 100u, 4096u, 5000u, 100000u, 1u << 20}) {
    void* p = in.heap.try_allocate_guarded(size);
    check_guarded(p, size, "Heap::try_allocate_guarded");
    check(in.heap.usable_size(p) == round16(size == 0 ? 1 : size),
          "usable_size of a guarded block");
    in.heap.deallocate(p);
    check(faults(static_cast<char*>(p), false), "a read after free of a guarded block faults");
  }

  // Zeroed, aligned, and the global and C APIs.
  {
    auto* z = static_cast<unsigned char*>(in.heap.try_allocate_guarded(3000));
    bool zero = true;
    for (std::size_t i = 0; i < 3000; ++i)
      zero = zero && z[i] == 0;
    check(zero, "a fresh guarded block reads as zero");
    in.heap.deallocate(z);
    void* a = in.heap.try_allocate_guarded(100, 256);
    check(a != nullptr && reinterpret_cast<std::uintptr_t>(a) % 256 == 0, "aligned guarded block");
    check(is_guarded(a) && in.heap.usable_size(a) >= 100, "aligned guarded block is guarded");
    check(faults(static_cast<char*>(a) + in.heap.usable_size(a), true),
          "the end of an aligned guarded block faults");
    in.heap.deallocate(a);
    void* g = ferroc::DefaultGlobal::try_allocate_guarded(40);
    check_guarded(g, 40, "Global::try_allocate_guarded");
    ferroc::DefaultGlobal::deallocate(g);
    void* c = capi::malloc_guarded(48);
    check_guarded(c, 48, "c_api::malloc_guarded");
    check(capi::usable_size(c) == 48, "c_api usable_size of a guarded block");
    capi::free(c);
    check(faults(static_cast<char*>(c), true), "a write after free of a guarded block faults");
  }

  // realloc: in place while it fits, else moved with its data.
  {
    auto* p = static_cast<char*>(in.heap.try_allocate_guarded(200));
    std::memset(p, 7, 200);
    check(in.heap.reallocate(p, 150) == p, "realloc of a guarded block shrinks in place");
    auto* q = static_cast<char*>(in.heap.reallocate(p, 5000));
    check(q != nullptr && q != p && q[0] == 7 && q[149] == 7, "realloc moves a guarded block");
    check(faults(p, false), "the block realloc moved away from faults");
    in.heap.deallocate(q);
    auto* r = static_cast<char*>(capi::realloc(capi::malloc_guarded(64), 32));
    check(r != nullptr && is_guarded(r), "c_api realloc keeps a guarded block that fits");
    capi::free(r);
  }

  // visit: the heap's blocks, not the guarded one (no heap owns it), and
  // no fault.
  {
    void* small = in.heap.try_allocate(64);
    void* p = in.heap.try_allocate_guarded(64);
    bool saw_small = false;
    bool saw_guarded = false;
    in.heap.visit([&](void* b, std::size_t) {
      saw_small = saw_small || b == small;
      saw_guarded = saw_guarded || b == p;
    });
    check(saw_small && !saw_guarded, "visit reports the heap's blocks, not guarded ones");
    in.heap.deallocate(p);
    in.heap.visit([&](void* b, std::size_t) { saw_guarded = saw_guarded || b == p; });
    check(!saw_guarded, "visit after a guarded free");
    in.heap.deallocate(small);
  }

  // Segments: one per guarded block; freed ones wait in a bounded
  // quarantine (16 per Arenas), then go back.
  {
    ferroc::Arenas<Base> arenas{Base{}};
    {
      ferroc::Context<Base> cx{arenas};
      ferroc::Heap<Base> heap{cx};
      std::vector<void*> blocks;
      for (int i = 0; i < 40; ++i)
        blocks.push_back(heap.try_allocate_guarded(100));
      check(arenas.segments_in_use() == 40, "a segment per guarded block");
      for (void* p : blocks)
        heap.deallocate(p);
      check(arenas.segments_in_use() == ferroc::detail::guarded_quarantine_slots,
            "freed guarded blocks beyond the quarantine go back");
      check(faults(static_cast<char*>(blocks.back()), false), "the last freed is quarantined");
    }
  }

  // Frees from other threads: a Heap of its own, and none (Arenas).
  {
    auto* p = static_cast<char*>(in.heap.try_allocate_guarded(500));
    auto* q = static_cast<char*>(in.heap.try_allocate_guarded(500));
    std::thread([&] {
      ferroc::Context<Base> cx{in.arenas};
      ferroc::Heap<Base> heap{cx};
      heap.deallocate(p);
      in.arenas.deallocate(q);
    }).join();
    check(faults(p, false) && faults(q, false), "guarded blocks freed by another thread");
  }

  // Ordinary blocks: over a Static region (no page protection), and past
  // the size bound.
  {
    static ferroc::Static<(std::size_t{16} << 20)> region;
    ferroc::Arenas<ferroc::Static<(std::size_t{16} << 20)>> arenas{region};
    ferroc::Context cx{arenas};
    ferroc::Heap heap{cx};
    auto* p = static_cast<char*>(heap.try_allocate_guarded(48));
    check(p != nullptr && !is_guarded(p), "over a Static region a guarded request is ordinary");
    check(!faults(p + 48, true), "no guard over a Static region");
    heap.deallocate(p);
    void* big = in.heap.try_allocate_guarded(ferroc::detail::guarded_size_max() + 1);
    check(big != nullptr && !is_guarded(big), "past guarded_size_max() an ordinary block");
    in.heap.deallocate(big);
    void* max = in.heap.try_allocate_guarded(ferroc::detail::guarded_size_max());
    check_guarded(max, ferroc::detail::guarded_size_max(), "guarded_size_max() itself is guarded");
    in.heap.deallocate(max);
  }

  if (failures == 0)
    std::puts("guarded explicit: every check holds");
  return failures == 0 ? 0 : 1;
}

// Allocations of every kind through every allocating call; `expect`: each
// is guarded (a write past its rounded end faults), or none is.
int run_sample_all(bool expect) {
  Instance& in = instance();
  namespace capi = ferroc::c_api;
  auto judge = [&](void* block, std::size_t size, char const* what) {
    auto* p = static_cast<char*>(block);
    if (p == nullptr) {
      check(false, what);
      return;
    }
    std::memset(p, 0x3c, size);
    check(is_guarded(p) == expect, what);
    check(faults(p + round16(size), true) == expect, what);
  };
  for (std::size_t size : {24u, 512u, 3000u, 20000u, 300000u}) {
    void* a = in.heap.try_allocate(size);
    judge(a, size, "Heap::try_allocate");
    void* z = in.heap.allocate_zeroed(size);
    judge(z, size, "Heap::allocate_zeroed");
    void* m = capi::malloc(size);
    judge(m, size, "c_api::malloc");
    void* c = capi::calloc(1, size);
    judge(c, size, "c_api::calloc");
    void* r = capi::realloc(capi::malloc(8), size);
    judge(r, size, "c_api::realloc");
    in.heap.deallocate(a);
    in.heap.deallocate(z);
    capi::free(m);
    capi::free(c);
    capi::free(r);
    if (expect)
      check(faults(static_cast<char*>(m), false), "a read after free of a sampled block faults");
  }
  void* big = capi::malloc(ferroc::detail::guarded_size_max() + 1);
  check(big != nullptr && !is_guarded(big), "sampling skips sizes past the bound");
  capi::free(big);
  if (failures == 0)
    std::printf("guarded sample_%s: %s allocation guarded\n", expect ? "all" : "none",
                expect ? "every" : "no");
  return failures == 0 ? 0 : 1;
}

int run_sample_rate() {
  Instance& in = instance();
  constexpr int count = 8000;
  int guarded = 0;
  for (int i = 0; i < count; ++i) {
    void* p = i % 2 == 0 ? in.heap.try_allocate(64) : ferroc::c_api::malloc(200);
    guarded += is_guarded(p) ? 1 : 0;
    if (i % 2 == 0)
      in.heap.deallocate(p);
    else
      ferroc::c_api::free(p);
  }
  // About count / 8 = 1000 (standard deviation about 20).
  std::printf("guarded sample_rate: %d of %d allocations guarded at rate 8\n", guarded, count);
  check(guarded >= 800 && guarded <= 1200, "about one allocation in eight is guarded");
  return failures == 0 ? 0 : 1;
}

int run_sample_many() {
  namespace capi = ferroc::c_api;
  constexpr std::size_t count = 30000;
  for (int round = 0; round < 2; ++round) {
    std::vector<unsigned char*> blocks;
    std::size_t guarded = 0;
    for (std::size_t i = 0; i < count; ++i) {
      std::size_t const size = 16 + (i * 7919) % 3000;
      auto* p = static_cast<unsigned char*>(capi::malloc(size));
      if (p == nullptr) {
        check(false, "malloc at rate 1 with many live blocks");
        return 1;
      }
      std::memset(p, static_cast<int>(i & 0xff), size);
      guarded += is_guarded(p) ? 1 : 0;
      blocks.push_back(p);
    }
    std::printf("guarded sample_many: round %d, %zu of %zu live blocks guarded\n", round, guarded,
                count);
    check(guarded >= ferroc::detail::guarded_blocks_max / 2 &&
              guarded <= ferroc::detail::guarded_blocks_max,
          "guarded blocks up to their bound, then ordinary ones");
    bool intact = true;
    for (std::size_t i = 0; i < count; ++i) {
      std::size_t const size = 16 + (i * 7919) % 3000;
      intact = intact && blocks[i][0] == (i & 0xff) && blocks[i][size - 1] == (i & 0xff);
    }
    check(intact, "every block keeps its data");
    std::thread([&] {
      for (std::size_t i = 0; i < count; i += 2)
        capi::free(blocks[i]);
    }).join();
    for (std::size_t i = 1; i < count; i += 2)
      capi::free(blocks[i]);
  }
  if (failures == 0)
    std::puts("guarded sample_many: correct past the bound");
  return failures == 0 ? 0 : 1;
}

// Runs in the child: returns only when the misuse went unnoticed.
void misuse(char const* kind) {
  Instance& in = instance();
  std::string_view const k = kind;
  if (k == "abort_double_free") {
    void* p = in.heap.try_allocate_guarded(64);
    in.heap.deallocate(p);
    in.heap.deallocate(launder_ptr(p));
  } else if (k == "abort_double_free_capi") {
    // Sampled when secure mode samples every allocation; asked for otherwise.
    char const* rate = std::getenv("FERROC_GUARDED_SAMPLE_RATE");
    bool const sampled = ferroc::detail::secure && rate != nullptr && std::string_view{rate} == "1";
    void* p = sampled ? ferroc::c_api::malloc(64) : ferroc::c_api::malloc_guarded(64);
    if (!is_guarded(p))
      return;
    ferroc::c_api::free(p);
    ferroc::c_api::free(launder_ptr(p));
  } else if (k == "abort_underflow") {
    // The byte before the block, in its page: found at the free.
    auto* p = static_cast<char*>(in.heap.try_allocate_guarded(100));
    launder_ptr(p)[-1] ^= 0x41;
    in.heap.deallocate(p);
  } else if (k == "abort_interior") {
    auto* p = static_cast<char*>(in.heap.try_allocate_guarded(64));
    in.heap.deallocate(launder_ptr(p + 16));
  } else {
    std::fprintf(stderr, "guarded: unknown kind '%s'\n", kind);
    return;
  }
  std::fprintf(stderr, "guarded %s: not detected\n", kind);
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: guarded <kind>\n");
    return 2;
  }
  std::string_view const kind = argv[1];
  if (kind.starts_with("abort_"))
    return expect_abort(&misuse, argv[1]);
  if (kind == "explicit")
    return run_explicit();
  if (ferroc::detail::secure) { // only secure mode samples
    if (kind == "sample_all")
      return run_sample_all(true);
    if (kind == "sample_none")
      return run_sample_all(false);
    if (kind == "sample_rate")
      return run_sample_rate();
    if (kind == "sample_many")
      return run_sample_many();
  }
  std::fprintf(stderr, "guarded: unknown kind '%s'\n", argv[1]);
  return 2;
}
