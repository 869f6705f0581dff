// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// The malloc family of the drop-in library (LD_PRELOAD or linked in):
// each symbol forwards to the C API's body; glibc's internal names are
// aliases of the same functions.

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
