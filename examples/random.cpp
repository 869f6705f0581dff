// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// A random workload of mixed sizes: a table of slots, and at each step a random slot is either
// filled with a new block (a few bytes up to a few MiB, mostly small, sometimes zeroed) or
// resized or checked and freed. Every block carries a pattern that is checked before it is
// resized or freed, and zeroed blocks must read as zero.
//
// The same seeded sequence runs on ferroc's global allocator and on the system malloc, twice
// each, and the example prints the better time of each. Returns nonzero on a wrong result.
//
//   random [steps] [slots] [seed]     (defaults: 200000 steps, 1000 slots, seed 1)
#include <ferroc/ferroc.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

#include "example_util.hpp"

namespace {

using example::FerrocAlloc;
using example::SystemAlloc;

using example::Rng;

// 70 % up to 128 B, 20 % up to 4 KiB, 9 % up to 256 KiB, 1 % up to 4 MiB.
std::size_t random_size(Rng& rng) {
  std::size_t const r = rng.below(100);
  if (r < 70)
    return 1 + rng.below(128);
  if (r < 90)
    return 1 + rng.below(4096);
  if (r < 99)
    return 1 + rng.below(256 * 1024);
  return 1 + rng.below(4 * 1024 * 1024);
}

struct Slot {
  unsigned char* p = nullptr;
  std::size_t size = 0;
  std::uint64_t tag = 0;
};

// Only a few bytes at each end and in the middle are written and checked: enough to catch a
// block that overlaps another, without making the big blocks dominate the time.
constexpr std::size_t probe = 32;

void mark(Slot const& s) {
  auto put = [&s](std::size_t at) {
    for (std::size_t i = at; i < at + probe && i < s.size; ++i)
      s.p[i] = static_cast<unsigned char>(s.tag + i);
  };
  put(0);
  put(s.size / 2);
  put(s.size > probe ? s.size - probe : 0);
}

bool marked(Slot const& s, std::size_t valid) {
  auto ok = [&s, valid](std::size_t at) {
    for (std::size_t i = at; i < at + probe && i < valid; ++i) {
      if (s.p[i] != static_cast<unsigned char>(s.tag + i))
        return false;
    }
    return true;
  };
  // After a shrink only the bytes below `valid` are kept.
  return ok(0) && (s.size / 2 >= valid || ok(s.size / 2)) &&
         (s.size <= probe || s.size - probe >= valid || ok(s.size - probe));
}

bool zeroed(unsigned char const* p, std::size_t size) {
  for (std::size_t i = 0; i < size; ++i) {
    if (p[i] != 0)
      return false;
  }
  return true;
}

struct Result {
  std::size_t errors = 0;
  std::uint64_t bytes = 0; // total requested, identical for both allocators
  double seconds = 0;
};

template <class A> Result run(std::size_t steps, std::size_t slots, std::uint64_t seed) {
  Result res;
  Rng rng(seed);
  std::vector<Slot> table(slots);
  auto const start = std::chrono::steady_clock::now();
  for (std::size_t step = 0; step < steps; ++step) {
    Slot& s = table[rng.below(slots)];
    std::size_t const action = rng.below(10);
    if (s.p == nullptr) {
      s.size = random_size(rng);
      s.tag = step;
      bool const zero = action == 0;
      s.p = static_cast<unsigned char*>(zero ? A::allocate_zeroed(s.size) : A::allocate(s.size));
      res.bytes += s.size;
      if (s.p == nullptr) {
        ++res.errors;
        continue;
      }
      if (zero && !zeroed(s.p, s.size))
        ++res.errors;
      mark(s);
    } else if (action < 2) {
      // Resize: contents up to the smaller size must survive.
      std::size_t const new_size = random_size(rng);
      std::size_t const kept = new_size < s.size ? new_size : s.size;
      auto* q = static_cast<unsigned char*>(A::reallocate(s.p, new_size));
      res.bytes += new_size;
      if (q == nullptr) {
        ++res.errors;
        continue;
      }
      s.p = q;
      if (!marked(s, kept))
        ++res.errors;
      s.size = new_size;
      s.tag = step;
      mark(s);
    } else {
      if (!marked(s, s.size))
        ++res.errors;
      A::deallocate(s.p);
      s = Slot{};
    }
  }
  for (Slot& s : table) {
    if (s.p != nullptr) {
      if (!marked(s, s.size))
        ++res.errors;
      A::deallocate(s.p);
    }
  }
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return res;
}

} // namespace

int main(int argc, char** argv) {
  std::size_t steps = 200000;
  std::size_t slots = 1000;
  std::size_t seed = 1;
  if ((argc > 1 && !example::parse(argv[1], 1, 1000000000, steps)) ||
      (argc > 2 && !example::parse(argv[2], 1, 10000000, slots)) ||
      (argc > 3 && !example::parse(argv[3], 0, static_cast<std::size_t>(-1), seed))) {
    std::fprintf(stderr, "usage: random [steps] [slots] [seed]\n");
    return 2;
  }

  // Two alternating rounds each, keeping the faster time: the first round of a process pays
  // for touching fresh memory, whichever allocator runs it.
  Result f = run<FerrocAlloc>(steps, slots, seed);
  Result m = run<SystemAlloc>(steps, slots, seed);
  Result const f2 = run<FerrocAlloc>(steps, slots, seed);
  Result const m2 = run<SystemAlloc>(steps, slots, seed);
  f.errors += f2.errors;
  m.errors += m2.errors;
  f.seconds = std::min(f.seconds, f2.seconds);
  m.seconds = std::min(m.seconds, m2.seconds);
  ferroc::Ferroc::instance().collect(/*force=*/true);

  std::printf("random: %zu steps over %zu slots, %.1f MiB requested\n", steps, slots,
              static_cast<double>(f.bytes) / (1024.0 * 1024.0));
  std::printf("random: %s %.3f s, %s %.3f s\n", FerrocAlloc::name, f.seconds, SystemAlloc::name,
              m.seconds);

  int failures = 0;
  if (f.errors != 0) {
    std::fprintf(stderr, "random: FAILED: %zu wrong or failed blocks with ferroc\n", f.errors);
    ++failures;
  }
  if (m.errors != 0) {
    std::fprintf(stderr, "random: FAILED: %zu wrong or failed blocks with malloc\n", m.errors);
    ++failures;
  }
  if (f.bytes != m.bytes || f2.bytes != f.bytes || m2.bytes != m.bytes) {
    std::fprintf(stderr, "random: FAILED: the two runs did not do the same work\n");
    ++failures;
  }
  return failures == 0 ? 0 : 1;
}
