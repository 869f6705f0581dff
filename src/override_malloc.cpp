// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// The malloc family of the drop-in library (LD_PRELOAD or linked in):
// each symbol forwards to the C API's body; glibc's internal names are
// aliases of the same functions.

#include <climits>
#include <cstddef>
#include <cstdlib>

#include <malloc.h>

#include "ferroc/c_api.hpp"
#include "ferroc/defines_export.hpp"

namespace c = ferroc::c_api;

extern "C" {

FERROC_EXPORT void* malloc(size_t size) noexcept {
  return c::malloc(size);
}
FERROC_EXPORT void free(void* p) noexcept {
  c::free(p);
}
FERROC_EXPORT void* calloc(size_t count, size_t size) noexcept {
  return c::calloc(count, size);
}
FERROC_EXPORT void* realloc(void* p, size_t size) noexcept {
  return c::realloc(p, size);
}
FERROC_EXPORT void* reallocarray(void* p, size_t count, size_t size) noexcept {
  return c::reallocarray(p, count, size);
}
FERROC_EXPORT void* aligned_alloc(size_t align, size_t size) noexcept {
  return c::aligned_alloc(align, size);
}
FERROC_EXPORT int posix_memalign(void** out, size_t align, size_t size) noexcept {
  return c::posix_memalign(out, align, size);
}
FERROC_EXPORT void* memalign(size_t align, size_t size) noexcept {
  return c::memalign(align, size);
}
FERROC_EXPORT void* valloc(size_t size) noexcept {
  return c::valloc(size);
}
FERROC_EXPORT void* pvalloc(size_t size) noexcept {
  return c::pvalloc(size);
}
FERROC_EXPORT size_t malloc_usable_size(void* p) noexcept {
  return c::usable_size(p);
}

// C23's sized frees.
FERROC_EXPORT void free_sized(void* p, size_t size) noexcept {
  c::free_sized(p, size);
}
FERROC_EXPORT void free_aligned_sized(void* p, size_t align, size_t size) noexcept {
  c::free_aligned_sized(p, align, size);
}

// glibc's introspection calls, answered from Ferroc's counters. Without
// them a program would reach glibc's own, which report glibc's empty arena.
FERROC_EXPORT int malloc_trim(size_t /*pad*/) noexcept {
  return c::trim();
}
FERROC_EXPORT struct mallinfo2 mallinfo2() noexcept {
  c::Info const i = c::info();
  struct mallinfo2 m = {};
  m.arena = i.arena;
  m.hblks = i.hblks;
  m.hblkhd = i.hblkhd;
  m.uordblks = i.uordblks;
  m.fordblks = i.fordblks;
  return m;
}
// The old form, with int fields: values past INT_MAX are clamped to it.
FERROC_EXPORT struct mallinfo mallinfo() noexcept {
  c::Info const i = c::info();
  auto clamp = [](size_t v) { return static_cast<int>(v < INT_MAX ? v : INT_MAX); };
  struct mallinfo m = {};
  m.arena = clamp(i.arena);
  m.hblks = clamp(i.hblks);
  m.hblkhd = clamp(i.hblkhd);
  m.uordblks = clamp(i.uordblks);
  m.fordblks = clamp(i.fordblks);
  return m;
}
// Ferroc's statistics table (ferroc/stats.hpp) on stderr, where glibc prints its own.
FERROC_EXPORT void malloc_stats() noexcept {
  c::print_stats();
}
// glibc's tuning parameters do not apply: accepted and ignored, as success.
FERROC_EXPORT int mallopt(int /*param*/, int /*value*/) noexcept {
  return 1;
}

// Old and internal names that some programs and glibc itself call.
FERROC_EXPORT void cfree(void* p) noexcept {
  c::free(p);
}
FERROC_EXPORT void* __libc_malloc(size_t size) noexcept {
  return c::malloc(size);
}
FERROC_EXPORT void __libc_free(void* p) noexcept {
  c::free(p);
}
FERROC_EXPORT void __libc_cfree(void* p) noexcept {
  c::free(p);
}
FERROC_EXPORT void* __libc_calloc(size_t count, size_t size) noexcept {
  return c::calloc(count, size);
}
FERROC_EXPORT void* __libc_realloc(void* p, size_t size) noexcept {
  return c::realloc(p, size);
}
FERROC_EXPORT void* __libc_memalign(size_t align, size_t size) noexcept {
  return c::memalign(align, size);
}
FERROC_EXPORT void* __libc_valloc(size_t size) noexcept {
  return c::valloc(size);
}
FERROC_EXPORT void* __libc_pvalloc(size_t size) noexcept {
  return c::pvalloc(size);
}
FERROC_EXPORT int __posix_memalign(void** out, size_t align, size_t size) noexcept {
  return c::posix_memalign(out, align, size);
}

} // extern "C"

// FERROC_SHOW_STATS=1: the statistics table (ferroc/stats.hpp) on stderr
// when the program ends. A destructor of the library runs after the
// program's own exit handlers, so it sees their frees too.
__attribute__((destructor)) static void ferroc_show_stats_at_exit() {
  char const* show = std::getenv("FERROC_SHOW_STATS");
  if (show != nullptr && show[0] == '1' && show[1] == '\0')
    ferroc::print_stats();
}
