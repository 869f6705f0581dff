// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// Secure mode's guard pages (ferroc/heap/guard_pages.hpp), one check per
// run, named by the first argument. Writes that must fault run in a forked
// child each, which must die of SIGSEGV; writes that must not fault run in
// a child too (they land in memory of ours, harmlessly). A run exits 0 when
// every expectation holds:
//
//   small, medium, large   a segment of the kind, filled: a write into the
//                          guard after its header, before its first block
//                          (small, medium), past its last block (small,
//                          medium) and into its end guard faults; the
//                          header and the bytes next to the guards do not;
//   huge, huge_aligned,    the same for huge blocks: in one slot, aligned
//   huge_beyond,           to 256 KiB, aligned past a segment, and larger
//   huge_dedicated         than an arena (a chunk of the base of its own);
//   reuse                  arena memory goes from huge blocks to segments of
//                          every kind and back, with and without purges:
//                          every byte of every block handed out is written
//                          (a guard among them would kill the run), and no
//                          guard is left when all is freed;
//   refused                over a base that refuses every other protection:
//                          the same work goes on without those guards, and
//                          only the accepted ones are counted;
//   sticky                 over a base that refuses every other
//                          unprotection: the memory whose guard stays is
//                          never handed out again;
//   mappings               the number of the process's mappings grows by a
//                          few per segment and falls back when all is freed;
//   thread_data            a global allocator's chunk of thread data lies
//                          between two inaccessible pages.
//
// Where the OS page is larger than the layout's (16 or 64 KiB), the bases
// refuse the layout's guards: the checks that expect them exit 77, which
// CTest counts as skipped.
//
// Without guard pages (a release build) the writes land: CTest runs the
// segment checks there as tests that must fail.

#include <algorithm>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include <ferroc/ferroc.hpp>

// Sanitizers map memory of their own while the test runs (their allocator
// serves the test's vectors): the counts of mappings then say nothing of
// ours.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define FERROC_GUARDS_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define FERROC_GUARDS_SANITIZED 1
#endif
#endif
#ifndef FERROC_GUARDS_SANITIZED
#define FERROC_GUARDS_SANITIZED 0
#endif

namespace {

namespace fd = ferroc::detail;
using Base = ferroc::MmapAlloc;
// The guards of segments and huge blocks are pages of the layout.
constexpr std::size_t page = fd::layout_page_size;

template <class B> struct Instance {
  ferroc::Arenas<B> arenas{B{}};
  ferroc::Context<B> cx{arenas};
  ferroc::Heap<B> heap{cx};
};

// Reaches memory through a pointer the optimiser cannot see through.
template <class T> T* launder_ptr(T* p) {
  asm volatile("" : "+r"(p));
  return p;
}

// Whether writing the byte at `p` kills a child process with SIGSEGV.
bool write_faults(void* p) {
  std::fflush(nullptr);
  pid_t const child = fork();
  if (child == 0) {
    alarm(30);
    std::signal(SIGSEGV, SIG_DFL); // a sanitizer's handler would exit instead
    *launder_ptr(static_cast<char volatile*>(p)) = 1;
    _exit(0);
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0) {
  }
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV;
}

int failures = 0;

void expect(bool ok, char const* what, void const* p) {
  if (!ok) {
    ++failures;
    std::printf("FAILED: %s (%p)\n", what, p);
  }
}
void expect_fault(void* p, char const* what) {
  expect(write_faults(p), what, p);
}
void expect_access(void* p, char const* what) {
  expect(!write_faults(p), what, p);
}

int finish(char const* name) {
  if (failures != 0) {
    std::printf("guards %s: %d expectation(s) failed\n", name, failures);
    return 1;
  }
  std::printf("guards %s: every guard in place\n", name);
  return 0;
}

// The guards of segment `seg` at its start and end.
void check_segment_guards(fd::Segment* seg) {
  auto* const base = reinterpret_cast<char*>(seg);
  char* const guard = base + fd::segment_header_size;
  expect_access(guard - 1, "the header's last byte is accessible");
  expect_fault(guard, "a write into the guard after the header faults");
  expect_fault(guard + page - 1, "a write into the guard's last byte faults");
  char* const end = base + fd::segment_size - page;
  expect_access(end - 1, "the last page's last byte is accessible");
  expect_fault(end, "a write into the end guard faults");
  expect_fault(base + fd::segment_size - 1, "a write into the segment's last byte faults");
}

// Fills a segment with blocks of `request` bytes; checks its guards, that
// its first block starts at a guard and (`flush`: small, medium) that its
// last block ends at one.
int check_kind(std::size_t request, bool flush, char const* name) {
  Instance<Base> in;
  std::vector<char*> blocks;
  auto* const first = static_cast<char*>(in.heap.try_allocate(request));
  fd::Segment* const seg = fd::segment_of(first);
  blocks.push_back(first);
  for (int i = 0; i < 100000; ++i) {
    auto* p = static_cast<char*>(in.heap.try_allocate(request));
    blocks.push_back(p);
    if (fd::segment_of(p) != seg)
      break; // the segment is full
  }
  char* lowest = first;
  char* highest = first;
  for (char* p : blocks) {
    if (fd::segment_of(p) == seg) {
      lowest = std::min(lowest, p);
      highest = std::max(highest, p);
    }
  }
  check_segment_guards(seg);
  fd::Page const* pg = seg->page_of(highest);
  char* const end = reinterpret_cast<char*>(seg) + fd::segment_size - page;
  expect(pg->area + pg->area_size == reinterpret_cast<std::byte*>(end),
         "the last page's area ends at the end guard", highest);
  expect_fault(lowest - 1, "a write before the segment's first block faults");
  if (flush) {
    expect_fault(highest + pg->block_size, "a write past the segment's last block faults");
    expect_access(highest + pg->block_size - 1, "the last block's last byte is accessible");
  }
  for (char* p : blocks)
    in.heap.deallocate(p);
  return finish(name);
}

// A huge block of `size` bytes aligned to `align`: a guard right before it
// (up to the header) and right after its usable end.
int check_huge(std::size_t size, std::size_t align, char const* name) {
  Instance<Base> in;
  std::size_t const before = fd::protected_guard_ranges();
  auto* const p = static_cast<char*>(in.heap.try_allocate(size, align));
  expect(p != nullptr && reinterpret_cast<std::uintptr_t>(p) % align == 0, "allocated, aligned", p);
  if (p == nullptr)
    return finish(name);
  fd::Segment* const seg = fd::segment_of(p);
  auto* const base = reinterpret_cast<char*>(seg);
  std::size_t const usable = in.heap.usable_size(p);
  expect(fd::protected_guard_ranges() == before + 2, "two guards counted", p);
  expect_access(base + fd::segment_header_size - 1, "the header's last byte is accessible");
  expect_fault(base + fd::segment_header_size, "a write into the guard after the header faults");
  expect_fault(p - 1, "a write before the block faults");
  expect_access(p, "the block's first byte is accessible");
  expect_access(p + usable - 1, "the block's last byte is accessible");
  expect_fault(p + usable, "a write past the block faults");
  expect_fault(p + usable + page - 1, "a write into the end guard's last byte faults");
  in.heap.deallocate(p);
  expect(fd::protected_guard_ranges() == before, "no guard counted after the free", p);
  return finish(name);
}

// Sizes of every kind, some of them aligned.
std::size_t next_size(std::uint64_t& x, std::size_t& align) {
  x = x * 6364136223846793005u + 1442695040888963407u;
  align = (x >> 60) == 0 ? std::size_t{1} << (4 + (x >> 20) % 17) : 16;
  switch ((x >> 33) % 8) {
  case 0:
  case 1:
  case 2:
    return 1 + (x >> 40) % fd::small_block_max;
  case 3:
  case 4:
    return 1 + (x >> 40) % fd::medium_block_max;
  case 5:
  case 6:
    return fd::medium_block_max + (x >> 40) % fd::large_block_max;
  default:
    return fd::large_block_max + (x >> 40) % (3 * fd::segment_size);
  }
}

// Arena memory passes from huge blocks to segments of every kind and back:
// every byte handed out is written.
template <class B> void churn(Instance<B>& in, int rounds) {
  std::uint64_t x = 42;
  for (int round = 0; round < rounds; ++round) {
    in.arenas.set_purge_delay_ms(round % 2 == 0 ? 0 : 10);
    // Huge blocks over runs of slots, then segments of every kind over them.
    std::vector<char*> huge;
    for (std::size_t k = 0; k < 6; ++k) {
      std::size_t const size = fd::segment_size + k * fd::segment_size / 3;
      auto* p = static_cast<char*>(in.heap.try_allocate(size, k == 5 ? 2 * fd::segment_size : 16));
      std::memset(p, 0xa5, in.heap.usable_size(p));
      huge.push_back(p);
    }
    for (char* p : huge)
      in.heap.deallocate(p);
    std::vector<char*> live;
    std::size_t bytes = 0;
    while (bytes < 16 * fd::segment_size) {
      std::size_t align = 16;
      std::size_t const size = next_size(x, align);
      auto* p = static_cast<char*>(in.heap.try_allocate(size, align));
      std::size_t const usable = in.heap.usable_size(p);
      std::memset(p, 0x5a, usable);
      bytes += usable;
      live.push_back(p);
      if (live.size() > 64 && (x >> 50) % 3 == 0) {
        std::size_t const i = (x >> 8) % live.size();
        in.heap.deallocate(live[i]);
        live[i] = live.back();
        live.pop_back();
      }
    }
    for (char* p : live)
      in.heap.deallocate(p);
    if (round % 3 == 2)
      in.heap.collect(true);
  }
  in.heap.collect(true);
}

// A segment kept for reuse changes between large and the other kinds: the
// rest of slice 0 is a guard in a large segment only, page 0's area in the
// others.
void switch_kinds() {
  Instance<Base> in;
  fd::Segment* kept = nullptr;
  fd::PageKind kept_kind = fd::PageKind::huge;
  int switches = 0;
  for (std::size_t size : {fd::large_block_max, fd::small_block_max, std::size_t{300000},
                           fd::medium_block_max, fd::large_block_max / 2, std::size_t{1000}}) {
    std::vector<char*> blocks;
    // As many as one segment holds.
    int const count = size == fd::large_block_max ? 1 : size == fd::large_block_max / 2 ? 3 : 8;
    for (int i = 0; i < count; ++i) {
      auto* p = static_cast<char*>(in.heap.try_allocate(size));
      std::memset(p, 0x3c, in.heap.usable_size(p));
      blocks.push_back(p);
    }
    fd::Segment* const seg = fd::segment_of(blocks[0]);
    switches +=
        seg == kept && (seg->kind == fd::PageKind::large) != (kept_kind == fd::PageKind::large);
    kept = seg;
    kept_kind = seg->kind;
    char* const rest = reinterpret_cast<char*>(seg) + fd::segment_header_size + page;
    if (seg->kind != fd::PageKind::large)
      expect_access(rest, "page 0's area is accessible in other segments");
    else if constexpr (fd::segment_guard<Base> != 0) // the release program runs this too
      expect_fault(rest, "slice 0's rest is a guard in a large segment");
    for (char* p : blocks)
      in.heap.deallocate(p);
    in.heap.collect(false); // the empty page goes back, and its segment to the kept ones
  }
  expect(switches >= 2, "segments kept for reuse changed kinds", kept);
}

int reuse() {
  switch_kinds();
  expect(fd::protected_guard_ranges() == 0, "every guard gone once all is freed", nullptr);
  {
    Instance<Base> in;
    churn(in, 6);
    expect(fd::protected_guard_ranges() == 0, "every guard gone once all is freed", nullptr);
  }
  return finish("reuse");
}

// A base that refuses every other protection, as the kernel does at its
// limit of mappings.
struct RefusingBase : Base {
  static inline int calls = 0;
  static inline std::size_t accepted = 0;
  bool protect(void* p, std::size_t size) noexcept {
    if (++calls % 2 == 0)
      return false;
    bool const ok = Base::protect(p, size);
    accepted += ok ? 1 : 0;
    return ok;
  }
};
static_assert(ferroc::ProtectBase<RefusingBase>);

int refused() {
  {
    Instance<RefusingBase> in;
    void* p = in.heap.try_allocate(100);
    expect(fd::protected_guard_ranges() == RefusingBase::accepted, "only accepted guards count", p);
    in.heap.deallocate(p);
    churn(in, 4);
    expect(fd::protected_guard_ranges() == 0, "every guard gone once all is freed", nullptr);
    expect(RefusingBase::calls > 8 && RefusingBase::accepted > 4, "guards asked and accepted",
           nullptr);
  }
  return finish("refused");
}

// A base that refuses every other unprotection: the memory of a segment
// whose guard stays is never handed out again.
struct StickyBase : Base {
  static inline int calls = 0;
  static inline std::size_t refused = 0;
  bool unprotect(void* p, std::size_t size) noexcept {
    if (++calls % 2 == 0) {
      ++refused;
      return false;
    }
    return Base::unprotect(p, size);
  }
};
static_assert(ferroc::ProtectBase<StickyBase>);

int sticky() {
  std::size_t const before = fd::protected_guard_ranges();
  {
    Instance<StickyBase> in;
    churn(in, 4);
    expect(StickyBase::refused > 4, "unprotections refused", nullptr);
    // A refusal leaves one guard range, or two (slice 0 of a large segment).
    std::size_t const left = fd::protected_guard_ranges() - before;
    expect(left >= StickyBase::refused && left <= 2 * StickyBase::refused,
           "the refused guards stay, and only they", nullptr);
  }
  return finish("sticky");
}

std::size_t mapping_count() {
  FILE* f = std::fopen("/proc/self/maps", "r");
  if (f == nullptr)
    return 0;
  std::size_t lines = 0;
  for (int c; (c = std::fgetc(f)) != EOF;)
    lines += c == '\n' ? 1 : 0;
  std::fclose(f);
  return lines;
}

int mappings() {
  std::size_t const start = mapping_count();
  {
    Instance<Base> in;
    std::vector<void*> live;
    // A large segment per two blocks, and huge blocks of one slot each.
    for (int i = 0; i < 100; ++i)
      live.push_back(in.heap.try_allocate(3 * fd::large_block_max / 4));
    std::size_t const large = in.arenas.segments_in_use();
    for (int i = 0; i < 50; ++i)
      live.push_back(in.heap.try_allocate(3 * fd::segment_size / 4));
    std::size_t const segments = in.arenas.segments_in_use();
    std::size_t const peak = mapping_count();
    std::printf("mappings: %zu at start, %zu with %zu segments, %zu guard ranges\n", start, peak,
                segments, fd::protected_guard_ranges());
    expect(segments >= 100, "segments in use", nullptr);
    // Large segments count slice 0's rest as a third.
    expect(fd::protected_guard_ranges() == 2 * segments + large, "two guards per segment", nullptr);
    if (!FERROC_GUARDS_SANITIZED)
      expect(peak <= start + 4 * segments + 32, "at most about four mappings per segment", nullptr);
    for (void* p : live)
      in.heap.deallocate(p);
    in.heap.collect(true);
    in.arenas.purge(true);
    std::size_t const after = mapping_count();
    std::printf("mappings: %zu once all is freed\n", after);
    expect(fd::protected_guard_ranges() == 0, "no guard left", nullptr);
    if (!FERROC_GUARDS_SANITIZED)
      expect(after <= start + 32, "the mappings merge again once all is freed", nullptr);
  }
  return finish("mappings");
}

// The mapping that holds `p`: its bounds and permissions ("rw-p", "---p").
struct Mapping {
  std::uintptr_t lo = 0;
  std::uintptr_t hi = 0;
  char perms[8] = {};
};

Mapping mapping_of(void const* p) {
  Mapping m;
  FILE* f = std::fopen("/proc/self/maps", "r");
  if (f == nullptr)
    return m;
  auto const addr = reinterpret_cast<std::uintptr_t>(p);
  char line[512];
  while (std::fgets(line, sizeof line, f) != nullptr) {
    unsigned long lo = 0;
    unsigned long hi = 0;
    char perms[8] = {};
    if (std::sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) == 3 && lo <= addr && addr < hi) {
      m.lo = lo;
      m.hi = hi;
      std::memcpy(m.perms, perms, sizeof perms);
      break;
    }
  }
  std::fclose(f);
  return m;
}

struct ThreadDataTag {};

int thread_data() {
  using G = ferroc::Global<Base, ferroc::ThreadExit::pthread_key, ThreadDataTag>;
  // The thread's heap lies in the global's first chunk of thread data.
  void* const heap = G::thread_heap();
  Mapping const data = mapping_of(heap);
  auto* const chunk = reinterpret_cast<char*>(data.lo);
  auto* const end = reinterpret_cast<char*>(data.hi);
  expect(std::string_view(data.perms) == "rw-p", "the thread data is accessible", heap);
  expect(data.hi - data.lo == fd::thread_data_chunk, "the chunk is a mapping of its own", chunk);
  expect(std::string_view(mapping_of(chunk - 1).perms) == "---p",
         "a guard page before the thread data", chunk);
  expect(std::string_view(mapping_of(end).perms) == "---p", "a guard page after the thread data",
         end);
  expect_fault(chunk - 1, "a write before the thread data faults");
  expect_fault(end, "a write after the thread data faults");
  return finish("thread_data");
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: guards <check>\n");
    return 2;
  }
  std::string_view const mode = argv[1];
  // Requests whose blocks fill their pages to the end: a canary's room
  // less than the class.
  std::size_t const canary = fd::canary_extra;
  if (fd::os_page_size() != page && mode != "thread_data" && mode != "refused" &&
      mode != "sticky") {
    std::printf("guards: skipped, %zu-byte OS pages hold no %zu-byte guards of the layout\n",
                fd::os_page_size(), page);
    return 77;
  }
  if (mode == "small")
    return check_kind(4096 - canary, true, "small");
  if (mode == "medium")
    return check_kind(fd::medium_block_max - canary, true, "medium");
  if (mode == "large") // three slices each: 21 fill a segment's 63
    return check_kind((160 << 10) - canary, false, "large");
  if (mode == "huge")
    return check_huge(3 << 20, 16, "huge");
  if (mode == "huge_aligned")
    return check_huge(100 << 10, 256 << 10, "huge_aligned");
  if (mode == "huge_beyond")
    return check_huge(5 << 20, 2 * fd::segment_size, "huge_beyond");
  if (mode == "huge_dedicated")
    return check_huge(fd::arena_size + fd::segment_size, 16, "huge_dedicated");
  if (mode == "reuse")
    return reuse();
  if (mode == "refused")
    return refused();
  if (mode == "sticky")
    return sticky();
  if (mode == "mappings")
    return mappings();
  if (mode == "thread_data")
    return thread_data();
  std::fprintf(stderr, "guards: unknown check '%s'\n", argv[1]);
  return 2;
}
