// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// The global allocators outside main(): allocation in a global object's
// constructor (before main, the process's first use of the allocator) and
// destructor, in an atexit handler, and in thread_local destructors (of a
// worker thread, and of the main thread at exit), through the default global
// allocator and through one whose heaps are released by a thread_local
// destructor.
//
// No test framework: a failure prints a line and ends the process with
// status 1 at once (also from a destructor). The object constructed first
// is destroyed last; its destructor checks that every phase ran.
#include <ferroc/ferroc.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory_resource>
#include <string>
#include <thread>
#include <vector>

namespace {

[[noreturn]] void fail(char const* what, int line) {
  std::fprintf(stderr, "static_lifetime: FAILED (line %d): %s\n", line, what);
  std::fflush(stderr);
  std::_Exit(1);
}

#define LIFETIME_CHECK(cond)                                                                       \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      fail(#cond, __LINE__);                                                                       \
  } while (0)

struct TlTag {};
using G = ferroc::DefaultGlobal;
using TlGlobal = ferroc::Global<ferroc::OsAlloc, ferroc::ThreadExit::thread_local_dtor, TlTag>;
template <class T> using Vec = std::vector<T, ferroc::allocator<T>>;

// Phases that must all have run by the time the sentinel dies.
std::atomic<int> constructed{0};
std::atomic<int> atexit_ran{0};
std::atomic<int> worker_tl_dtor_ran{0};
std::atomic<int> main_tl_dtor_ran{0};
std::atomic<int> user_dtor_ran{0};

std::uint8_t byte_at(std::uint64_t tag, std::size_t i) {
  return static_cast<std::uint8_t>(tag * 131 + i * 7 + (i >> 8));
}

// Allocates a block through `alloc`, fills it, checks it and frees it with `dealloc`.
// Word-sized accesses keep this quick under ThreadSanitizer, which checks each one.
template <class Alloc, class Dealloc>
void round_trip(Alloc alloc, Dealloc dealloc, std::size_t size, std::uint64_t tag, int line) {
  auto* p = static_cast<std::uint64_t*>(alloc(size));
  if (p == nullptr)
    fail("allocation returned nullptr", line);
  std::size_t const words = size / sizeof(std::uint64_t);
  for (std::size_t i = 0; i < words; ++i)
    p[i] = tag * 0x9E3779B97F4A7C15ULL + i;
  for (std::size_t i = 0; i < words; ++i) {
    if (p[i] != tag * 0x9E3779B97F4A7C15ULL + i)
      fail("block contents changed", line);
  }
  dealloc(p);
}

// Exercises every front door once, with a few sizes.
void use_all(std::uint64_t tag, int line) {
  for (std::size_t size :
       {std::size_t{8}, std::size_t{700}, std::size_t{20000}, std::size_t{3} << 20}) {
    round_trip([](std::size_t n) { return G::try_allocate(n); }, [](void* p) { G::deallocate(p); },
               size, tag, line);
    round_trip([](std::size_t n) { return TlGlobal::try_allocate(n); },
               [](void* p) { TlGlobal::deallocate(p); }, size, tag + 1, line);
    round_trip([](std::size_t n) { return ferroc::resource()->allocate(n, 64); },
               [](void* p) { ferroc::Ferroc::instance().deallocate(p); }, size, tag + 2, line);
  }
  Vec<std::uint64_t> v;
  for (std::uint64_t i = 0; i < 1000; ++i)
    v.push_back(i * tag);
  for (std::uint64_t i = 0; i < 1000; ++i) {
    if (v[i] != i * tag)
      fail("vector contents changed", line);
  }
  std::pmr::string s(300, 'p', ferroc::resource());
  if (s.find_first_not_of('p') != std::pmr::string::npos)
    fail("pmr string contents changed", line);
}

// Holds blocks from its construction to its destruction.
class Holder {
public:
  explicit Holder(std::uint64_t tag)
      : tag_(tag), raw_(G::try_allocate(4096)), tl_raw_(TlGlobal::try_allocate(100)) {
    LIFETIME_CHECK(raw_ != nullptr && tl_raw_ != nullptr);
    for (std::size_t i = 0; i < 4096; ++i)
      static_cast<std::uint8_t*>(raw_)[i] = byte_at(tag, i);
    for (std::size_t i = 0; i < 100; ++i)
      static_cast<std::uint8_t*>(tl_raw_)[i] = byte_at(tag + 1, i);
    for (std::uint64_t i = 0; i < 5000; ++i)
      numbers_.push_back(i + tag);
  }
  ~Holder() { release(); }
  Holder(Holder const&) = delete;
  Holder& operator=(Holder const&) = delete;

  // Checks what is held and frees it.
  void release() {
    if (raw_ == nullptr)
      return;
    for (std::size_t i = 0; i < 4096; ++i)
      LIFETIME_CHECK(static_cast<std::uint8_t*>(raw_)[i] == byte_at(tag_, i));
    for (std::size_t i = 0; i < 100; ++i)
      LIFETIME_CHECK(static_cast<std::uint8_t*>(tl_raw_)[i] == byte_at(tag_ + 1, i));
    for (std::uint64_t i = 0; i < 5000; ++i)
      LIFETIME_CHECK(numbers_[i] == i + tag_);
    G::deallocate(raw_);
    TlGlobal::deallocate(tl_raw_);
    raw_ = tl_raw_ = nullptr;
    Vec<std::uint64_t>().swap(numbers_);
  }

private:
  std::uint64_t tag_;
  void* raw_;
  void* tl_raw_;
  Vec<std::uint64_t> numbers_;
};

void at_exit_handler() {
  use_all(30, __LINE__);
  atexit_ran.store(1);
}

// Constructed first (before main, so it makes the process's first
// allocation through ferroc), destroyed last.
struct Sentinel {
  Sentinel() : held(10) {
    use_all(11, __LINE__);
    constructed.fetch_add(1);
  }
  ~Sentinel() {
    use_all(12, __LINE__);
    held.release();
    LIFETIME_CHECK(constructed.load() == 2);
    LIFETIME_CHECK(atexit_ran.load() == 1);
    LIFETIME_CHECK(worker_tl_dtor_ran.load() == 1);
    LIFETIME_CHECK(main_tl_dtor_ran.load() == 1);
    LIFETIME_CHECK(user_dtor_ran.load() == 1);
    use_all(13, __LINE__);
    std::printf("static_lifetime: every phase allocated and freed correctly\n");
    std::fflush(stdout);
  }
  Sentinel(Sentinel const&) = delete;
  Sentinel& operator=(Sentinel const&) = delete;
  Holder held;
};

Sentinel sentinel;

// A second global, destroyed before the sentinel.
struct User {
  User() : held(20), names(ferroc::resource()) {
    for (int i = 0; i < 100; ++i)
      names.emplace_back(50, static_cast<char>('a' + i % 26));
    // Registered after the sentinel was complete: runs before its
    // destructor (and after this object's).
    LIFETIME_CHECK(std::atexit(&at_exit_handler) == 0);
    constructed.fetch_add(1);
  }
  ~User() {
    for (std::size_t i = 0; i < names.size(); ++i)
      LIFETIME_CHECK(names[i] == std::pmr::string(50, static_cast<char>('a' + i % 26)));
    use_all(21, __LINE__);
    user_dtor_ran.store(1);
  }
  User(User const&) = delete;
  User& operator=(User const&) = delete;
  Holder held;
  std::pmr::vector<std::pmr::string> names;
};

User user;

// Another thread-local object whose destructor allocates, in any thread.
struct TlUser {
  explicit TlUser(std::atomic<int>* flag) : held(40), ran(flag) {}
  ~TlUser() {
    use_all(41, __LINE__);
    held.release();
    use_all(42, __LINE__);
    ran->store(1);
  }
  TlUser(TlUser const&) = delete;
  TlUser& operator=(TlUser const&) = delete;
  Holder held;
  std::atomic<int>* ran;
};

} // namespace

// MinGW-w64's emulated TLS frees a thread's thread_local storage (in a
// winpthreads key destructor) before that thread's thread_local destructors
// run: a destructor that reaches thread_local storage again, as any
// allocation does, gets a fresh block there and may reuse the memory of the
// object being destroyed. The thread_local destructor phases are a test of
// that runtime, not of Ferroc: left out there.
#if defined(__MINGW32__)
constexpr bool thread_local_dtors_work = false;
#else
constexpr bool thread_local_dtors_work = true;
#endif

int main() {
  LIFETIME_CHECK(constructed.load() == 2);
  use_all(1, __LINE__);
  if constexpr (!thread_local_dtors_work) {
    worker_tl_dtor_ran.store(1);
    main_tl_dtor_ran.store(1);
    std::thread([] { use_all(50, __LINE__); }).join();
    use_all(2, __LINE__);
    return 0;
  }

  // A worker whose thread_local object is made before its first other
  // allocation, and one made after.
  std::thread first([] {
    thread_local TlUser tl{&worker_tl_dtor_ran};
    use_all(50, __LINE__);
  });
  first.join();
  LIFETIME_CHECK(worker_tl_dtor_ran.load() == 1);

  std::atomic<int> second_ran{0};
  std::thread second([&second_ran] {
    use_all(60, __LINE__);
    thread_local TlUser tl{&second_ran};
    use_all(61, __LINE__);
  });
  second.join();
  LIFETIME_CHECK(second_ran.load() == 1);

  // The main thread's own thread_local dies at exit, before the globals.
  thread_local TlUser main_tl{&main_tl_dtor_ran};
  use_all(2, __LINE__);
  return 0;
}
