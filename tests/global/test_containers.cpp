// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// ferroc/containers.hpp: every alias names the standard container over
// ferroc::allocator, and each works (elements in, found, out), also when a
// container is freed on another thread than the one that filled it.
#include <ferroc/containers.hpp>

#include <catch2/catch.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>

namespace {

template <class T> using A = ferroc::allocator<T>;
template <class K, class V> using PairA = ferroc::allocator<std::pair<K const, V>>;

} // namespace

static_assert(std::is_same_v<ferroc::vector<int>, std::vector<int, A<int>>>);
static_assert(std::is_same_v<ferroc::deque<int>, std::deque<int, A<int>>>);
static_assert(std::is_same_v<ferroc::list<int>, std::list<int, A<int>>>);
static_assert(std::is_same_v<ferroc::forward_list<int>, std::forward_list<int, A<int>>>);
static_assert(
    std::is_same_v<ferroc::string, std::basic_string<char, std::char_traits<char>, A<char>>>);
static_assert(std::is_same_v<ferroc::wstring,
                             std::basic_string<wchar_t, std::char_traits<wchar_t>, A<wchar_t>>>);
static_assert(std::is_same_v<ferroc::u8string,
                             std::basic_string<char8_t, std::char_traits<char8_t>, A<char8_t>>>);
static_assert(std::is_same_v<ferroc::u16string,
                             std::basic_string<char16_t, std::char_traits<char16_t>, A<char16_t>>>);
static_assert(std::is_same_v<ferroc::u32string,
                             std::basic_string<char32_t, std::char_traits<char32_t>, A<char32_t>>>);
static_assert(
    std::is_same_v<ferroc::map<int, long>, std::map<int, long, std::less<int>, PairA<int, long>>>);
static_assert(std::is_same_v<ferroc::multimap<int, long, std::greater<int>>,
                             std::multimap<int, long, std::greater<int>, PairA<int, long>>>);
static_assert(std::is_same_v<ferroc::set<int>, std::set<int, std::less<int>, A<int>>>);
static_assert(std::is_same_v<ferroc::multiset<int>, std::multiset<int, std::less<int>, A<int>>>);
static_assert(std::is_same_v<
              ferroc::unordered_map<int, long>,
              std::unordered_map<int, long, std::hash<int>, std::equal_to<int>, PairA<int, long>>>);
static_assert(std::is_same_v<ferroc::unordered_multimap<int, long>,
                             std::unordered_multimap<int, long, std::hash<int>, std::equal_to<int>,
                                                     PairA<int, long>>>);
static_assert(std::is_same_v<ferroc::unordered_set<int>,
                             std::unordered_set<int, std::hash<int>, std::equal_to<int>, A<int>>>);
static_assert(
    std::is_same_v<ferroc::unordered_multiset<int>,
                   std::unordered_multiset<int, std::hash<int>, std::equal_to<int>, A<int>>>);
// The allocator is stateless: a container takes no room for it, and needs
// no constructor argument.
static_assert(sizeof(ferroc::vector<int>) == sizeof(std::vector<int>));
static_assert(std::is_nothrow_default_constructible_v<ferroc::vector<int>>);

TEST_CASE("the container aliases over ferroc::allocator work", "[global][containers]") {
  constexpr int n = 2000;

  ferroc::vector<int> v;
  ferroc::deque<int> d;
  ferroc::list<int> l;
  ferroc::forward_list<int> fl;
  ferroc::set<int> s;
  ferroc::multiset<int> ms;
  ferroc::map<int, ferroc::string> m;
  ferroc::multimap<int, int> mm;
  ferroc::unordered_set<int> us;
  ferroc::unordered_multiset<int> ums;
  ferroc::unordered_map<ferroc::string, int, std::hash<std::string_view>> um;
  ferroc::unordered_multimap<int, int> umm;
  for (int i = 0; i < n; ++i) {
    v.push_back(i);
    d.push_front(i);
    l.push_back(i);
    fl.push_front(i);
    s.insert(i);
    ms.insert(i % 10);
    m.emplace(i, ferroc::string(40, static_cast<char>('a' + i % 26)));
    mm.emplace(i % 7, i);
    us.insert(i);
    ums.insert(i % 10);
    um.emplace(
        ferroc::string("key that is longer than the small buffer ") + std::to_string(i).c_str(), i);
    umm.emplace(i % 7, i);
  }
  CHECK(v.size() == n);
  CHECK(v[n - 1] == n - 1);
  CHECK(d.front() == n - 1);
  CHECK(l.back() == n - 1);
  CHECK(fl.front() == n - 1);
  CHECK(s.count(n / 2) == 1);
  CHECK(ms.count(3) == n / 10);
  CHECK(m.at(27) == ferroc::string(40, 'b'));
  CHECK(mm.count(0) == (n + 6) / 7);
  CHECK(us.count(n - 1) == 1);
  CHECK(ums.count(9) == n / 10);
  CHECK(um.at("key that is longer than the small buffer 1234") == 1234);
  CHECK(umm.count(6) == n / 7);

  ferroc::u8string u8(100, u8'x');
  ferroc::u16string u16(100, u'x');
  ferroc::u32string u32(100, U'x');
  ferroc::wstring w(100, L'x');
  CHECK((u8.size() == 100 && u16.size() == 100 && u32.size() == 100 && w.size() == 100));

  // Filled here, freed on another thread.
  std::thread([v = std::move(v), m = std::move(m)]() mutable {
    v.clear();
    v.shrink_to_fit();
    m.clear();
  }).join();
}
