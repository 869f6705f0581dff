// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// The memory resources: ferroc::resource() (the default global allocator),
// global_resource<G> of another Global, and heap_resource over one Heap, with
// pmr containers, pool resources and the default resource.
#include <ferroc/ferroc.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <list>
#include <map>
#include <memory>
#include <memory_resource>
#include <new>
#include <set>
#include <string>
#include <vector>

#include "global_test_util.hpp"

namespace {

using ferroc_global_test::is_aligned;

// Puts the previous default resource back, even when a check throws.
class DefaultResourceGuard {
public:
  explicit DefaultResourceGuard(std::pmr::memory_resource* r) noexcept
      : previous_(std::pmr::set_default_resource(r)) {}
  ~DefaultResourceGuard() { std::pmr::set_default_resource(previous_); }
  DefaultResourceGuard(DefaultResourceGuard const&) = delete;
  DefaultResourceGuard& operator=(DefaultResourceGuard const&) = delete;
  std::pmr::memory_resource* previous() const noexcept { return previous_; }

private:
  std::pmr::memory_resource* previous_;
};

// Counts what passes through it to an upstream resource.
class CountingResource final : public std::pmr::memory_resource {
public:
  explicit CountingResource(std::pmr::memory_resource* upstream) noexcept : upstream_(upstream) {}
  std::size_t allocations = 0;
  std::size_t deallocations = 0;
  std::size_t bytes_live = 0;

private:
  void* do_allocate(std::size_t bytes, std::size_t align) override {
    void* p = upstream_->allocate(bytes, align);
    ++allocations;
    bytes_live += bytes;
    return p;
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t align) override {
    upstream_->deallocate(p, bytes, align);
    ++deallocations;
    bytes_live -= bytes;
  }
  bool do_is_equal(std::pmr::memory_resource const& other) const noexcept override {
    return this == &other;
  }
  std::pmr::memory_resource* upstream_;
};

struct OtherTag {};
using OtherGlobal = ferroc::Global<ferroc::OsAlloc, ferroc::ThreadExit::pthread_key, OtherTag>;

} // namespace

TEST_CASE("pmr: resource() is the Ferroc singleton", "[global][pmr]") {
  std::pmr::memory_resource* r = ferroc::resource();
  REQUIRE(r != nullptr);
  CHECK(r == &ferroc::Ferroc::instance());
  CHECK(ferroc::resource() == r);
  CHECK(r->is_equal(ferroc::Ferroc::instance()));
  CHECK(*r == ferroc::Ferroc::instance());
  CHECK_FALSE(r->is_equal(*std::pmr::new_delete_resource()));
  // Another Global's resource is a different allocator.
  auto& other = ferroc::global_resource<OtherGlobal>::instance();
  CHECK(&other == &ferroc::global_resource<OtherGlobal>::instance());
  CHECK_FALSE(r->is_equal(other));
  CHECK_FALSE(other.is_equal(*r));
}

TEST_CASE("pmr: allocate and deallocate through the resource", "[global][pmr]") {
  std::pmr::memory_resource* r = ferroc::resource();
  for (std::size_t align = 1; align <= 8192; align *= 2) {
    for (std::size_t bytes : {std::size_t{1}, std::size_t{8}, std::size_t{100}, std::size_t{5000},
                              std::size_t{300000}}) {
      void* p = r->allocate(bytes, align);
      REQUIRE(p != nullptr);
      CHECK(is_aligned(p, align));
      CHECK(ferroc::Ferroc::instance().usable_size(p) >= bytes);
      std::memset(p, 0x5A, bytes);
      r->deallocate(p, bytes, align);
    }
  }
  // bytes == 0 still gives distinct, freeable pointers.
  void* a = r->allocate(0);
  void* b = r->allocate(0);
  CHECK(a != nullptr);
  CHECK(b != nullptr);
  CHECK(a != b);
  r->deallocate(a, 0);
  r->deallocate(b, 0);

  // Failure throws (memory_resource::allocate never returns null) ...
  CHECK_THROWS_AS(r->allocate(ferroc_global_test::beyond_address_space), std::bad_alloc);
  CHECK_THROWS_AS(r->allocate(std::max(std::numeric_limits<std::size_t>::max() / 2,
                                       ferroc_global_test::beyond_address_space),
                              64),
                  std::bad_alloc);
  // ... while the non-throwing calls answer nullptr.
  ferroc::Ferroc& f = ferroc::Ferroc::instance();
  CHECK(f.try_allocate(ferroc_global_test::beyond_address_space) == nullptr);

  void* z = f.allocate_zeroed(1000);
  REQUIRE(z != nullptr);
  CHECK(std::all_of(static_cast<unsigned char*>(z), static_cast<unsigned char*>(z) + 1000,
                    [](unsigned char c) { return c == 0; }));
  std::memset(z, 3, 1000);
  void* g = f.reallocate(z, 5000);
  REQUIRE(g != nullptr);
  CHECK(static_cast<unsigned char*>(g)[999] == 3);
  f.deallocate(g);
  f.deallocate(nullptr);
  f.collect();
  f.collect(true);

  // The core calls and the resource calls mix: same allocator.
  void* m = f.try_allocate(64);
  REQUIRE(m != nullptr);
  r->deallocate(m, 64);
  void* n = r->allocate(64);
  ferroc::DefaultGlobal::deallocate(n);
}

TEST_CASE("pmr: vector of pmr strings on resource()", "[global][pmr][containers]") {
  std::pmr::vector<std::pmr::string> v{ferroc::resource()};
  for (int i = 0; i < 2000; ++i) {
    // Long enough to leave the small-string buffer.
    v.emplace_back(static_cast<std::size_t>(40 + i % 200), static_cast<char>('a' + i % 26));
  }
  // uses-allocator construction hands the resource down to the strings.
  for (auto const& s : v)
    REQUIRE(s.get_allocator().resource() == ferroc::resource());
  for (std::size_t i = 0; i < v.size(); ++i) {
    REQUIRE(v[i].size() == 40 + i % 200);
    REQUIRE(v[i].find_first_not_of(static_cast<char>('a' + i % 26)) == std::pmr::string::npos);
  }
  v.erase(v.begin(), v.begin() + 1000);
  v.shrink_to_fit();
  CHECK(v.size() == 1000);
  CHECK(v.front().front() == static_cast<char>('a' + 1000 % 26));

  std::pmr::map<std::pmr::string, std::pmr::vector<int>> map{ferroc::resource()};
  for (int i = 0; i < 500; ++i) {
    auto& list =
        map[std::pmr::string(60, static_cast<char>('A' + i % 26)) + std::to_string(i).c_str()];
    list.assign(static_cast<std::size_t>(i % 13), i);
    REQUIRE(list.get_allocator().resource() == ferroc::resource());
  }
  CHECK(map.size() == 500);
}

TEST_CASE("pmr: resource() as the upstream of pool resources", "[global][pmr]") {
  CountingResource counting{ferroc::resource()};
  {
    std::pmr::unsynchronized_pool_resource pool{&counting};
    CHECK(pool.upstream_resource() == &counting);
    std::pmr::list<std::pmr::string> list{&pool};
    std::pmr::set<int> set{&pool};
    for (int i = 0; i < 20000; ++i) {
      set.insert(i * 7 % 20000);
      if (i % 10 == 0)
        list.emplace_back(static_cast<std::size_t>(50 + i % 300), 'q');
    }
    CHECK(set.size() == 20000);
    CHECK(list.size() == 2000);
    // Big requests go straight through to the upstream.
    void* big = pool.allocate(1 << 20, 64);
    CHECK(is_aligned(big, 64));
    std::memset(big, 1, 1 << 20);
    pool.deallocate(big, 1 << 20, 64);
    CHECK(counting.allocations > 0);
  }
  // The pool gave everything back to ferroc on destruction.
  CHECK(counting.deallocations == counting.allocations);
  CHECK(counting.bytes_live == 0);

  // Directly on ferroc, no counting layer.
  std::pmr::unsynchronized_pool_resource pool{ferroc::resource()};
  CHECK(pool.upstream_resource() == ferroc::resource());
  {
    std::pmr::vector<std::pmr::vector<std::uint64_t>> vv{&pool};
    for (std::uint64_t i = 0; i < 300; ++i)
      vv.emplace_back(i, i);
    for (std::uint64_t i = 0; i < 300; ++i) {
      REQUIRE(vv[i].size() == i);
      for (auto x : vv[i])
        REQUIRE(x == i);
    }
  }
  pool.release(); // hands every chunk back to ferroc now
}

TEST_CASE("pmr: set_default_resource(resource())", "[global][pmr]") {
  std::pmr::memory_resource* const before = std::pmr::get_default_resource();
  {
    DefaultResourceGuard guard{ferroc::resource()};
    CHECK(guard.previous() == before);
    CHECK(std::pmr::get_default_resource() == ferroc::resource());

    std::pmr::vector<int> v; // default resource
    CHECK(v.get_allocator().resource() == ferroc::resource());
    for (int i = 0; i < 10000; ++i)
      v.push_back(i);
    CHECK(v[9999] == 9999);
    std::pmr::string s(1000, 'x');
    CHECK(s.get_allocator().resource() == ferroc::resource());
    CHECK(ferroc::Ferroc::instance().usable_size(s.data()) >= 1001);

    // Pools made without an upstream use the default resource.
    std::pmr::synchronized_pool_resource pool;
    CHECK(pool.upstream_resource() == ferroc::resource());
    std::pmr::monotonic_buffer_resource mono;
    CHECK(mono.upstream_resource() == ferroc::resource());
    void* p = mono.allocate(100000, 16);
    std::memset(p, 2, 100000);
  }
  CHECK(std::pmr::get_default_resource() == before);
}

TEST_CASE("pmr: global_resource of a custom Global", "[global][pmr]") {
  auto& r = ferroc::global_resource<OtherGlobal>::instance();
  std::pmr::vector<std::pmr::string> v{&r};
  for (int i = 0; i < 500; ++i)
    v.emplace_back(100, static_cast<char>('0' + i % 10));
  for (std::size_t i = 0; i < v.size(); ++i)
    REQUIRE(v[i] == std::pmr::string(100, static_cast<char>('0' + i % 10)));
  // The custom Global's heap serves it, not the default one.
  CHECK(OtherGlobal::thread_heap() != ferroc::DefaultGlobal::thread_heap());
  void* p = r.try_allocate(123);
  REQUIRE(p != nullptr);
  CHECK(r.usable_size(p) >= 123);
  r.deallocate(p);
}

TEST_CASE("pmr: heap_resource over one Heap", "[global][pmr][heap]") {
  auto arenas = std::make_unique<ferroc::Arenas<ferroc::OsAlloc>>(ferroc::OsAlloc{});
  {
    ferroc::Context cx{*arenas};
    ferroc::Heap heap{cx};
    ferroc::Context cx2{*arenas};
    ferroc::Heap heap2{cx2};
    ferroc::heap_resource<ferroc::OsAlloc> res{heap};
    ferroc::heap_resource<ferroc::OsAlloc> res2{heap2};
    CHECK(&res.heap() == &heap);

    // Resources over heaps of the same Arenas are interchangeable.
    CHECK(res.is_equal(res));
    CHECK(res.is_equal(res2));
    CHECK_FALSE(res.is_equal(*ferroc::resource()));
    CHECK_FALSE(ferroc::resource()->is_equal(res));

    {
      std::pmr::vector<std::pmr::string> v{&res};
      for (int i = 0; i < 1000; ++i)
        v.emplace_back(static_cast<std::size_t>(30 + i % 100), 'h');
      for (auto const& s : v)
        REQUIRE(s.get_allocator().resource() == &res);
      CHECK(v[999].size() == 30 + 999 % 100);

      // Memory of one heap freed through the other's resource.
      void* p = res.allocate(256, 256);
      CHECK(is_aligned(p, 256));
      res2.deallocate(p, 256, 256);
    }
    CHECK_THROWS_AS(res.allocate(ferroc_global_test::beyond_address_space), std::bad_alloc);

    // Over another Arenas: not equal.
    auto other = std::make_unique<ferroc::Arenas<ferroc::OsAlloc>>(ferroc::OsAlloc{});
    {
      ferroc::Context ocx{*other};
      ferroc::Heap oheap{ocx};
      ferroc::heap_resource<ferroc::OsAlloc> ores{oheap};
      CHECK_FALSE(res.is_equal(ores));
      CHECK_FALSE(ores.is_equal(res));
      std::pmr::unsynchronized_pool_resource pool{&ores};
      std::pmr::map<int, int> m{&pool};
      for (int i = 0; i < 1000; ++i)
        m[i] = -i;
      CHECK(m.at(500) == -500);
    }
    heap.collect(true);
  }
}
