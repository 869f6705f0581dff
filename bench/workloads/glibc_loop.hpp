// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

// The loop of glibc_simple and glibc_thread, after glibc's own malloc
// benchmark (benchtests/bench-malloc-simple.c): for each of a few small block
// sizes and batch lengths, allocate a batch of blocks of that one size, touch
// each, and free the batch in the order it was allocated. The largest batch
// stays below 128 KiB, so the loop measures the fast paths, not glibc giving
// the top of its heap back to the system after every batch.

#include "workload.hpp"

namespace workload {

inline constexpr std::size_t glibc_sizes[] = {16, 32, 64, 128, 256};
inline constexpr std::size_t glibc_batches[] = {1, 25, 100, 400};
inline constexpr std::size_t glibc_max_batch = 400;

/// Allocates and frees about `pairs` blocks (each size and batch length gets
/// an equal share, whole batches only); returns how many it allocated.
inline std::uint64_t glibc_loop(std::uint64_t pairs, Tally& tally) {
  constexpr std::size_t cases = std::size(glibc_sizes) * std::size(glibc_batches);
  std::uint64_t done = 0;
  auto* const batch = static_cast<void**>(checked_malloc(glibc_max_batch * sizeof(void*), tally));
  for (std::size_t size : glibc_sizes) {
    for (std::size_t n : glibc_batches) {
      std::uint64_t const rounds = (pairs / cases + n - 1) / n;
      for (std::uint64_t r = 0; r < rounds; ++r) {
        for (std::size_t i = 0; i < n; ++i) {
          void* const p = checked_malloc(size, tally);
          escape(p); // a compiler may not drop or merge the pair
          store_word(p, reinterpret_cast<std::uintptr_t>(p) ^ size);
          batch[i] = p;
        }
        for (std::size_t i = 0; i < n; ++i) {
          void* const p = batch[i];
          if (load_word(p) != (reinterpret_cast<std::uintptr_t>(p) ^ size)) [[unlikely]]
            fail("glibc loop: block %p of %zu bytes was overwritten", p, size);
          checked_free(p, tally);
        }
        done += n;
      }
    }
  }
  checked_free(batch, tally);
  return done;
}

} // namespace workload
