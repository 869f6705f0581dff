// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// operator new out of memory, with ferroc::override linked in (or, built
// with OOM_NEW_PRELOADED, with libferroc.so preloaded: the library reaches
// the new-handler and the throw through weak references): under an
// address-space limit (RLIMIT_AS, 512 MiB) the throwing forms call the
// installed new_handler, retry after it returns, and throw std::bad_alloc
// once there is no handler; the nothrow forms return nullptr. The handler
// here frees a reserve block the first time (so the retry succeeds) and
// uninstalls itself the second time (so new throws).
//
// No test framework and no standard containers: everything here runs on
// the allocator under test.

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <new>

#include <dlfcn.h>
#include <malloc.h>
#include <sys/resource.h>

#ifndef OOM_NEW_PRELOADED
#include <ferroc.h>
#endif

#include "check.h"

namespace {

constexpr std::size_t mib = std::size_t{1} << 20;
constexpr std::size_t limit = 512 * mib;
constexpr std::size_t reserve_size = 64 * mib;
constexpr std::size_t max_blocks = 4096;

char* blocks[max_blocks];
std::size_t block_count = 0;

char* reserve = nullptr;
int handler_calls = 0;
std::size_t blocks_at_first_call = 0;

void on_out_of_memory() {
  ++handler_calls;
  if (handler_calls == 1) {
    // First time: give memory back; operator new tries again.
    blocks_at_first_call = block_count;
    delete[] reserve;
    reserve = nullptr;
    return;
  }
  // Then: nothing left to give; without a handler, new throws.
  std::set_new_handler(nullptr);
}

// Where a symbol of this process comes from (its object's base address).
void* origin_of(char const* name) {
  Dl_info info{};
  void* sym = dlsym(RTLD_DEFAULT, name);
  if (sym == nullptr || dladdr(sym, &info) == 0)
    return nullptr;
  return info.dli_fbase;
}

#ifdef OOM_NEW_PRELOADED
constexpr char const* expected_origin = "the preloaded libferroc.so";
// The object that exports fe_malloc: libferroc.so.
void* ferroc_origin() {
  return origin_of("fe_malloc");
}
void collect() {
  using collect_fn = void (*)(int);
  auto fn = reinterpret_cast<collect_fn>(dlsym(RTLD_DEFAULT, "fe_collect"));
  REQUIRE(fn != nullptr);
  fn(1);
}
#else
constexpr char const* expected_origin = "this program (ferroc::override linked in)";
void* ferroc_origin() {
  static int const in_this_program = 0;
  Dl_info self{};
  REQUIRE(dladdr(&in_this_program, &self) != 0);
  return self.dli_fbase;
}
void collect() {
  fe_collect(1);
}
#endif

void require_ferroc_new() {
  void* const ferroc = ferroc_origin();
  REQUIRE(ferroc != nullptr);
  // operator new(size_t), operator delete(void*), malloc: Ferroc's.
  for (char const* name : {"_Znwm", "_ZdlPv", "_Znam", "malloc", "free"})
    CHECK_MSG(origin_of(name) == ferroc, "%s does not come from %s", name, expected_origin);
  if (check_failures != 0)
    std::exit(1);
}

void free_blocks() {
  for (std::size_t i = 0; i < block_count; ++i) {
    delete[] blocks[i];
    blocks[i] = nullptr;
  }
  block_count = 0;
}

// Allocates 1 MiB arrays with new[] until it throws; returns whether it did.
bool fill_with_new() {
  try {
    while (block_count < max_blocks) {
      char* p = new char[mib];
      p[block_count % mib] = 1; // one byte touched in each
      blocks[block_count++] = p;
    }
  } catch (std::bad_alloc const&) {
    return true;
  }
  return false;
}

} // namespace

int main() {
  require_ferroc_new();

  // A reserve block, and a malloc block to compare sizes with new's.
  reserve = new char[reserve_size];
  std::memset(reserve, 1, 4096);
  {
    void* m = std::malloc(100);
    REQUIRE(m != nullptr);
    CHECK(malloc_usable_size(m) >= 100);
    std::free(m);
  }

  rlimit rl{};
  REQUIRE(getrlimit(RLIMIT_AS, &rl) == 0);
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < limit) {
    std::printf("oom_new: SKIP: the hard RLIMIT_AS is already below 512 MiB\n");
    return 77;
  }
  rl.rlim_cur = limit;
  REQUIRE(setrlimit(RLIMIT_AS, &rl) == 0);

  std::set_new_handler(&on_out_of_memory);
  bool const threw = fill_with_new();
  CHECK_MSG(threw, "new[] never threw: %zu MiB under a 512 MiB limit", block_count);
  CHECK_MSG(handler_calls == 2, "the new_handler ran %d times, expected 2", handler_calls);
  CHECK_MSG(reserve == nullptr, "the new_handler did not run before new gave up");
  CHECK_MSG(block_count > blocks_at_first_call,
            "no block was allocated after the handler freed the reserve (%zu then %zu)",
            blocks_at_first_call, block_count);
  CHECK_MSG(block_count * mib >= limit / 2, "only %zu MiB allocated under the limit", block_count);
  std::printf("oom_new: %zu MiB allocated with new[], the handler ran at %zu MiB and at the end\n",
              block_count, blocks_at_first_call);

  // Still full, and no handler any more.
  CHECK(std::get_new_handler() == nullptr);
  {
    // Through a volatile: a new-expression whose result is only tested and
    // deleted may be elided (and assumed to succeed) by the compiler.
    char* p = static_cast<char*>(opaque_ptr(new (std::nothrow) char[8 * mib]));
    CHECK_MSG(p == nullptr, "nothrow new[] succeeded at the limit");
    delete[] p;
    void* q = ::operator new (8 * mib, std::align_val_t{4096}, std::nothrow);
    CHECK_MSG(q == nullptr, "aligned nothrow new succeeded at the limit");
    ::operator delete (q, std::align_val_t{4096});
  }
  {
    bool caught = false;
    try {
      void* p = ::operator new (8 * mib, std::align_val_t{1 << 16});
      ::operator delete (p, std::align_val_t{1 << 16});
    } catch (std::bad_alloc const&) {
      caught = true;
    }
    CHECK_MSG(caught, "aligned new did not throw std::bad_alloc at the limit");
  }
  {
    // A size no allocator can give: bad_alloc even without any limit.
    bool caught = false;
    try {
      void* p = ::operator new(opaque_size(SIZE_MAX / 2));
      ::operator delete(p);
    } catch (std::bad_alloc const&) {
      caught = true;
    }
    CHECK(caught);
  }

  // A nothrow new calls the handler too, and succeeds when it frees memory:
  // one of our blocks becomes the handler's reserve.
  {
    reserve = blocks[--block_count];
    blocks[block_count] = nullptr;
    handler_calls = 0;
    std::set_new_handler(&on_out_of_memory);
    char* p = static_cast<char*>(opaque_ptr(new (std::nothrow) char[mib]));
    CHECK_MSG(p != nullptr && handler_calls == 1,
              "nothrow new at the limit: %p after %d new_handler calls", static_cast<void*>(p),
              handler_calls);
    if (p != nullptr)
      blocks[block_count++] = p;
    std::set_new_handler(nullptr);
    delete[] reserve; // still here if the handler did not run
    reserve = nullptr;
  }

  // Everything back; after a collect, as much fits again.
  std::size_t const first = block_count;
  free_blocks();
  collect();
  std::set_new_handler(nullptr);
  bool const threw_again = fill_with_new();
  CHECK(threw_again);
  CHECK_MSG(block_count >= first / 2, "only %zu MiB after freeing %zu MiB", block_count, first);
  std::printf("oom_new: %zu MiB again after delete[] and fe_collect(1)\n", block_count);
  free_blocks();

  rl.rlim_cur = rl.rlim_max;
  REQUIRE(setrlimit(RLIMIT_AS, &rl) == 0);
  return check_result("oom_new");
}
