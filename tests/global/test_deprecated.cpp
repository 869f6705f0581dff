// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// The spellings this release deprecates still work as they did:
// Heap::allocate and Global::allocate (now try_allocate) and
// global_resource::free (now deallocate(p)). deprecated_warns.cpp checks
// that each use draws a deprecation warning.
#include <ferroc/ferroc.hpp>

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstring>

#include "global_test_util.hpp"

namespace {

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif

TEST_CASE("Heap::allocate is try_allocate under its old name", "[deprecated]") {
  ferroc::Arenas arenas{ferroc::OsAlloc{}};
  ferroc::Context cx{arenas};
  ferroc::Heap heap{cx};
  void* p = heap.allocate(100);
  REQUIRE(p != nullptr);
  CHECK(heap.usable_size(p) >= 100);
  std::memset(p, 0xab, 100);
  void* q = heap.allocate(64, 4096);
  REQUIRE(q != nullptr);
  CHECK(reinterpret_cast<std::uintptr_t>(q) % 4096 == 0);
  // Non-throwing, like try_allocate: a request no arena can serve is null.
  CHECK(heap.allocate(ferroc_global_test::beyond_address_space) == nullptr);
  CHECK(heap.allocate(16, 3 * 64) == nullptr); // not a power of two
  heap.deallocate(p);
  heap.deallocate(q);
}

TEST_CASE("Global::allocate is try_allocate under its old name", "[deprecated]") {
  void* p = ferroc::DefaultGlobal::allocate(100);
  REQUIRE(p != nullptr);
  CHECK(ferroc::DefaultGlobal::usable_size(p) >= 100);
  CHECK(ferroc::DefaultGlobal::allocate(ferroc_global_test::beyond_address_space) == nullptr);
  ferroc::DefaultGlobal::deallocate(p);
}

TEST_CASE("global_resource::free is deallocate(p) under its old name", "[deprecated]") {
  auto& r = ferroc::Ferroc::instance();
  void* p = r.try_allocate(100);
  REQUIRE(p != nullptr);
  auto* heap = ferroc::DefaultGlobal::thread_heap();
  REQUIRE(heap != nullptr);
  auto is_live = [heap](void const* block) {
    bool found = false;
    heap->visit([&](void* b, std::size_t) { found = found || b == block; });
    return found;
  };
  CHECK(is_live(p));
  r.free(p);
  CHECK_FALSE(is_live(p)); // back on its page, as deallocate(p) does
  r.free(nullptr);         // as deallocate: nullptr does nothing
}

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

} // namespace
