// SPDX-License-Identifier: Apache-2.0 OR MIT
// Must draw a deprecation warning (see tests/global/CMakeLists.txt).
#include <ferroc/global/resource.hpp>

void use_old_name(void* p) {
  ferroc::Ferroc::instance().free(p);
}
