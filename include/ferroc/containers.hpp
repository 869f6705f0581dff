// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

/// \file
/// The standard containers over the process-wide allocator:
/// `ferroc::vector<T>` is `std::vector<T, ferroc::allocator<T>>`, and so on,
/// as `std::pmr::vector<T>` is `std::vector<T, std::pmr::polymorphic_allocator<T>>`.
///
/// `ferroc::allocator` is stateless, so these containers need no constructor
/// argument and take no room for their allocator: `ferroc::vector<int> v(100);`
/// allocates from the calling thread's heap and may be freed on any thread.
///
/// This header includes the standard header of every container it names
/// (`<vector>`, `<string>`, `<deque>`, `<list>`, `<forward_list>`, `<map>`,
/// `<set>`, `<unordered_map>`, `<unordered_set>`), which costs compile time:
/// `ferroc/ferroc.hpp` does not include it. Include it where the aliases are
/// used, or spell the one you need (`std::vector<T, ferroc::allocator<T>>`).
///
/// For containers over a heap of one's own (LocalHeap), use the `std::pmr`
/// containers with `heap.resource()`, or a `heap_allocator`.

#include <deque>
#include <forward_list>
#include <functional>
#include <list>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "ferroc/detail/config.hpp"
#include "ferroc/global/allocator.hpp"

namespace ferroc {
inline namespace FERROC_CONFIG_NS {

/// `std::vector` over `ferroc::allocator`.
template <class T> using vector = std::vector<T, allocator<T>>;

/// `std::deque` over `ferroc::allocator`.
template <class T> using deque = std::deque<T, allocator<T>>;

/// `std::list` over `ferroc::allocator`.
template <class T> using list = std::list<T, allocator<T>>;

/// `std::forward_list` over `ferroc::allocator`.
template <class T> using forward_list = std::forward_list<T, allocator<T>>;

/// `std::basic_string` over `ferroc::allocator`.
template <class CharT, class Traits = std::char_traits<CharT>>
using basic_string = std::basic_string<CharT, Traits, allocator<CharT>>;

/// `std::string` over `ferroc::allocator`.
using string = basic_string<char>;
/// `std::u8string` over `ferroc::allocator`.
using u8string = basic_string<char8_t>;
/// `std::u16string` over `ferroc::allocator`.
using u16string = basic_string<char16_t>;
/// `std::u32string` over `ferroc::allocator`.
using u32string = basic_string<char32_t>;
/// `std::wstring` over `ferroc::allocator`.
using wstring = basic_string<wchar_t>;

/// `std::map` over `ferroc::allocator`.
template <class Key, class T, class Compare = std::less<Key>>
using map = std::map<Key, T, Compare, allocator<std::pair<Key const, T>>>;

/// `std::multimap` over `ferroc::allocator`.
template <class Key, class T, class Compare = std::less<Key>>
using multimap = std::multimap<Key, T, Compare, allocator<std::pair<Key const, T>>>;

/// `std::set` over `ferroc::allocator`.
template <class Key, class Compare = std::less<Key>>
using set = std::set<Key, Compare, allocator<Key>>;

/// `std::multiset` over `ferroc::allocator`.
template <class Key, class Compare = std::less<Key>>
using multiset = std::multiset<Key, Compare, allocator<Key>>;

/// `std::unordered_map` over `ferroc::allocator`.
template <class Key, class T, class Hash = std::hash<Key>, class Pred = std::equal_to<Key>>
using unordered_map = std::unordered_map<Key, T, Hash, Pred, allocator<std::pair<Key const, T>>>;

/// `std::unordered_multimap` over `ferroc::allocator`.
template <class Key, class T, class Hash = std::hash<Key>, class Pred = std::equal_to<Key>>
using unordered_multimap =
    std::unordered_multimap<Key, T, Hash, Pred, allocator<std::pair<Key const, T>>>;

/// `std::unordered_set` over `ferroc::allocator`.
template <class Key, class Hash = std::hash<Key>, class Pred = std::equal_to<Key>>
using unordered_set = std::unordered_set<Key, Hash, Pred, allocator<Key>>;

/// `std::unordered_multiset` over `ferroc::allocator`.
template <class Key, class Hash = std::hash<Key>, class Pred = std::equal_to<Key>>
using unordered_multiset = std::unordered_multiset<Key, Hash, Pred, allocator<Key>>;

} // namespace FERROC_CONFIG_NS
} // namespace ferroc
