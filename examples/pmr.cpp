// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// Ferroc as a std::pmr::memory_resource: ferroc::resource() (the process-wide
// ferroc::Ferroc::instance()) made the default resource, so that every pmr container and pool
// without an explicit resource allocates through ferroc. Also shows the resource's
// non-throwing calls. The previous default resource is put back at the end. Returns nonzero on
// a wrong result.
//
//   pmr [n]     (default 100000)
#include <ferroc/ferroc.hpp>

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory_resource>
#include <new>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "example_util.hpp"

namespace {

int failures = 0;

void check(bool ok, char const* what) {
  if (!ok) {
    std::fprintf(stderr, "pmr: FAILED: %s\n", what);
    ++failures;
  }
}

void run(std::size_t n) {
  // No resource named: these use the default one, which is now ferroc.
  std::pmr::vector<std::pmr::string> lines;
  check(lines.get_allocator().resource() == ferroc::resource(), "vector not on ferroc");
  for (std::size_t i = 0; i < n; ++i) {
    lines.emplace_back("line ");
    lines.back() += std::to_string(i).c_str();
    lines.back().append(i % 7 * 10, '.'); // some leave the small-string buffer
  }
  // The strings got ferroc too, from the vector (uses-allocator construction).
  check(lines.back().get_allocator().resource() == ferroc::resource(), "string not on ferroc");

  std::pmr::unordered_map<std::pmr::string, std::size_t> where;
  for (std::size_t i = 0; i < lines.size(); ++i)
    where.emplace(lines[i], i);
  check(where.size() == n, "the map lost lines");
  for (std::size_t i = 0; i < n; i += 97)
    check(where.at(lines[i]) == i, "the map gives a wrong line");

  // A pool for many small nodes; it asks the default resource (ferroc) for big chunks.
  std::pmr::unsynchronized_pool_resource pool;
  check(pool.upstream_resource() == ferroc::resource(), "pool upstream not ferroc");
  {
    std::pmr::vector<std::pmr::vector<std::uint32_t>> buckets{&pool};
    buckets.resize(64);
    for (std::uint32_t i = 0; i < n; ++i)
      buckets[i % 64].push_back(i);
    std::size_t total = 0;
    for (auto const& b : buckets) {
      total += b.size();
      for (std::size_t k = 1; k < b.size(); ++k)
        check(b[k] == b[k - 1] + 64, "a bucket holds a wrong value");
    }
    check(total == n, "buckets lost values");
  }

  // A monotonic arena for short-lived scratch data, also refilled from ferroc.
  std::pmr::monotonic_buffer_resource scratch;
  std::pmr::string joined{&scratch};
  for (std::size_t i = 0; i < 100 && i < n; ++i)
    joined += lines[i];
  check(joined.compare(0, 6, "line 0") == 0, "the joined text is wrong");

  // The non-throwing calls, for code that wants nullptr instead of exceptions.
  ferroc::Ferroc& f = ferroc::Ferroc::instance();
  void* p = f.try_allocate(1000, 64);
  check(p != nullptr && reinterpret_cast<std::uintptr_t>(p) % 64 == 0, "try_allocate failed");
  check(f.usable_size(p) >= 1000, "usable_size below the request");
  std::memset(p, 1, 1000);
  p = f.reallocate(p, 100000);
  check(p != nullptr && static_cast<unsigned char*>(p)[999] == 1, "reallocate lost contents");
  f.deallocate(p);
  // More than any address space holds (2^50 bytes; on 32-bit targets past
  // PTRDIFF_MAX, where every request fails).
  std::size_t const impossible = sizeof(std::size_t) >= 8
                                     ? static_cast<std::size_t>(std::uint64_t{1} << 50)
                                     : static_cast<std::size_t>(PTRDIFF_MAX) + 1;
  check(f.try_allocate(impossible) == nullptr, "an impossible size did not fail");
  bool threw = false;
  try {
    (void)ferroc::resource()->allocate(impossible);
  } catch (std::bad_alloc const&) {
    threw = true;
  }
  check(threw, "memory_resource::allocate did not throw std::bad_alloc");
}

} // namespace

int main(int argc, char** argv) {
  std::size_t n = 100000;
  if (argc > 1 && !example::parse(argv[1], 1, 100000000, n)) {
    std::fprintf(stderr, "usage: pmr [n: 1..100000000]\n");
    return 2;
  }
  std::pmr::memory_resource* const previous = std::pmr::set_default_resource(ferroc::resource());
  run(n);
  // Everything allocated from ferroc above has been freed; give its memory back now.
  ferroc::Ferroc::instance().collect(/*force=*/true);
  std::pmr::set_default_resource(previous);
  check(std::pmr::get_default_resource() == previous, "the default resource was not restored");
  std::printf("pmr: %zu lines on the default resource, which was ferroc::resource()\n", n);
  return failures == 0 ? 0 : 1;
}
