// SPDX-License-Identifier: Apache-2.0 OR MIT
// The C API's header compiles in C++17: only the C++ headers need C++20.
#include <ferroc.h>

void* uses_c_api(size_t size) {
  void* p = fe_malloc(size);
  fe_free(p);
  return fe_calloc(1, size);
}
