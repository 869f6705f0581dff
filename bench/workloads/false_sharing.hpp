// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

// What cache_scratch and cache_thrash share: the small objects whose bytes
// the threads write over and over, and the writing itself.

#include "workload.hpp"

namespace workload {

inline constexpr std::size_t object_size = 8;
inline constexpr std::uint64_t objects_per_scale = 2000;
inline constexpr unsigned writes_per_object = 1000;

/// Writes every byte of the object `writes_per_object` times; returns
/// whether the object holds what the writes left in it.
inline bool scribble(void* p, unsigned salt) {
  auto* const bytes = static_cast<unsigned char volatile*>(p);
  for (std::size_t k = 0; k < object_size; ++k)
    bytes[k] = static_cast<unsigned char>(salt + k);
  for (unsigned w = 0; w < writes_per_object; ++w)
    for (std::size_t k = 0; k < object_size; ++k)
      bytes[k] = static_cast<unsigned char>(bytes[k] + 1);
  for (std::size_t k = 0; k < object_size; ++k)
    if (bytes[k] != static_cast<unsigned char>(salt + k + writes_per_object))
      return false;
  return true;
}

} // namespace workload
