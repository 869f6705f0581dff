// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// A fixed amount of allocator work, to be counted under `valgrind --tool=callgrind`.
//
//   instr_count <ferroc|ferroc-global|glibc|mimalloc|none> <pair|batch> <pairs> <size>
//
//   pair   <pairs> times: allocate one block of <size> bytes and free it at once;
//   batch  <pairs>/1000 times: allocate 1000 blocks, then free them in allocation order.
//
// bench/instr_count.sh runs this at two values of <pairs> and divides the difference of the two
// instruction totals by the difference of the pair counts: start-up, first-use setup and exit
// cost the same in both runs and cancel, leaving the instructions of one allocate + deallocate
// pair, plus the loop around it. `none` runs the same loops without an allocator (every block
// is one static object): its count is that loop overhead, to subtract from the others.
//
// The mimalloc shared library replaces `malloc` for the whole process it is linked into, so this
// file is built twice: `instr_count` (ferroc, glibc) and, with FERROC_BENCH_MIMALLOC,
// `instr_count_mimalloc` (mimalloc only). Asked for mimalloc, `instr_count` runs its sibling.
#include <array>
#include <charconv>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include <climits>
#include <unistd.h>

#ifdef FERROC_BENCH_MIMALLOC
#include <mimalloc.h>
#else
#include <ferroc/ferroc.hpp>
#endif

namespace {

constexpr std::size_t batch_len = 1000;

// The block escapes to code the compiler cannot see, and memory counts as changed: no
// allocate/deallocate pair is elided and no allocator state stays cached in registers across
// operations, as in a real program that does work between its allocations.
inline void escape(void* p) noexcept {
  asm volatile("" : : "r"(p) : "memory");
}
inline void clobber() noexcept {
  asm volatile("" : : : "memory");
}

// The measured loops, out of line so that they show up by name in callgrind's output. `Alloc` is
// passed by value: a `Heap&` then lives in a register, as in user code holding a heap reference,
// instead of being reloaded from the caller's frame after every memory clobber.
template <class Alloc>
[[gnu::noinline]] void run_pairs(Alloc alloc, std::size_t pairs, std::size_t size) {
  for (std::size_t i = 0; i < pairs; ++i) {
    void* p = alloc.allocate(size);
    escape(p);
    alloc.deallocate(p);
    clobber();
  }
}

template <class Alloc>
[[gnu::noinline]] void run_batches(Alloc alloc, std::size_t pairs, std::size_t size) {
  static std::array<void*, batch_len> blocks{};
  for (std::size_t b = 0; b < pairs / batch_len; ++b) {
    for (void*& p : blocks) {
      p = alloc.allocate(size);
      escape(p);
    }
    for (void* p : blocks) {
      alloc.deallocate(p);
    }
    clobber();
  }
}

template <class Alloc>
int run(Alloc& alloc, std::string_view mode, std::size_t pairs, std::size_t size) {
  // One block up front: fails early on a broken allocator instead of counting null pointers.
  void* probe = alloc.allocate(size);
  if (probe == nullptr) {
    std::fprintf(stderr, "instr_count: allocation of %zu bytes failed\n", size);
    return 1;
  }
  alloc.deallocate(probe);
  if (mode == "pair") {
    run_pairs(alloc, pairs, size);
  } else {
    run_batches(alloc, pairs, size);
  }
  return 0;
}

#ifdef FERROC_BENCH_MIMALLOC
struct MimallocAlloc {
  static void* allocate(std::size_t size) noexcept { return mi_malloc(size); }
  static void deallocate(void* p) noexcept { mi_free(p); }
};
#else
// Used as a header-only library is meant to be used: the Heap's fast path inlined at the call.
struct FerrocAlloc {
  ferroc::Heap<ferroc::MmapAlloc>& heap;

  void* allocate(std::size_t size) noexcept { return heap.try_allocate(size); }
  void deallocate(void* p) noexcept { heap.deallocate(p); }
};

// The process-wide allocator, as ferroc::Ferroc users call it (issue target: <= 50).
struct FerrocGlobalAlloc {
  static void* allocate(std::size_t size) noexcept {
    return ferroc::Ferroc::instance().try_allocate(size);
  }
  static void deallocate(void* p) noexcept { ferroc::Ferroc::instance().deallocate(p); }
};

struct GlibcAlloc {
  static void* allocate(std::size_t size) noexcept { return std::malloc(size); }
  static void deallocate(void* p) noexcept { std::free(p); }
};

// No allocator: what remains is the cost of the measuring loops themselves.
struct NoAlloc {
  static void* allocate(std::size_t /*size*/) noexcept { return &block; }
  static void deallocate(void* p) noexcept { escape(p); } // the loops still pass each block on
  static inline std::max_align_t block{};
};

// Replaces this process with `instr_count_mimalloc` from the same directory.
int exec_mimalloc_sibling(char** argv) {
  std::array<char, PATH_MAX> self{};
  const ssize_t len = readlink("/proc/self/exe", self.data(), self.size() - 1);
  if (len <= 0) {
    std::perror("instr_count: readlink /proc/self/exe");
    return 1;
  }
  const std::string_view path(self.data(), static_cast<std::size_t>(len));
  const std::size_t dir_len = path.rfind('/') + 1;
  static constexpr std::string_view sibling = "instr_count_mimalloc";
  if (dir_len + sibling.size() >= self.size()) {
    return 1;
  }
  sibling.copy(self.data() + dir_len, sibling.size());
  self[dir_len + sibling.size()] = '\0';
  argv[0] = self.data();
  execv(self.data(), argv);
  std::fprintf(stderr, "instr_count: mimalloc was not found when this was built (%s)\n",
               self.data());
  return 1;
}
#endif

bool parse_size(const char* text, std::size_t& out) {
  const std::string_view s(text);
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && end == s.data() + s.size();
}

int usage() {
  std::fputs(
      "usage: instr_count <ferroc|ferroc-global|glibc|mimalloc|none> <pair|batch> <pairs> <size>\n"
      "  pair:  <pairs> times allocate a block of <size> bytes and free it\n"
      "  batch: <pairs>/1000 times allocate 1000 blocks, then free them\n"
      "  none:  the same loops without an allocator (their own overhead)\n",
      stderr);
  return 2;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    return usage();
  }
  const std::string_view alloc_name(argv[1]);
  const std::string_view mode(argv[2]);
  std::size_t pairs = 0;
  std::size_t size = 0;
  if ((mode != "pair" && mode != "batch") || !parse_size(argv[3], pairs) ||
      !parse_size(argv[4], size)) {
    return usage();
  }
  if (mode == "batch" && pairs % batch_len != 0) {
    std::fprintf(stderr, "instr_count: batch mode needs a multiple of %zu pairs\n", batch_len);
    return 2;
  }
#ifdef FERROC_BENCH_MIMALLOC
  if (alloc_name == "mimalloc") {
    MimallocAlloc alloc;
    return run(alloc, mode, pairs, size);
  }
  std::fputs("instr_count_mimalloc: only 'mimalloc' here (mimalloc also replaces malloc in this "
             "process); use instr_count for ferroc and glibc\n",
             stderr);
  return 2;
#else
  if (alloc_name == "ferroc") {
    ferroc::Arenas arenas{ferroc::MmapAlloc{}};
    ferroc::Context cx{arenas};
    ferroc::Heap heap{cx};
    FerrocAlloc alloc{heap};
    return run(alloc, mode, pairs, size);
  }
  if (alloc_name == "ferroc-global") {
    FerrocGlobalAlloc alloc;
    return run(alloc, mode, pairs, size);
  }
  if (alloc_name == "glibc") {
    GlibcAlloc alloc;
    return run(alloc, mode, pairs, size);
  }
  if (alloc_name == "none") {
    NoAlloc alloc;
    return run(alloc, mode, pairs, size);
  }
  if (alloc_name == "mimalloc") {
    return exec_mimalloc_sibling(argv);
  }
  return usage();
#endif
}
