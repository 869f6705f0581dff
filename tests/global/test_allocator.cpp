// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// ferroc::allocator<T> (global_allocator over DefaultGlobal): the standard
// Allocator contract, standard containers on it, over-aligned types, and the
// exceptions it throws.
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
#include <new>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "global_test_util.hpp"

namespace {

using ferroc_global_test::is_aligned;

template <class T> using Alloc = ferroc::allocator<T>;
using String = std::basic_string<char, std::char_traits<char>, Alloc<char>>;

template <std::size_t Align> struct alignas(Align) Over {
  std::uint64_t value = 0;
  unsigned char pad[Align - sizeof(std::uint64_t)]{};
};

// ---- traits, checked at compile time ----------------------------------------

using Traits = std::allocator_traits<Alloc<int>>;
static_assert(std::is_same_v<Alloc<int>::value_type, int>);
static_assert(Traits::is_always_equal::value);
static_assert(Traits::propagate_on_container_move_assignment::value);
static_assert(std::is_same_v<Traits::rebind_alloc<double>, Alloc<double>>);
static_assert(std::is_same_v<Traits::rebind_alloc<double>,
                             ferroc::global_allocator<double, ferroc::DefaultGlobal>>);
static_assert(std::is_empty_v<Alloc<int>>, "the global allocator is stateless");
static_assert(std::is_nothrow_default_constructible_v<Alloc<int>>);
static_assert(std::is_nothrow_copy_constructible_v<Alloc<int>>);
static_assert(std::is_nothrow_constructible_v<Alloc<int>, Alloc<double> const&>);
static_assert(noexcept(std::declval<Alloc<int>&>().deallocate(nullptr, 1)));
static_assert(Alloc<int>{} == Alloc<double>{});
static_assert(!(Alloc<int>{} != Alloc<double>{}));

} // namespace

TEST_CASE("allocator: equality, rebind and the raw calls", "[global][allocator]") {
  Alloc<int> a;
  Alloc<double> b{a};
  Alloc<int> c{b};
  CHECK(a == b);
  CHECK(a == c);
  CHECK_FALSE(a != c);

  // Memory from one instance is freed by any other (they are all equal).
  int* p = a.allocate(100);
  REQUIRE(p != nullptr);
  CHECK(is_aligned(p, alignof(int)));
  for (int i = 0; i < 100; ++i)
    p[i] = i * 3;
  CHECK(ferroc::DefaultGlobal::usable_size(p) >= 100 * sizeof(int));
  for (int i = 0; i < 100; ++i)
    REQUIRE(p[i] == i * 3);
  c.deallocate(p, 100);

  // Through a rebound copy.
  using Rebound = std::allocator_traits<Alloc<int>>::rebind_alloc<std::uint64_t>;
  Rebound r{a};
  std::uint64_t* q = r.allocate(3);
  q[0] = q[1] = q[2] = 7;
  CHECK(q[0] + q[1] + q[2] == 21);
  std::allocator_traits<Rebound>::deallocate(r, q, 3);
}

TEST_CASE("usable_size(nullptr) is 0 at every layer, as malloc_usable_size(NULL)",
          "[global][allocator]") {
  CHECK(ferroc::DefaultGlobal::usable_size(nullptr) == 0);
  CHECK(ferroc::Ferroc::instance().usable_size(nullptr) == 0);
  CHECK(ferroc::DefaultGlobal::thread_heap()->usable_size(nullptr) == 0);
  // Also on a thread that has not allocated yet (its placeholder heap).
  std::size_t on_new_thread = 1;
  std::thread t([&] { on_new_thread = ferroc::DefaultGlobal::usable_size(nullptr); });
  t.join();
  CHECK(on_new_thread == 0);
}

TEST_CASE("allocator: bad_alloc and bad_array_new_length", "[global][allocator]") {
  Alloc<char> chars;
  // More than the address space: nothing can give it.
  CHECK_THROWS_AS((void)chars.allocate(ferroc_global_test::beyond_address_space), std::bad_alloc);
  // Half the address space (on 32-bit targets, where 2 GiB may be there,
  // past it).
  std::size_t const half = std::max(std::numeric_limits<std::size_t>::max() / 2,
                                    ferroc_global_test::beyond_address_space);
  CHECK_THROWS_AS((void)chars.allocate(half), std::bad_alloc);
  CHECK_THROWS_AS((void)chars.allocate(std::numeric_limits<std::size_t>::max()), std::bad_alloc);

  // n * sizeof(T) overflows.
  Alloc<std::uint64_t> words;
  std::size_t const too_many = std::numeric_limits<std::size_t>::max() / sizeof(std::uint64_t) + 1;
  CHECK_THROWS_AS((void)words.allocate(too_many), std::bad_array_new_length);
  // bad_array_new_length is a bad_alloc, as operator new[] throws it.
  CHECK_THROWS_AS((void)words.allocate(too_many), std::bad_alloc);

  // Through a container: the allocator's exception reaches the caller and
  // the container is left as it was.
  std::vector<int, Alloc<int>> v{1, 2, 3};
  // max_size() ints are 2 GiB on 32-bit targets, which may be there.
  if (sizeof(void*) >= 8)
    CHECK_THROWS_AS(v.reserve(v.max_size()), std::bad_alloc);
  CHECK(v == std::vector<int, Alloc<int>>{1, 2, 3});

  // The non-throwing calls report failure with nullptr instead.
  CHECK(ferroc::DefaultGlobal::try_allocate(ferroc_global_test::beyond_address_space) == nullptr);
  CHECK(ferroc::Ferroc::instance().try_allocate(std::numeric_limits<std::size_t>::max()) ==
        nullptr);

  // And the allocator still works afterwards.
  char* p = chars.allocate(64);
  std::memset(p, 'x', 64);
  chars.deallocate(p, 64);
}

TEST_CASE("allocator: vector", "[global][allocator][containers]") {
  std::vector<std::uint64_t, Alloc<std::uint64_t>> v;
  std::size_t const n = 100000;
  for (std::size_t i = 0; i < n; ++i)
    v.push_back(i * i);
  for (std::size_t i = 0; i < n; ++i)
    REQUIRE(v[i] == i * i);

  // A move is O(1): the buffer changes hands (is_always_equal).
  std::uint64_t const* data = v.data();
  std::vector<std::uint64_t, Alloc<std::uint64_t>> w;
  w = std::move(v);
  CHECK(w.data() == data);
  CHECK(w.size() == n);

  auto copy = w;
  CHECK(copy == w);
  CHECK(copy.data() != w.data());
  w.clear();
  w.shrink_to_fit();
  CHECK(copy.back() == (n - 1) * (n - 1));

  // Vectors of vectors: many blocks of many sizes.
  std::vector<std::vector<int, Alloc<int>>, Alloc<std::vector<int, Alloc<int>>>> nested(300);
  for (std::size_t i = 0; i < nested.size(); ++i)
    nested[i].assign(i * 7, static_cast<int>(i));
  for (std::size_t i = 0; i < nested.size(); ++i) {
    REQUIRE(nested[i].size() == i * 7);
    for (int x : nested[i])
      REQUIRE(x == static_cast<int>(i));
  }
}

TEST_CASE("allocator: list, map, unordered_map", "[global][allocator][containers]") {
  std::list<int, Alloc<int>> list;
  for (int i = 0; i < 10000; ++i)
    list.push_back(i);
  list.remove_if([](int x) { return x % 3 == 0; });
  long long sum = 0;
  for (int x : list)
    sum += x;
  long long expected = 0;
  for (int i = 0; i < 10000; ++i)
    expected += i % 3 == 0 ? 0 : i;
  CHECK(sum == expected);

  std::map<int, String, std::less<>, Alloc<std::pair<int const, String>>> map;
  for (int i = 0; i < 5000; ++i)
    map.emplace(i, String(static_cast<std::size_t>(i % 97 + 1), static_cast<char>('a' + i % 26)));
  for (int i = 0; i < 5000; i += 2)
    map.erase(i);
  CHECK(map.size() == 2500);
  for (auto const& [k, s] : map) {
    REQUIRE(k % 2 == 1);
    REQUIRE(s.size() == static_cast<std::size_t>(k % 97 + 1));
    REQUIRE(s.find_first_not_of(static_cast<char>('a' + k % 26)) == String::npos);
  }

  std::unordered_map<std::uint64_t, std::uint64_t, std::hash<std::uint64_t>,
                     std::equal_to<std::uint64_t>,
                     Alloc<std::pair<std::uint64_t const, std::uint64_t>>>
      hash;
  for (std::uint64_t i = 0; i < 20000; ++i)
    hash[ferroc_global_test::mix64(i)] = i;
  CHECK(hash.size() == 20000);
  for (std::uint64_t i = 0; i < 20000; ++i)
    REQUIRE(hash.at(ferroc_global_test::mix64(i)) == i);
  hash.rehash(0);
  hash.clear();
  CHECK(hash.empty());
}

TEST_CASE("allocator: basic_string", "[global][allocator][containers]") {
  String s;
  for (int i = 0; i < 2000; ++i)
    s += static_cast<char>('A' + i % 26);
  CHECK(s.size() == 2000);
  CHECK(s[27] == 'B');
  String t = s + s;
  CHECK(t.size() == 4000);
  CHECK(t.substr(2000, 3) == "ABC");
  CHECK(t.compare(2000, 2000, s) == 0);
  // Short strings live inside the object, long ones in a block of ours.
  String big(100000, 'z');
  CHECK(ferroc::DefaultGlobal::usable_size(big.data()) >= big.size() + 1);
  big.resize(10);
  big.shrink_to_fit();
  CHECK(big == "zzzzzzzzzz");
}

TEST_CASE("allocator: allocate_shared", "[global][allocator][containers]") {
  struct Tracked {
    explicit Tracked(int v, int* live) : value(v), live_count(live) { ++*live_count; }
    ~Tracked() { --*live_count; }
    Tracked(Tracked const&) = delete;
    Tracked& operator=(Tracked const&) = delete;
    int value;
    int* live_count;
  };
  int live = 0;
  {
    std::vector<std::shared_ptr<Tracked>> all;
    for (int i = 0; i < 1000; ++i)
      all.push_back(std::allocate_shared<Tracked>(Alloc<Tracked>{}, i, &live));
    CHECK(live == 1000);
    std::weak_ptr<Tracked> weak = all[10];
    for (int i = 0; i < 1000; ++i)
      REQUIRE(all[static_cast<std::size_t>(i)]->value == i);
    all.clear();
    CHECK(weak.expired());
    CHECK(live == 0);
  }
  // Over-aligned objects through allocate_shared keep their alignment.
  auto sp = std::allocate_shared<Over<256>>(Alloc<Over<256>>{});
  CHECK(is_aligned(sp.get(), 256));
  sp->value = 42;
  CHECK(sp->value == 42);
}

TEMPLATE_TEST_CASE("allocator: over-aligned types", "[global][allocator][align]", Over<64>,
                   Over<256>, Over<4096>) {
  constexpr std::size_t align = alignof(TestType);
  STATIC_REQUIRE(align == sizeof(TestType));
  Alloc<TestType> a;

  SECTION("single objects and arrays") {
    for (std::size_t n :
         {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{17}, std::size_t{100}}) {
      TestType* p = a.allocate(n);
      REQUIRE(is_aligned(p, align));
      for (std::size_t i = 0; i < n; ++i)
        ::new (static_cast<void*>(p + i)) TestType{};
      p[n - 1].value = n;
      CHECK(ferroc::DefaultGlobal::usable_size(p) >= n * sizeof(TestType));
      a.deallocate(p, n);
    }
  }

  SECTION("vector and list") {
    std::vector<TestType, Alloc<TestType>> v;
    for (std::uint64_t i = 0; i < 200; ++i) {
      v.push_back(TestType{});
      v.back().value = i;
      REQUIRE(is_aligned(v.data(), align));
    }
    for (std::uint64_t i = 0; i < 200; ++i)
      REQUIRE(v[i].value == i);

    std::list<TestType, Alloc<TestType>> list(50);
    std::uint64_t k = 0;
    for (auto& x : list) {
      REQUIRE(is_aligned(&x, align));
      x.value = k++;
    }
    CHECK(list.back().value == 49);
  }

  SECTION("many at once stay distinct") {
    std::vector<TestType*> blocks;
    for (std::uint64_t i = 0; i < 300; ++i) {
      TestType* p = a.allocate(1);
      REQUIRE(is_aligned(p, align));
      ::new (static_cast<void*>(p)) TestType{};
      p->value = i;
      blocks.push_back(p);
    }
    for (std::uint64_t i = 0; i < 300; ++i) {
      REQUIRE(blocks[i]->value == i);
      a.deallocate(blocks[i], 1);
    }
  }
}

TEST_CASE("global: alignments up to beyond a segment", "[global][align]") {
  using G = ferroc::DefaultGlobal;
  for (std::size_t align = 1; align <= (std::size_t{1} << 24); align *= 2) {
    for (std::size_t size :
         {std::size_t{0}, std::size_t{1}, std::size_t{24}, align, align + 8, std::size_t{100000}}) {
      void* p = G::try_allocate(size, align);
      INFO("align " << align << " size " << size);
      REQUIRE(p != nullptr);
      CHECK(is_aligned(p, align));
      CHECK(G::usable_size(p) >= size);
      std::memset(p, 0xA5, size);
      G::deallocate(p);
    }
  }
}

TEST_CASE("global: zeroed, reallocate and usable_size", "[global]") {
  using G = ferroc::DefaultGlobal;
  ferroc_global_test::Rng rng(7);
  for (int round = 0; round < 200; ++round) {
    std::size_t const size = rng.size();
    auto* z = static_cast<unsigned char*>(G::allocate_zeroed(size));
    REQUIRE(z != nullptr);
    bool zero = true;
    for (std::size_t i = 0; i < size; ++i)
      zero = zero && z[i] == 0;
    REQUIRE(zero);
    ferroc_global_test::fill(z, size, static_cast<std::uint64_t>(round));
    std::size_t const bigger = size * 3 + 1;
    auto* g = static_cast<unsigned char*>(G::reallocate(z, bigger));
    REQUIRE(g != nullptr);
    REQUIRE(ferroc_global_test::holds(g, size, static_cast<std::uint64_t>(round)));
    REQUIRE(G::usable_size(g) >= bigger);
    std::size_t const smaller = size / 2 + 1;
    auto* s = static_cast<unsigned char*>(G::reallocate(g, smaller));
    REQUIRE(s != nullptr);
    REQUIRE(ferroc_global_test::holds(s, smaller, static_cast<std::uint64_t>(round)));
    G::deallocate(s);
  }
  // reallocate(nullptr, n) allocates; deallocate(nullptr) does nothing.
  void* p = G::reallocate(nullptr, 40);
  REQUIRE(p != nullptr);
  G::deallocate(p);
  G::deallocate(nullptr);
  // A failed reallocate leaves the block alone.
  void* q = G::try_allocate(100);
  std::memset(q, 1, 100);
  CHECK(G::reallocate(q, ferroc_global_test::beyond_address_space) == nullptr);
  CHECK(static_cast<unsigned char*>(q)[99] == 1);
  G::deallocate(q);
  G::collect(false);
  G::collect(true);
}
