// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// Standard containers on ferroc::allocator<T>, the stateless allocator over the default global
// allocator: a word count in a std::map of strings, a std::unordered_map index, a sorted
// std::vector, a std::list and a shared_ptr from std::allocate_shared. Each result is computed
// once more with std::allocator containers and compared. Returns nonzero on a wrong result.
//
//   containers [words]     (default 100000)
#include <ferroc/ferroc.hpp>

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "example_util.hpp"

namespace {

// The ferroc flavours of the standard containers.
template <class T> using Vector = std::vector<T, ferroc::allocator<T>>;
template <class T> using List = std::list<T, ferroc::allocator<T>>;
using String = std::basic_string<char, std::char_traits<char>, ferroc::allocator<char>>;
template <class K, class V>
using Map = std::map<K, V, std::less<>, ferroc::allocator<std::pair<K const, V>>>;
template <class K, class V>
using HashMap = std::unordered_map<K, V, std::hash<K>, std::equal_to<K>,
                                   ferroc::allocator<std::pair<K const, V>>>;

// A reproducible stream of words, some short (kept inside the string object) and some long
// (in a block of ours).
class Words {
public:
  explicit Words(std::uint64_t seed) : state_(seed) {}
  template <class S> S next() {
    std::uint64_t const r = step();
    std::size_t const len = r % 8 == 0 ? 20 + r % 40 : 1 + r % 6;
    S word;
    for (std::size_t i = 0; i < len; ++i)
      word.push_back(static_cast<char>('a' + (r >> (i % 16 * 4)) % 5)); // few letters: repeats
    return word;
  }

private:
  std::uint64_t step() {
    std::uint64_t x = (state_ += 0x9E3779B97F4A7C15ULL);
    x = (x ^ (x >> 30U)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27U)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31U);
  }
  std::uint64_t state_;
};

} // namespace

int main(int argc, char** argv) {
  std::size_t n = 100000;
  if (argc > 1 && !example::parse(argv[1], 1, 100000000, n)) {
    std::fprintf(stderr, "usage: containers [words: 1..100000000]\n");
    return 2;
  }
  int failures = 0;
  auto check = [&failures](bool ok, char const* what) {
    if (!ok) {
      std::fprintf(stderr, "containers: FAILED: %s\n", what);
      ++failures;
    }
  };

  // Word count: on ferroc, and again on std::allocator for comparison.
  Map<String, std::size_t> counts;
  std::map<std::string, std::size_t> reference;
  {
    Words a(42);
    Words b(42);
    for (std::size_t i = 0; i < n; ++i) {
      ++counts[a.next<String>()];
      ++reference[b.next<std::string>()];
    }
  }
  check(counts.size() == reference.size(), "the maps hold different numbers of words");
  check(std::equal(counts.begin(), counts.end(), reference.begin(), reference.end(),
                   [](auto const& x, auto const& y) {
                     return std::string_view(x.first) == std::string_view(y.first) &&
                            x.second == y.second;
                   }),
        "the word counts differ");
  // Heterogeneous lookup (std::less<>) with a plain string_view.
  if (!reference.empty()) {
    auto const& [word, count] = *reference.begin();
    auto const it = counts.find(std::string_view(word));
    check(it != counts.end() && it->second == count, "lookup by string_view failed");
  }

  // The most frequent words, sorted in a vector of ferroc strings.
  Vector<std::pair<std::size_t, String>> ranked;
  ranked.reserve(counts.size());
  for (auto const& [word, count] : counts)
    ranked.emplace_back(count, word);
  std::sort(ranked.begin(), ranked.end(), [](auto const& x, auto const& y) {
    return x.first != y.first ? x.first > y.first : x.second < y.second;
  });
  std::size_t total = 0;
  for (auto const& [count, word] : ranked)
    total += count;
  check(total == n, "the counts do not add up to the number of words");
  check(std::is_sorted(ranked.begin(), ranked.end(),
                       [](auto const& x, auto const& y) { return x.first > y.first; }),
        "the ranking is not sorted");

  // An index from each distinct word's hash to its rank.
  HashMap<std::size_t, std::size_t> index;
  for (std::size_t i = 0; i < ranked.size(); ++i)
    index.emplace(std::hash<std::string_view>{}(ranked[i].second), i);
  std::size_t found = 0;
  for (std::size_t i = 0; i < ranked.size(); ++i)
    found += index.count(std::hash<std::string_view>{}(ranked[i].second));
  check(found == ranked.size(), "the index lost a word");

  // A list: keep the words seen more than once, then splice two lists together.
  List<String> repeated;
  List<String> singles;
  for (auto const& [count, word] : ranked)
    (count > 1 ? repeated : singles).push_back(word);
  std::size_t const repeated_count = repeated.size();
  std::size_t const singles_count = singles.size();
  repeated.splice(repeated.end(), singles);
  check(repeated.size() == repeated_count + singles_count && singles.empty(), "splice failed");

  // Moving a container hands its memory over: O(1), no copy (the allocator is always equal).
  auto const* data = ranked.data();
  Vector<std::pair<std::size_t, String>> moved = std::move(ranked);
  check(moved.data() == data, "a move copied the elements");

  // A shared object and its control block in one ferroc allocation.
  auto shared = std::allocate_shared<Vector<int>>(ferroc::allocator<Vector<int>>{}, 1000, 7);
  std::weak_ptr<Vector<int>> weak = shared;
  check(shared->size() == 1000 && (*shared)[999] == 7, "allocate_shared built a wrong object");
  shared.reset();
  check(weak.expired(), "the shared object outlived its last owner");

  std::printf("containers: %zu words, %zu distinct, %zu seen more than once\n", n, counts.size(),
              repeated_count);
  if (!moved.empty())
    std::printf("containers: most frequent \"%s\" (%zu times)\n", moved.front().second.c_str(),
                moved.front().first);
  return failures == 0 ? 0 : 1;
}
