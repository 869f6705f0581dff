// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// The whole library built with -fno-exceptions -fno-rtti, in the default
// geometry: every layer (heaps, the global allocator, the pmr resources,
// the C API bodies and, without sanitizers, the operator new/delete
// replacement of override.hpp) compiles and works, and where the standard
// says "throw", the C++ adapters call std::terminate() (SIGABRT by
// default; checked through a terminate handler) while the nothrow forms
// return nullptr.
//
// No test framework: a framework would allocate through the allocator
// under test. Exits nonzero on a failed check.

#include "../test_util.hpp" // FERROC_TEST_SANITIZED, before override.hpp

#include <ferroc/c_api.hpp>
#include <ferroc/ferroc.hpp>
#if !FERROC_TEST_SANITIZED // sanitizers replace operator new themselves
#include <ferroc/override.hpp>
#define FERROC_TEST_OVERRIDE_NEW 1
#else
#define FERROC_TEST_OVERRIDE_NEW 0
#endif

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <memory_resource>
#include <new>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#if FERROC_HAS_EXCEPTIONS || FERROC_HAS_RTTI
#error "no_exceptions.cpp must be built with -fno-exceptions -fno-rtti"
#endif

namespace {

int failures = 0;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "no_exceptions: FAILED: %s\n", what);
    ++failures;
  }
}

// Runs `f` in a child process whose terminate handler exits with a code of
// its own; true when `f` ended in std::terminate().
template <class F> bool terminates(F f) {
  constexpr int terminated = 42;
  std::fflush(nullptr);
  const pid_t child = fork();
  if (child == 0) {
    std::set_terminate([] { _exit(terminated); });
    f();
    _exit(0);
  }
  int status = 0;
  if (child < 0 || waitpid(child, &status, 0) != child) {
    return false;
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == terminated;
}

// Far more than any address space holds.
constexpr std::size_t impossible = std::size_t{1} << 62;

void global_layer() {
  std::vector<int, ferroc::allocator<int>> ints(1000, 7);
  check(ints[999] == 7, "ferroc::allocator<int> in a vector");
  check(ferroc::detail::segment_map_contains(ints.data()), "the vector's memory is Ferroc's");

  std::pmr::vector<int> pmr_ints{ferroc::resource()};
  pmr_ints.assign(1000, 3);
  check(pmr_ints[999] == 3, "ferroc::resource() in a pmr vector");
  check(ferroc::resource()->is_equal(ferroc::Ferroc::instance()), "the global resource is itself");

  void* p = ferroc::c_api::malloc(100);
  check(p != nullptr && ferroc::c_api::usable_size(p) >= 100, "the C API's malloc");
  ferroc::c_api::free(p);
  check(ferroc::Ferroc::try_allocate(impossible) == nullptr, "try_allocate fails with nullptr");

  check(terminates([] { (void)ferroc::allocator<int>{}.allocate(impossible); }),
        "ferroc::allocator<T> out of memory terminates");
  check(terminates([] { (void)ferroc::allocator<int>{}.allocate(impossible * 2); }),
        "ferroc::allocator<T> with an overflowing count terminates");
  check(terminates([] { (void)ferroc::resource()->allocate(impossible); }),
        "ferroc::resource() out of memory terminates");
}

void heap_layer() {
  static ferroc::Static<4 * ferroc::detail::segment_size> region;
  ferroc::Arenas arenas{region};
  ferroc::Context cx{arenas};
  ferroc::Heap heap{cx};
  ferroc::Context other_cx{arenas};
  ferroc::Heap other_heap{other_cx};
  ferroc::heap_resource resource{heap};
  ferroc::heap_resource other{other_heap};
  {
    std::pmr::vector<int> numbers{&resource};
    numbers.assign(1000, 5);
    check(numbers[999] == 5, "heap_resource in a pmr vector");
    std::vector<long, ferroc::heap_allocator<long, decltype(region)>> longs{heap};
    longs.assign(1000, 9L);
    check(longs[999] == 9L, "heap_allocator in a vector");
  }
  check(resource.is_equal(resource), "a heap_resource equals itself");
  check(!resource.is_equal(other), "without RTTI, a heap_resource equals only itself");
  check(terminates([&] { (void)resource.allocate(impossible); }),
        "heap_resource out of memory terminates");
  check(terminates([&] {
          (void)ferroc::heap_allocator<int, decltype(region)>{heap}.allocate(impossible);
        }),
        "heap_allocator out of memory terminates");
}

void operator_new() {
#if FERROC_TEST_OVERRIDE_NEW
  auto* one = new int(5);
  auto* many = new int[1000];
  auto* aligned = new (std::align_val_t{4096}) char[100];
  auto* nothrow = new (std::nothrow) char[100];
  check(ferroc::detail::segment_map_contains(one) && ferroc::detail::segment_map_contains(many) &&
            ferroc::detail::segment_map_contains(aligned) &&
            ferroc::detail::segment_map_contains(nothrow),
        "operator new serves from Ferroc");
  check(reinterpret_cast<std::uintptr_t>(aligned) % 4096 == 0, "aligned operator new");
  delete one;
  delete[] many;
  ::operator delete[](aligned, std::align_val_t{4096});
  delete[] nothrow;

  // A volatile size keeps the compiler from reasoning about the request.
  volatile std::size_t huge = impossible;
  check(new (std::nothrow) char[huge] == nullptr, "nothrow new out of memory gives nullptr");
  // Called directly: a new-expression whose result is unused may be elided.
  check(terminates([&] { ::operator delete(::operator new(huge)); }),
        "operator new out of memory terminates");
#endif
}

} // namespace

int main() {
  global_layer();
  heap_layer();
  operator_new();
  std::printf("no_exceptions: %s (operator new replaced: %s)\n",
              failures == 0 ? "all checks passed" : "FAILED",
              FERROC_TEST_OVERRIDE_NEW ? "yes" : "no");
  return failures == 0 ? 0 : 1;
}
