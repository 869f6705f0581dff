// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// Proof that a heap over a Static<N> region or a SpanBase makes no system
// call that touches memory. A child process runs the workload once (which
// resolves lazy symbols and touches the regions and the stack), installs a
// seccomp filter that kills the process on mmap, munmap, mremap, madvise,
// brk, mprotect (and their relatives), runs the workload again, reports
// with write(2) and exits 0. A first child shows that the filter works: it
// calls mmap after installing it and must die of SIGSYS.
//
// Linux on x86_64 and aarch64 only; skipped (exit code 77) elsewhere, when
// the kernel refuses the filter, and under sanitizers, whose runtimes map
// memory on their own (shadow, quarantine, reports).
//
// No test framework and no printf in the children: only write(2).
#include <ferroc/ferroc.hpp>

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory_resource>
#include <string_view>
#include <vector>

#include "../test_util.hpp"

#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__))
#define FERROC_NO_SYSCALLS_SUPPORTED 1
#include <csignal>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#else
#define FERROC_NO_SYSCALLS_SUPPORTED 0
#endif

namespace {

constexpr int exit_skip = 77;

// ---- output without allocating ---------------------------------------------

void say(std::string_view text) {
#if FERROC_NO_SYSCALLS_SUPPORTED
  while (!text.empty()) {
    const ssize_t n = ::write(STDOUT_FILENO, text.data(), text.size());
    if (n <= 0) {
      return;
    }
    text.remove_prefix(static_cast<std::size_t>(n));
  }
#else
  (void)text;
#endif
}

void say_number(std::size_t value) {
  char digits[24];
  const auto result = std::to_chars(digits, digits + sizeof digits, value);
  say(std::string_view(digits, static_cast<std::size_t>(result.ptr - digits)));
}

// ---- the workload ------------------------------------------------------------

namespace fd = ferroc::detail;

// Every page kind: small, medium, large and huge (two segments).
constexpr std::size_t small_max = fd::small_block_max;
constexpr std::size_t medium_max = fd::medium_block_max;
constexpr std::size_t large = fd::large_block_max / 2;
constexpr std::size_t huge = fd::large_block_max + 1;
constexpr std::size_t sizes[] = {16, 48, 100, 512, 1000, 3000, small_max, medium_max, large, huge};

// Blocks are chained through their first word, so remembering them takes no
// memory of our own; the second word holds the block's tag.
struct Node {
  Node* next;
  std::size_t tag;
};

struct Outcome {
  std::size_t blocks = 0; // allocated in the first fill
  bool ok = true;
};

// Allocates blocks of cycling sizes until the heap says no, checks and
// frees them; returns how many there were.
template <class Heap> std::size_t fill_and_free(Heap& heap, bool& ok) {
  Node* head = nullptr;
  std::size_t count = 0;
  for (std::size_t misses = 0; misses < std::size(sizes);) {
    const std::size_t size = sizes[count % std::size(sizes)];
    void* p = heap.try_allocate(size);
    if (p == nullptr) {
      ++misses; // other sizes may still fit
      ++count;
      continue;
    }
    misses = 0;
    ferroc_test::fill_pattern(static_cast<std::byte*>(p) + sizeof(Node), size - sizeof(Node),
                              count);
    head = new (p) Node{head, count};
    ++count;
  }
  std::size_t blocks = 0;
  while (head != nullptr) {
    Node* next = head->next;
    const std::size_t size = sizes[head->tag % std::size(sizes)];
    ok = ok && ferroc_test::check_pattern(reinterpret_cast<std::byte*>(head) + sizeof(Node),
                                          size - sizeof(Node), head->tag);
    heap.deallocate(head);
    head = next;
    ++blocks;
  }
  heap.collect(true);
  return blocks;
}

// Grows one block through every kind and back, keeping its contents.
template <class Heap> bool realloc_chain(Heap& heap) {
  std::size_t size = 16;
  auto* p = static_cast<unsigned char*>(heap.try_allocate(size));
  if (p == nullptr) {
    return false;
  }
  std::memset(p, 0x5A, size);
  bool ok = true;
  for (const std::size_t next : {100, 1000, 8000, 30000, 60000, 20000, 500, 24}) {
    auto* q = static_cast<unsigned char*>(heap.reallocate(p, next));
    if (q == nullptr) {
      ok = false;
      break;
    }
    ok = ok && ferroc_test::all_bytes_are(q, std::min(size, next), 0x5A);
    std::memset(q, 0x5A, next);
    p = q;
    size = next;
  }
  heap.deallocate(p);
  return ok;
}

template <class Heap> bool aligned_and_zeroed(Heap& heap) {
  bool ok = true;
  for (std::size_t align = 1; align <= 4096; align *= 2) {
    void* p = heap.try_allocate(200, align);
    auto* z = static_cast<unsigned char*>(heap.allocate_zeroed(300, align));
    ok = ok && p != nullptr && z != nullptr && ferroc_test::is_aligned(p, align) &&
         ferroc_test::is_aligned(z, align) && ferroc_test::all_bytes_are(z, 300, 0);
    if (z != nullptr) {
      std::memset(z, 0xFF, 300); // dirty it for the next round
    }
    heap.deallocate(p);
    heap.deallocate(z);
  }
  return ok;
}

// Standard containers on the heap: their allocations come from it too.
template <class Base> bool containers(ferroc::Heap<Base>& heap) {
  ferroc::heap_resource<Base> resource{heap};
  std::pmr::vector<std::size_t> numbers{&resource};
  std::vector<int, ferroc::heap_allocator<int, Base>> ints{heap};
  for (std::size_t i = 0; i < 1000; ++i) {
    numbers.push_back(i);
    ints.push_back(static_cast<int>(i));
  }
  return numbers[999] == 999 && ints[999] == 999;
}

// Whether two fills of a fresh region held as many blocks. In secure
// mode segments and large runs lie at random places, and what a fixed
// region holds varies with them (blocks of two sizes share large
// segments): there each fill need only hold some blocks.
bool same_fill(std::size_t a, std::size_t b) {
  if constexpr (fd::secure)
    return a > 0 && b > 0;
  return a == b;
}

template <class Base> Outcome run_workload(Base& base) {
  Outcome out;
  ferroc::Arenas arenas{base};
  ferroc::Context cx{arenas};
  ferroc::Heap heap{cx};
  out.blocks = fill_and_free(heap, out.ok);
  out.ok = out.ok && out.blocks > 0 && same_fill(fill_and_free(heap, out.ok), out.blocks);
  out.ok = out.ok && realloc_chain(heap);
  out.ok = out.ok && aligned_and_zeroed(heap);
  out.ok = out.ok && containers(heap);
  heap.collect(true);
  return out;
}

// Regions of four segments (three or more usable whatever the alignment).
constexpr std::size_t region_size = 4 * fd::segment_size;
ferroc::Static<region_size> static_region;
alignas(64) std::byte span_buffer[region_size];

#if FERROC_NO_SYSCALLS_SUPPORTED

// ---- the seccomp filter -------------------------------------------------------

#if defined(__x86_64__)
constexpr std::uint32_t audit_arch = AUDIT_ARCH_X86_64;
#else
constexpr std::uint32_t audit_arch = AUDIT_ARCH_AARCH64;
#endif

#ifdef SECCOMP_RET_KILL_PROCESS
constexpr std::uint32_t ret_kill = SECCOMP_RET_KILL_PROCESS;
#else
constexpr std::uint32_t ret_kill = SECCOMP_RET_KILL;
#endif

// The system calls that map, unmap, protect or advise memory.
constexpr long forbidden[] = {
    SYS_mmap,
    SYS_munmap,
    SYS_mremap,
    SYS_madvise,
    SYS_brk,
    SYS_mprotect,
#ifdef SYS_pkey_mprotect
    SYS_pkey_mprotect,
#endif
#ifdef SYS_process_madvise
    SYS_process_madvise,
#endif
#ifdef SYS_remap_file_pages
    SYS_remap_file_pages,
#endif
};
constexpr std::size_t forbidden_count = std::size(forbidden);

// Kills the process on a forbidden call (or a foreign ABI), allows the rest.
// Returns false when the kernel refuses the filter.
bool install_filter() {
  sock_filter program[8 + forbidden_count]{};
  std::size_t n = 0;
  program[n++] = BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch));
  program[n++] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, audit_arch, 1, 0);
  program[n++] = BPF_STMT(BPF_RET | BPF_K, ret_kill);
  program[n++] = BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr));
#if defined(__x86_64__)
  // x32 calls carry bit 30 and would bypass the numbers below.
  program[n++] = BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000U, forbidden_count + 1, 0);
#endif
  for (std::size_t i = 0; i < forbidden_count; ++i) {
    // On a match, skip the remaining tests and the allow: to the kill.
    program[n++] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<std::uint32_t>(forbidden[i]),
                            static_cast<std::uint8_t>(forbidden_count - i), 0);
  }
  program[n++] = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  program[n++] = BPF_STMT(BPF_RET | BPF_K, ret_kill);
  sock_fprog fprog{static_cast<unsigned short>(n), program};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return false;
  }
  return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog) == 0;
}

// Child exit codes besides 0 and exit_skip.
constexpr int exit_wrong = 1;

// The control: with the filter on, mmap must kill the process.
[[noreturn]] void control_child() {
  if (!install_filter()) {
    _exit(exit_skip);
  }
  void* p = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  (void)p;
  _exit(0); // still alive: the filter did nothing
}

template <class Base> [[noreturn]] void workload_child(Base& base, std::string_view name) {
  const Outcome warm = run_workload(base); // resolves symbols, touches memory
  if (!install_filter()) {
    _exit(exit_skip);
  }
  const Outcome out = run_workload(base); // any memory system call now kills us
  say("no_syscalls: ");
  say(name);
  say(": ");
  say_number(out.blocks);
  say(" blocks per fill, allocate/free/reallocate/aligned/zeroed/containers ");
  const bool ok = out.ok && warm.ok && same_fill(out.blocks, warm.blocks);
  say(ok ? "ok\n" : "WRONG RESULTS\n");
  _exit(ok ? 0 : exit_wrong);
}

// Runs `child` in a child process; returns its wait status, or -1.
template <class F> int in_child(F child) {
  const pid_t pid = fork();
  if (pid == 0) {
    child();
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) {
    return -1;
  }
  return status;
}

bool killed_by_sigsys(int status) {
  return status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS;
}

bool skipped(int status) {
  return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == exit_skip;
}

bool passed(int status) {
  return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

#endif

} // namespace

int main() {
#if !FERROC_NO_SYSCALLS_SUPPORTED
  say("no_syscalls: skipped (Linux on x86_64 or aarch64 only)\n");
  return exit_skip;
#else
  if (FERROC_TEST_SANITIZED) {
    say("no_syscalls: skipped (sanitizer runtimes map memory of their own)\n");
    return exit_skip;
  }
  const int control = in_child([] { control_child(); });
  if (skipped(control)) {
    say("no_syscalls: skipped (the kernel refuses seccomp filters)\n");
    return exit_skip;
  }
  if (!killed_by_sigsys(control)) {
    say("no_syscalls: FAILED: the filter did not kill a process that called mmap\n");
    return 1;
  }
  say("no_syscalls: the filter kills a process that calls mmap (control)\n");

  int failures = 0;
  const int on_static = in_child([] { workload_child(static_region, "Static<N>"); });
  if (!passed(on_static)) {
    say(killed_by_sigsys(on_static)
            ? "no_syscalls: FAILED: Static<N> heap made a memory system call\n"
            : "no_syscalls: FAILED: Static<N> workload\n");
    ++failures;
  }
  const int on_span = in_child([] {
    static ferroc::SpanBase span{span_buffer, sizeof span_buffer};
    workload_child(span, "SpanBase");
  });
  if (!passed(on_span)) {
    say(killed_by_sigsys(on_span) ? "no_syscalls: FAILED: SpanBase heap made a memory system call\n"
                                  : "no_syscalls: FAILED: SpanBase workload\n");
    ++failures;
  }
  return failures == 0 ? 0 : 1;
#endif
}
