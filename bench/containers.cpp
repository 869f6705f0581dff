// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// Standard containers over ferroc::allocator<T> and ferroc::resource(),
// against std::allocator<T> (glibc malloc behind operator new) and
// std::pmr::new_delete_resource().

#include <benchmark/benchmark.h>

#include <list>
#include <map>
#include <memory_resource>
#include <string>
#include <unordered_map>
#include <vector>

#include <ferroc/ferroc.hpp>

namespace {

constexpr int elements = 1000;

template <template <class> class Alloc> void vector_push_back(benchmark::State& state) {
  for (auto _ : state) {
    std::vector<int, Alloc<int>> v;
    for (int i = 0; i < elements; ++i)
      v.push_back(i);
    benchmark::DoNotOptimize(v.data());
  }
  state.SetItemsProcessed(state.iterations() * elements);
}

template <template <class> class Alloc> void list_push_back(benchmark::State& state) {
  for (auto _ : state) {
    std::list<int, Alloc<int>> l;
    for (int i = 0; i < elements; ++i)
      l.push_back(i);
    benchmark::DoNotOptimize(l.back());
  }
  state.SetItemsProcessed(state.iterations() * elements);
}

template <template <class> class Alloc> void map_insert(benchmark::State& state) {
  using Map = std::map<int, int, std::less<>, Alloc<std::pair<int const, int>>>;
  for (auto _ : state) {
    Map m;
    for (int i = 0; i < elements; ++i)
      m.emplace((i * 7919) % elements, i);
    benchmark::DoNotOptimize(m.size());
  }
  state.SetItemsProcessed(state.iterations() * elements);
}

template <template <class> class Alloc> void unordered_map_insert(benchmark::State& state) {
  using Map = std::unordered_map<int, int, std::hash<int>, std::equal_to<>,
                                 Alloc<std::pair<int const, int>>>;
  for (auto _ : state) {
    Map m;
    for (int i = 0; i < elements; ++i)
      m.emplace(i, i);
    benchmark::DoNotOptimize(m.size());
  }
  state.SetItemsProcessed(state.iterations() * elements);
}

template <template <class> class Alloc> void string_append(benchmark::State& state) {
  using String = std::basic_string<char, std::char_traits<char>, Alloc<char>>;
  for (auto _ : state) {
    std::vector<String, Alloc<String>> strings;
    strings.reserve(elements / 10);
    for (int i = 0; i < elements / 10; ++i) {
      String s;
      for (int j = 0; j < 20; ++j)
        s += "0123456789";
      strings.push_back(std::move(s));
    }
    benchmark::DoNotOptimize(strings.data());
  }
  state.SetItemsProcessed(state.iterations() * (elements / 10));
}

template <class T> using ferroc_alloc = ferroc::allocator<T>;
template <class T> using std_alloc = std::allocator<T>;

void pmr_strings(benchmark::State& state, std::pmr::memory_resource* resource) {
  for (auto _ : state) {
    std::pmr::vector<std::pmr::string> v(resource);
    for (int i = 0; i < elements / 10; ++i)
      v.emplace_back("a string long enough to need its own heap block");
    benchmark::DoNotOptimize(v.data());
  }
  state.SetItemsProcessed(state.iterations() * (elements / 10));
}

void pmr_pool(benchmark::State& state, std::pmr::memory_resource* upstream) {
  for (auto _ : state) {
    std::pmr::unsynchronized_pool_resource pool(upstream);
    std::pmr::list<int> l(&pool);
    for (int i = 0; i < elements; ++i)
      l.push_back(i);
    benchmark::DoNotOptimize(l.back());
  }
  state.SetItemsProcessed(state.iterations() * elements);
}

} // namespace

BENCHMARK_TEMPLATE(vector_push_back, ferroc_alloc);
BENCHMARK_TEMPLATE(vector_push_back, std_alloc);
BENCHMARK_TEMPLATE(list_push_back, ferroc_alloc);
BENCHMARK_TEMPLATE(list_push_back, std_alloc);
BENCHMARK_TEMPLATE(map_insert, ferroc_alloc);
BENCHMARK_TEMPLATE(map_insert, std_alloc);
BENCHMARK_TEMPLATE(unordered_map_insert, ferroc_alloc);
BENCHMARK_TEMPLATE(unordered_map_insert, std_alloc);
BENCHMARK_TEMPLATE(string_append, ferroc_alloc);
BENCHMARK_TEMPLATE(string_append, std_alloc);
BENCHMARK_CAPTURE(pmr_strings, ferroc, ferroc::resource());
BENCHMARK_CAPTURE(pmr_strings, new_delete, std::pmr::new_delete_resource());
BENCHMARK_CAPTURE(pmr_pool, ferroc, ferroc::resource());
BENCHMARK_CAPTURE(pmr_pool, new_delete, std::pmr::new_delete_resource());

BENCHMARK_MAIN();
