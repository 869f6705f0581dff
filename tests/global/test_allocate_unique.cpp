// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// ferroc::allocate_unique and allocator_delete: the memory comes from the
// allocator given (rebound to the object's type) and goes back to it, also
// when the constructor throws; with ferroc::allocator, a LocalHeap's
// heap_allocator, std::pmr::polymorphic_allocator and a counting
// allocator; single objects only.
#include <ferroc/allocate_unique.hpp>
#include <ferroc/ferroc.hpp>

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <memory_resource>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

// What a CountingAllocator (and its copies and rebinds) did.
struct Counts {
  int allocations = 0;
  int deallocations = 0;
  std::size_t last_size = 0; // bytes of the last allocation
};

// A stateful standard Allocator over std::allocator that counts its calls.
template <class T> class CountingAllocator {
public:
  using value_type = T;

  explicit CountingAllocator(Counts& counts) noexcept : counts_(&counts) {}
  template <class U>
  CountingAllocator(CountingAllocator<U> const& other) noexcept : counts_(other.counts()) {}

  T* allocate(std::size_t n) {
    ++counts_->allocations;
    counts_->last_size = n * sizeof(T);
    return std::allocator<T>{}.allocate(n);
  }
  void deallocate(T* p, std::size_t n) noexcept {
    ++counts_->deallocations;
    std::allocator<T>{}.deallocate(p, n);
  }
  Counts* counts() const noexcept { return counts_; }

  template <class U>
  friend bool operator==(CountingAllocator const& a, CountingAllocator<U> const& b) {
    return a.counts() == b.counts();
  }

private:
  Counts* counts_;
};

int alive = 0; // objects of Tracked alive

struct Tracked {
  explicit Tracked(int v, bool fail = false) : value(v) {
    if (fail)
      throw std::runtime_error("Tracked: constructor fails");
    ++alive;
  }
  Tracked(Tracked const&) = delete;
  ~Tracked() { --alive; }
  int value;
  char pad[40] = {};
};

struct alignas(128) Aligned {
  std::uint64_t word = 7;
};

template <class T, class A>
concept can_allocate_unique = requires(A const& a) {
  ferroc::allocate_unique<T>(a);
};

std::size_t live_count(ferroc::LocalHeap<>& heap) {
  std::size_t n = 0;
  heap.heap().visit([&](void* /*p*/, std::size_t /*usable*/) { ++n; });
  return n;
}

} // namespace

// Single objects only.
static_assert(can_allocate_unique<int, std::allocator<int>>);
static_assert(!can_allocate_unique<int[], std::allocator<int>>);
static_assert(!can_allocate_unique<int[4], std::allocator<int>>);
// Rebound to the object's type; the deleter holds the rebound allocator.
static_assert(
    std::is_same_v<
        decltype(ferroc::allocate_unique<std::string>(ferroc::allocator<char>{})),
        std::unique_ptr<std::string, ferroc::allocator_delete<ferroc::allocator<std::string>>>>);
// Over a stateless allocator the deleter takes no room.
static_assert(std::is_empty_v<ferroc::allocator_delete<ferroc::allocator<int>>>);
static_assert(sizeof(std::unique_ptr<int, ferroc::allocator_delete<ferroc::allocator<int>>>) ==
              sizeof(int*));
static_assert(std::is_nothrow_invocable_v<ferroc::allocator_delete<ferroc::allocator<int>>&, int*>);
static_assert(std::is_default_constructible_v<ferroc::allocator_delete<ferroc::allocator<int>>>);
static_assert(!std::is_default_constructible_v<ferroc::allocator_delete<CountingAllocator<int>>>);

TEST_CASE("allocate_unique frees the memory when the constructor throws",
          "[global][allocate_unique]") {
  Counts counts;
  CountingAllocator<char> alloc{counts};
  alive = 0;
  REQUIRE_THROWS_AS(ferroc::allocate_unique<Tracked>(alloc, 1, true), std::runtime_error);
  CHECK(counts.allocations == 1);
  CHECK(counts.deallocations == 1);
  CHECK(alive == 0);

  {
    auto p = ferroc::allocate_unique<Tracked>(alloc, 42);
    CHECK(p->value == 42);
    CHECK(alive == 1);
    CHECK(counts.allocations == 2);
    CHECK(counts.last_size == sizeof(Tracked)); // rebound: one Tracked, not one char
    CHECK(counts.deallocations == 1);
    CHECK(p.get_deleter().get_allocator().counts() == &counts);
  }
  CHECK(alive == 0);
  CHECK(counts.deallocations == 2);

  // release() hands the object over; the deleter frees it later.
  auto p = ferroc::allocate_unique<Tracked>(alloc, 5);
  auto deleter = p.get_deleter();
  Tracked* raw = p.release();
  CHECK(counts.deallocations == 2);
  deleter(raw);
  CHECK(counts.deallocations == 3);
  CHECK(alive == 0);
}

TEST_CASE("allocate_unique with ferroc::allocator", "[global][allocate_unique]") {
  auto s = ferroc::allocate_unique<std::string>(ferroc::allocator<char>{}, 100, 'x');
  CHECK(*s == std::string(100, 'x'));
  // The object is a block of the process-wide allocator (which frees only
  // its own blocks through deallocate_if_ours).
  std::string* raw = s.release();
  std::destroy_at(raw);
  CHECK(ferroc::DefaultGlobal::deallocate_if_ours(raw));

  auto a = ferroc::allocate_unique<Aligned>(ferroc::allocator<int>{});
  CHECK(reinterpret_cast<std::uintptr_t>(a.get()) % 128 == 0);
  CHECK(a->word == 7);

  std::unique_ptr<int, ferroc::allocator_delete<ferroc::allocator<int>>> empty;
  CHECK(empty == nullptr);
  empty = ferroc::allocate_unique<int>(ferroc::allocator<int>{}, 3);
  CHECK(*empty == 3);
}

TEST_CASE("allocate_unique with a LocalHeap's allocator and resource",
          "[global][allocate_unique]") {
  ferroc::LocalHeap heap;
  alive = 0;
  {
    auto p = ferroc::allocate_unique<Tracked>(heap.allocator<Tracked>(), 9);
    CHECK(live_count(heap) == 1);
    CHECK(&p.get_deleter().get_allocator().heap() == &heap.heap());
    CHECK(p->value == 9);
  }
  CHECK(live_count(heap) == 0);
  CHECK(alive == 0);
  REQUIRE_THROWS_AS(ferroc::allocate_unique<Tracked>(heap.allocator<int>(), 1, true),
                    std::runtime_error);
  CHECK(live_count(heap) == 0);

  // polymorphic_allocator passes itself on: the vector inside allocates
  // from the same resource.
  std::pmr::polymorphic_allocator<> pa{heap.resource()};
  {
    auto v = ferroc::allocate_unique<std::pmr::vector<int>>(pa, 1000, 4);
    CHECK(v->get_allocator().resource() == heap.resource());
    CHECK(v->size() == 1000);
    CHECK(live_count(heap) == 2); // the vector object and its buffer
  }
  CHECK(live_count(heap) == 0);
}
