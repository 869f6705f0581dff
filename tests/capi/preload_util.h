/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#ifndef FERROC_CAPI_PRELOAD_UTIL_H
#define FERROC_CAPI_PRELOAD_UTIL_H

/*
 * For the programs that run on the drop-in replacement (LD_PRELOAD of
 * libferroc.so, or ferroc::override linked in): make sure it is really the
 * one that answers malloc, so that a test cannot pass on the C library's
 * allocator by mistake, reach fe_collect without linking to Ferroc, and
 * read the process's VmSize.
 * Needs _GNU_SOURCE (dladdr) and check.h; link with -ldl.
 */

#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Where the process's `name` comes from: the object that defines the
 * symbol dlsym finds first (what every call in the process binds to). */
static inline char const* symbol_origin(char const* name, void** base) {
  Dl_info info;
  void* sym = dlsym(RTLD_DEFAULT, name);
  *base = NULL;
  if (sym == NULL || dladdr(sym, &info) == 0)
    return NULL;
  *base = info.dli_fbase;
  return info.dli_fname != NULL ? info.dli_fname : "?";
}

/*
 * Requires that the whole malloc family resolves to one object: with
 * `expect_linked` == 0, a shared library named libferroc that also exports
 * fe_malloc (the preload); otherwise the main program itself (the static
 * override linked in). Exits on failure.
 */
static inline void require_ferroc_malloc(int expect_linked) {
  static char const* const names[] = {
      "malloc",         "free",     "calloc", "realloc", "reallocarray",      "aligned_alloc",
      "posix_memalign", "memalign", "valloc", "pvalloc", "malloc_usable_size"};
  /* A program that links the override in binds its own calls to these at
   * link time, and exports only the names a shared object also has: only
   * the preloaded library's are looked up. */
  static char const* const preloaded_names[] = {"free_sized", "free_aligned_sized", "malloc_trim",
                                                "mallinfo2",  "mallinfo",           "malloc_stats",
                                                "mallopt"};
  void* malloc_base = NULL;
  char const* malloc_from = symbol_origin("malloc", &malloc_base);
  size_t i = 0;
  REQUIRE(malloc_from != NULL);
  if (expect_linked) {
    static int const in_this_program = 0;
    Dl_info self;
    CHECK_MSG(dladdr(&in_this_program, &self) != 0 && self.dli_fbase == malloc_base,
              "malloc comes from %s, not from this program (is ferroc::override linked in?)",
              malloc_from);
  } else {
    void* fe_base = NULL;
    char const* fe_from = symbol_origin("fe_malloc", &fe_base);
    CHECK_MSG(strstr(malloc_from, "libferroc") != NULL,
              "malloc comes from %s, not libferroc (is LD_PRELOAD set?)", malloc_from);
    CHECK_MSG(fe_from != NULL && fe_base == malloc_base,
              "fe_malloc is missing or not in the object that defines malloc (%s)", malloc_from);
  }
  for (i = 0; i < sizeof names / sizeof names[0]; ++i) {
    void* base = NULL;
    char const* from = symbol_origin(names[i], &base);
    CHECK_MSG(from != NULL && base == malloc_base, "%s comes from %s, malloc from %s", names[i],
              from != NULL ? from : "(nowhere)", malloc_from);
  }
  for (i = 0; !expect_linked && i < sizeof preloaded_names / sizeof preloaded_names[0]; ++i) {
    void* base = NULL;
    char const* from = symbol_origin(preloaded_names[i], &base);
    CHECK_MSG(from != NULL && base == malloc_base, "%s comes from %s, malloc from %s",
              preloaded_names[i], from != NULL ? from : "(nowhere)", malloc_from);
  }
  if (check_failures != 0) {
    fprintf(stderr, "the malloc replacement is not active: stopping\n");
    exit(1);
  }
}

/* VmSize of this process in bytes, from /proc/self/status without stdio
 * (whose buffers would be allocated); 0 if unknown. */
static inline size_t vm_size(void) {
  static char buf[4096];
  ssize_t n = 0;
  char const* line = NULL;
  int const fd = open("/proc/self/status", O_RDONLY);
  if (fd < 0)
    return 0;
  n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0)
    return 0;
  buf[n] = '\0';
  line = strstr(buf, "VmSize:");
  return line == NULL ? 0 : (size_t)strtoull(line + 7, NULL, 10) * 1024;
}

/* fe_collect of the replacement, looked up at run time; NULL if absent. */
typedef void (*fe_collect_fn)(int);

static inline fe_collect_fn find_fe_collect(void) {
  fe_collect_fn fn = NULL;
  void* sym = dlsym(RTLD_DEFAULT, "fe_collect");
  /* An object pointer to a function pointer, the way POSIX allows it. */
  memcpy(&fn, &sym, sizeof fn);
  return fn;
}

#endif /* FERROC_CAPI_PRELOAD_UTIL_H */
