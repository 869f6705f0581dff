// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// The exported fe_* functions of ferroc.h.

#include <ferroc.h>

#include "ferroc/c_api.hpp"

namespace c = ferroc::c_api;

extern "C" {

void* fe_malloc(size_t size) noexcept {
  return c::malloc(size);
}
void* fe_malloc_guarded(size_t size) noexcept {
  return c::malloc_guarded(size);
}
void* fe_calloc(size_t count, size_t size) noexcept {
  return c::calloc(count, size);
}
void* fe_realloc(void* p, size_t size) noexcept {
  return c::realloc(p, size);
}
void* fe_reallocarray(void* p, size_t count, size_t size) noexcept {
  return c::reallocarray(p, count, size);
}
void fe_free(void* p) noexcept {
  c::free(p);
}
void fe_free_sized(void* p, size_t size) noexcept {
  c::free_sized(p, size);
}
void fe_free_aligned_sized(void* p, size_t align, size_t size) noexcept {
  c::free_aligned_sized(p, align, size);
}
void* fe_aligned_alloc(size_t align, size_t size) noexcept {
  return c::aligned_alloc(align, size);
}
int fe_posix_memalign(void** out, size_t align, size_t size) noexcept {
  return c::posix_memalign(out, align, size);
}
void* fe_memalign(size_t align, size_t size) noexcept {
  return c::memalign(align, size);
}
void* fe_valloc(size_t size) noexcept {
  return c::valloc(size);
}
void* fe_pvalloc(size_t size) noexcept {
  return c::pvalloc(size);
}
size_t fe_malloc_usable_size(void const* p) noexcept {
  return c::usable_size(p);
}
void fe_collect(int force) noexcept {
  c::collect(force);
}

void fe_stats(fe_stats_t* out) noexcept {
  if (out != nullptr)
    c::stats(*out);
}
void fe_stats_print(void) noexcept {
  c::print_stats();
}

} // extern "C"
