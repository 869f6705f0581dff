// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

#include <cstddef>
#include <memory_resource>
#include <new>

#include "ferroc/base/base_alloc.hpp"
#include "ferroc/base/os_alloc.hpp"
#include "ferroc/detail/config.hpp"
#include "ferroc/detail/no_destroy.hpp"
#include "ferroc/detail/throw.hpp"
#include "ferroc/global/allocator.hpp"
#include "ferroc/global/default_global.hpp"
#include "ferroc/global/global.hpp"
#include "ferroc/heap/heap.hpp"
#include "ferroc/heap/heap_resource.hpp" // for code that includes this header for it

namespace ferroc {
inline namespace FERROC_CONFIG_NS {

/// A global allocator `G` as a `std::pmr::memory_resource`: one instance per
/// `G`, constant-initialised and never destroyed, so it may serve as the
/// default resource for the program's whole life.
///
/// Beside the throwing `allocate`/`deallocate` of memory_resource (without
/// exceptions: `allocate` calls std::terminate() on failure), it offers
/// the non-throwing core calls: `try_allocate` (nullptr on failure),
/// `deallocate(p)` (no size needed), `allocate_zeroed`, `reallocate`,
/// `usable_size` and `collect`.
///
/// Thread-safe: every member may be called from any thread, as those of
/// `G` may.
///
/// @tparam G a `Global<...>` instantiation.
template <class G> class global_resource : public std::pmr::memory_resource {
public:
  /// The one resource of `G`. Never throws; any thread, any time (it is
  /// constant-initialised and never destroyed).
  static global_resource& instance() noexcept;

  /// `G::try_allocate`: at least `size` bytes aligned to `align`, nullptr
  /// on failure. Never throws.

  [[nodiscard]] static void* try_allocate(std::size_t size,
                                          std::size_t align = alignof(std::max_align_t)) noexcept {
    return G::try_allocate(size, align);
  }
  /// `G::allocate_zeroed`: as `try_allocate`, zero-filled. Never throws.
  [[nodiscard]] static void*
  allocate_zeroed(std::size_t size, std::size_t align = alignof(std::max_align_t)) noexcept {
    return G::allocate_zeroed(size, align);
  }
  /// Frees a block of `G` from any thread; nullptr does nothing. Never
  /// throws. No size needed (the memory_resource overload with a size
  /// stays available, below).
  static void deallocate(void* p) noexcept { G::deallocate(p); }
  using std::pmr::memory_resource::deallocate;

  /// Deprecated spelling of `deallocate(p)` (same contract); removed in the
  /// next release.
  [[deprecated("ferroc: global_resource::free is now deallocate(p)")]] static void
  free(void* p) noexcept {
    G::deallocate(p);
  }
  /// `G::reallocate`: resizes `p` (nullptr on failure, when `p` stays
  /// valid). Never throws.
  [[nodiscard]] static void* reallocate(void* p, std::size_t new_size,
                                        std::size_t align = alignof(std::max_align_t)) noexcept {
    return G::reallocate(p, new_size, align);
  }
  /// `G::usable_size`: the bytes usable at block `p`; 0 for nullptr. Never
  /// throws.
  static std::size_t usable_size(void const* p) noexcept { return G::usable_size(p); }
  /// `G::collect`: the calling thread's delayed clean-up (`force`: also
  /// reclaim and purge). Never throws.
  static void collect(bool force = false) noexcept { G::collect(force); }

protected:
  /// Only `instance()` (and Ferroc) make one.
  constexpr global_resource() noexcept = default;
  /// Never runs for the instance, which is never destroyed.
  ~global_resource() override = default;

private:
  friend union detail::NoDestroy<global_resource>;

  void* do_allocate(std::size_t bytes, std::size_t align) override {
    void* p = G::try_allocate(bytes, align);
    if (p == nullptr)
      detail::throw_bad_alloc();
    return p;
  }
  void do_deallocate(void* p, std::size_t /*bytes*/, std::size_t /*align*/) override {
    G::deallocate(p);
  }
  bool do_is_equal(std::pmr::memory_resource const& other) const noexcept override {
    return this == &other;
  }
};

namespace detail {
template <class G> inline constinit NoDestroy<global_resource<G>> global_resource_instance{};
} // namespace detail

template <class G> global_resource<G>& global_resource<G>::instance() noexcept {
  return detail::global_resource_instance<G>.value;
}

#if FERROC_SEPARATE_COMPILATION
extern template class global_resource<DefaultGlobal>;
#endif

/// The process-wide allocator, `Ferroc::instance()`. It is a
/// `std::pmr::memory_resource` (`ferroc::resource()`) and offers the
/// non-throwing calls of `global_resource`.
class Ferroc final : public global_resource<DefaultGlobal> {
public:
  /// The process-wide allocator. Never throws; any thread, any time.
  static Ferroc& instance() noexcept;

private:
  friend union detail::NoDestroy<Ferroc>;
  constexpr Ferroc() noexcept = default;
};

namespace detail {
inline constinit NoDestroy<Ferroc> ferroc_instance{};
} // namespace detail

inline Ferroc& Ferroc::instance() noexcept {
  return detail::ferroc_instance.value;
}

/// The default global allocator as a memory resource (`&Ferroc::instance()`),
/// never destroyed, e.g. for `std::pmr::set_default_resource`. Never throws;
/// any thread.
inline std::pmr::memory_resource* resource() noexcept {
  return &Ferroc::instance();
}

} // namespace FERROC_CONFIG_NS
} // namespace ferroc
