// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

// What every workload program of this folder shares: the command line, a
// portable random generator, block patterns that catch corrupted or reused
// memory, counters of allocations and frees, a mailbox for handing blocks to
// another thread, a barrier, the resident set size, and the final report line.
//
// The programs allocate only through malloc/calloc/realloc/free, so that they
// measure whatever allocator the process has: glibc's, one preloaded with
// LD_PRELOAD, or Ferroc linked in (the *_ferroc executables). None of this
// header allocates on a hot path.
//
// Command line, the same for every program:
//
//   <program> [threads] [scale]    threads >= 1 (default 2), scale >= 1 (default 10)
//   <program> --help               what it models, and its full scale as `full_scale=<n>`
//
// Work is linear in scale and is the same total amount whatever the number of
// threads (each thread does its share), unless a program says otherwise.
// The last line on stdout is
//
//   workload=<name> threads=<t> scale=<s> ops=<n> seconds=<wall> [key=value...] check=ok
//
// and the exit status is 0 only when every self-check passed (`check=fail`
// and 1 otherwise; 2 for a bad command line).

#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#ifdef FERROC_WORKLOAD_LINKED
#include <dlfcn.h>
#endif

namespace workload {

// ---------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------

/// What a program tells about itself in `--help` and in its report.
struct Info {
  char const* name;         // executable name, also `workload=` in the report
  char const* model;        // one line: what the workload models
  char const* ops;          // what one counted operation is
  unsigned long full_scale; // the scale of a full benchmark run (about 1-5 s with glibc, 2 threads)
};

struct Args {
  unsigned threads = 2;
  std::uint64_t scale = 10;
};

inline constexpr unsigned max_threads = 1024;
inline constexpr std::uint64_t max_scale = 1000000;

/// Parses a whole decimal argument into `out` if it lies in [lo, hi].
inline bool parse_number(char const* text, std::uint64_t lo, std::uint64_t hi, std::uint64_t& out) {
  std::string_view const arg(text);
  std::uint64_t value = 0;
  auto const [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), value);
  if (ec != std::errc{} || end != arg.data() + arg.size() || value < lo || value > hi)
    return false;
  out = value;
  return true;
}

inline void usage(Info const& info, std::FILE* out) {
  std::fprintf(out,
               "usage: %s [threads] [scale]\n"
               "  %s\n"
               "  threads: worker threads, 1..%u (default 2)\n"
               "  scale:   amount of work, linear, 1..%llu (default 10); 1 is a quick check\n"
               "  ops:     %s\n"
               "  prints one line: workload=%s threads=<t> scale=<s> ops=<n> seconds=<wall> "
               "... check=ok|fail\n"
               "full_scale=%lu\n",
               info.name, info.model, max_threads, static_cast<unsigned long long>(max_scale),
               info.ops, info.name, info.full_scale);
}

#ifdef FERROC_WORKLOAD_LINKED
/// The *_ferroc executables have Ferroc's malloc linked in: make sure that
/// it really is the one every call in the process reaches, so that a broken
/// link cannot measure the C library's allocator under Ferroc's name.
inline void require_linked_malloc(Info const& info) {
  static int const in_this_program = 0;
  Dl_info self{};
  Dl_info found{};
  void* const sym = ::dlsym(RTLD_DEFAULT, "malloc");
  if (sym == nullptr || ::dladdr(sym, &found) == 0 || ::dladdr(&in_this_program, &self) == 0 ||
      found.dli_fbase != self.dli_fbase) {
    std::fprintf(stderr,
                 "%s: malloc comes from %s, not from this program: Ferroc is not linked in\n",
                 info.name, sym != nullptr && found.dli_fname != nullptr ? found.dli_fname : "?");
    std::exit(1);
  }
}
#else
inline void require_linked_malloc(Info const&) {}
#endif

/// Reads `[threads] [scale]`; prints the help and exits 0 for --help, exits 2
/// on a bad argument.
inline Args parse_args(Info const& info, int argc, char** argv) {
  Args args;
  if (argc > 1 && (std::string_view(argv[1]) == "--help" || std::string_view(argv[1]) == "-h")) {
    usage(info, stdout);
    std::exit(0);
  }
  std::uint64_t value = 0;
  if (argc > 3) {
    std::fprintf(stderr, "%s: too many arguments\n", info.name);
    usage(info, stderr);
    std::exit(2);
  }
  if (argc > 1) {
    if (!parse_number(argv[1], 1, max_threads, value)) {
      std::fprintf(stderr, "%s: threads must be a number in 1..%u, not '%s'\n", info.name,
                   max_threads, argv[1]);
      std::exit(2);
    }
    args.threads = static_cast<unsigned>(value);
  }
  if (argc > 2) {
    if (!parse_number(argv[2], 1, max_scale, value)) {
      std::fprintf(stderr, "%s: scale must be a number in 1..%llu, not '%s'\n", info.name,
                   static_cast<unsigned long long>(max_scale), argv[2]);
      std::exit(2);
    }
    args.scale = value;
  }
  require_linked_malloc(info);
  return args;
}

/// Thread `index`'s share of `total` units of work split among `threads`.
inline std::uint64_t share(std::uint64_t total, unsigned threads, unsigned index) {
  return total / threads + (index < total % threads ? 1 : 0);
}

// ---------------------------------------------------------------------------
// Random numbers
// ---------------------------------------------------------------------------

/// The splitmix64 finaliser: a cheap, good 64-bit mix.
inline std::uint64_t mix(std::uint64_t x) {
  x = (x ^ (x >> 30U)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27U)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31U);
}

/// A fixed seed for one thread of one run: the same numbers every time.
inline std::uint64_t seed(std::uint64_t stream, std::uint64_t thread, std::uint64_t round = 0) {
  return mix(mix(stream * 0x9E3779B97F4A7C15ULL + thread) + round);
}

/// splitmix64: the same sequence on every platform.
class Rng {
public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() { return mix(state_ += 0x9E3779B97F4A7C15ULL); }
  /// Uniform in [0, bound), bound > 0 (the modulo bias is irrelevant here).
  std::size_t below(std::size_t bound) { return static_cast<std::size_t>(next() % bound); }
  /// Uniform in [lo, hi].
  std::size_t range(std::size_t lo, std::size_t hi) { return lo + below(hi - lo + 1); }
  /// True with probability num/den.
  bool chance(unsigned num, unsigned den) { return next() % den < num; }
  /// Uniform in [0, 1).
  double unit() { return static_cast<double>(next() >> 11U) * 0x1.0p-53; }

private:
  std::uint64_t state_;
};

// ---------------------------------------------------------------------------
// Checks and counters
// ---------------------------------------------------------------------------

inline std::atomic<std::uint64_t> failures{0};
inline std::atomic<std::uint64_t> total_allocs{0};
inline std::atomic<std::uint64_t> total_frees{0};

/// Reports a failed self-check on stderr (the first few in full) and counts
/// it; the program ends with check=fail and exit status 1.
[[gnu::format(printf, 1, 2)]] inline void fail(char const* format, ...) {
  // relaxed: a plain counter, read after every thread has been joined.
  if (failures.fetch_add(1, std::memory_order_relaxed) >= 20)
    return;
  std::va_list list;
  va_start(list, format);
  std::fputs("check failed: ", stderr);
  std::vfprintf(stderr, format, list);
  std::fputc('\n', stderr);
  va_end(list);
}

/// Counts of one thread, added to the totals once when it finishes, so that
/// counting costs nothing shared on the hot path.
struct Tally {
  std::uint64_t allocs = 0;
  std::uint64_t frees = 0;
  Tally() = default;
  Tally(Tally const&) = delete;
  Tally& operator=(Tally const&) = delete;
  ~Tally() { flush(); }
  /// Adds the counts to the totals (done by the destructor too).
  void flush() {
    // relaxed: read only after the threads are joined.
    total_allocs.fetch_add(allocs, std::memory_order_relaxed);
    total_frees.fetch_add(frees, std::memory_order_relaxed);
    allocs = 0;
    frees = 0;
  }
};

[[noreturn]] inline void out_of_memory(char const* what, std::size_t size) {
  std::fprintf(stderr, "check failed: %s(%zu) returned NULL\n", what, size);
  std::fflush(stderr);
  std::_Exit(1);
}

/// Keeps the compiler from removing a malloc/free pair or a store into a
/// block it can prove is never read.
inline void escape(void const* p) {
  asm volatile("" : : "r"(p) : "memory");
}

inline void* checked_malloc(std::size_t size, Tally& tally) {
  void* p = std::malloc(size);
  if (p == nullptr) [[unlikely]]
    out_of_memory("malloc", size);
  ++tally.allocs;
  return p;
}

inline void* checked_calloc(std::size_t count, std::size_t size, Tally& tally) {
  void* p = std::calloc(count, size);
  if (p == nullptr) [[unlikely]]
    out_of_memory("calloc", count * size);
  ++tally.allocs;
  return p;
}

/// realloc of a live block (p != nullptr, size > 0): the block stays one
/// allocation, so the counters do not change.
inline void* checked_realloc(void* p, std::size_t size) {
  void* q = std::realloc(p, size);
  if (q == nullptr) [[unlikely]]
    out_of_memory("realloc", size);
  return q;
}

inline void checked_free(void* p, Tally& tally) {
  std::free(p);
  ++tally.frees;
}

// ---------------------------------------------------------------------------
// Block patterns
// ---------------------------------------------------------------------------

inline std::uint64_t load_word(void const* p) {
  std::uint64_t v = 0;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store_word(void* p, std::uint64_t v) {
  std::memcpy(p, &v, sizeof v);
}

/// The key of a block's pattern when it is derived from its address.
inline std::uint64_t key_of(void const* p) {
  return mix(reinterpret_cast<std::uintptr_t>(p));
}

/// Writes a check value into the first and (from 16 bytes on) the last 8
/// bytes of a block of `size` >= 8 bytes.
inline void stamp(void* p, std::size_t size, std::uint64_t key) {
  if (size >= 16) {
    store_word(p, key);
    store_word(static_cast<char*>(p) + size - 8, mix(key + size));
  } else {
    store_word(p, key ^ size);
  }
}

/// Whether `stamp(p, size, key)` is still intact.
inline bool stamped(void const* p, std::size_t size, std::uint64_t key) {
  if (size >= 16)
    return load_word(p) == key &&
           load_word(static_cast<char const*>(p) + size - 8) == mix(key + size);
  return load_word(p) == (key ^ size);
}

/// Checks a stamp and counts a failure when it is broken.
inline void check_stamp(void const* p, std::size_t size, std::uint64_t key, char const* where) {
  if (!stamped(p, size, key)) [[unlikely]]
    fail("%s: block %p of %zu bytes was overwritten", where, p, size);
}

/// Fills the whole block (its `size / 8` words) with a pattern derived from
/// `key`.
inline void fill(void* p, std::size_t size, std::uint64_t key) {
  auto* words = static_cast<std::uint64_t*>(p);
  std::size_t const n = size / 8;
  for (std::size_t i = 0; i < n; ++i)
    words[i] = key ^ (i * 0x9E3779B97F4A7C15ULL);
}

/// Whether `fill(p, size, key)` is intact; counts a failure if not.
inline bool check_fill(void const* p, std::size_t size, std::uint64_t key, char const* where) {
  auto const* words = static_cast<std::uint64_t const*>(p);
  std::size_t const n = size / 8;
  for (std::size_t i = 0; i < n; ++i) {
    if (words[i] != (key ^ (i * 0x9E3779B97F4A7C15ULL))) [[unlikely]] {
      fail("%s: block %p of %zu bytes differs at byte %zu", where, p, size, i * 8);
      return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------------------
// Threads
// ---------------------------------------------------------------------------

/// Runs `body(index)` on `threads` new threads and waits for all of them.
template <class Body> void run_threads(unsigned threads, Body const& body) {
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (unsigned i = 0; i < threads; ++i)
    pool.emplace_back([&body, i] { body(i); });
  for (auto& t : pool)
    t.join();
}

/// A reusable barrier for a fixed number of threads (mutex and condition
/// variable: simple, and every tool understands it).
class Barrier {
public:
  explicit Barrier(unsigned parties) : parties_(parties) {}
  void wait() {
    std::unique_lock lock(mutex_);
    unsigned const generation = generation_;
    if (++arrived_ == parties_) {
      arrived_ = 0;
      ++generation_;
      cv_.notify_all();
      return;
    }
    cv_.wait(lock, [&] { return generation_ != generation; });
  }

private:
  std::mutex mutex_;
  std::condition_variable cv_;
  unsigned const parties_;
  unsigned arrived_ = 0;
  unsigned generation_ = 0;
};

/// Waiting for another thread to make progress: a few yields, then short
/// sleeps, so that a waiter on a loaded machine gives its core to the thread
/// it waits for instead of spinning.
class Backoff {
public:
  void pause() {
    if (rounds_++ < 8)
      std::this_thread::yield();
    else
      std::this_thread::sleep_for(std::chrono::microseconds(100));
  }

private:
  unsigned rounds_ = 0;
};

/// The link every mailbox item starts with.
struct Node {
  Node* next;
};

/// Many threads post items, one thread takes them all at once: a lock-free
/// stack whose only pop is "take everything", so it has no ABA problem.
/// Padded to a cache line so that neighbouring mailboxes do not share one.
class alignas(64) Mailbox {
public:
  void post(Node* node) {
    Node* head = head_.load(std::memory_order_relaxed);
    do {
      node->next = head;
      // release: the taker must see the item's contents and link.
    } while (!head_.compare_exchange_weak(head, node, std::memory_order_release,
                                          std::memory_order_relaxed));
    // relaxed: a hint for flow control only.
    pending_.fetch_add(1, std::memory_order_relaxed);
  }
  /// Every item posted so far, newest first, or nullptr.
  Node* take_all() {
    // acquire: pairs with the release of each post (a chain of RMWs).
    return head_.exchange(nullptr, std::memory_order_acquire);
  }
  /// The taker reports how many items it took, for flow control.
  void taken(std::uint64_t count) { pending_.fetch_sub(count, std::memory_order_relaxed); }
  /// About how many items wait (posts counted minus takes reported).
  std::int64_t pending() const {
    return static_cast<std::int64_t>(pending_.load(std::memory_order_relaxed));
  }

private:
  std::atomic<Node*> head_{nullptr};
  std::atomic<std::uint64_t> pending_{0};
};

// ---------------------------------------------------------------------------
// Time and memory
// ---------------------------------------------------------------------------

class Stopwatch {
public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

private:
  std::chrono::steady_clock::time_point start_;
};

/// The resident set size now, in KiB, from /proc/self/statm (read without
/// stdio, which would allocate); 0 when it cannot be read.
inline std::uint64_t rss_now_kib() {
  int const fd = ::open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  char buf[128];
  ssize_t const n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0)
    return 0;
  buf[n] = '\0';
  // "size resident shared ...", in pages.
  char const* p = buf;
  while (*p != '\0' && *p != ' ')
    ++p;
  std::uint64_t pages = 0;
  std::from_chars(p + (*p == ' ' ? 1 : 0), buf + n, pages);
  long const page = ::sysconf(_SC_PAGESIZE);
  return pages * static_cast<std::uint64_t>(page > 0 ? page : 4096) / 1024;
}

/// The largest resident set size of the process so far, in KiB.
inline std::uint64_t rss_peak_kib() {
  struct rusage usage {};
  if (::getrusage(RUSAGE_SELF, &usage) != 0)
    return 0;
  return static_cast<std::uint64_t>(usage.ru_maxrss);
}

// ---------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------

/// Checks that every allocation was freed, prints the report line and gives
/// main's exit status. Call after every thread has been joined. `extra` is
/// more `key=value` pairs, separated by spaces (may be empty).
inline int finish(Info const& info, Args const& args, std::uint64_t ops, double seconds,
                  char const* extra = "") {
  std::uint64_t const allocs = total_allocs.load(std::memory_order_relaxed);
  std::uint64_t const frees = total_frees.load(std::memory_order_relaxed);
  if (allocs != frees)
    fail("%llu allocations but %llu frees", static_cast<unsigned long long>(allocs),
         static_cast<unsigned long long>(frees));
  if (ops == 0)
    fail("no operations were done");
  bool const ok = failures.load(std::memory_order_relaxed) == 0;
  double const rate = seconds > 0 ? static_cast<double>(ops) / seconds : 0.0;
  std::fflush(stderr);
  std::printf("workload=%s threads=%u scale=%llu ops=%llu seconds=%.6f ops_per_sec=%.0f "
              "rss_peak_kib=%llu%s%s check=%s\n",
              info.name, args.threads, static_cast<unsigned long long>(args.scale),
              static_cast<unsigned long long>(ops), seconds, rate,
              static_cast<unsigned long long>(rss_peak_kib()), extra[0] != '\0' ? " " : "", extra,
              ok ? "ok" : "fail");
  std::fflush(stdout);
  return ok ? 0 : 1;
}

} // namespace workload
