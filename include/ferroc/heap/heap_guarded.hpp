// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

// Heap: guarded blocks (what they stop: detail/guarded.hpp) and secure
// mode's sampling of them.
//
// A guarded block gets a chunk of the base of its own, one segment large
// and aligned to it, that no heap owns, as a huge block does (it is a huge
// segment with `guarded` set, so free, usable_size and the free checks take
// it as one):
//
//     [ header | inaccessible | zeros | block | guard page ]
//     ^ segment start                           ^ segment end - OS page
//
// The block ends right against the guard page, which stays inaccessible
// while the block lives. The whole OS pages between the header and the
// block are inaccessible too, and the bytes of the block's first page
// before the block must still read zero at its free: an underflow faults
// at once past that page, and stops the process at the free within it. Its free (from any thread)
// makes the block's pages inaccessible too and puts the segment in its Arenas' quarantine, where
// the header stays readable, so that a second free is reported as a double
// free; the segment the quarantine displaces goes back to the base. A whole
// segment rather than a few pages: a shorter chunk would leave the rest of
// the segment's address range to other mappings, which the segment map
// would take for ours.
//
// Secure mode counts allocations down to the next sampled one on its
// allocation path (allocate_secure); the release fast path has no such
// count.
//
// Part of Heap: ferroc/heap/heap.hpp declares these members and includes
// this file at its end; included alone, this file pulls its parent in.

#include "ferroc/heap/heap.hpp"

namespace ferroc {
inline namespace FERROC_CONFIG_NS {
namespace detail {

/// The largest guarded block: a segment less its header and the guard
/// page, in OS pages (4 MiB less 8 KiB with 4 KiB pages, less 128 KiB with
/// 64 KiB ones). A larger request, guarded or sampled, gets an ordinary
/// block.
inline std::size_t guarded_size_max() noexcept {
  std::size_t const page = os_page_size();
  return segment_size - align_up(segment_header_size, page) - page;
}

/// The guard page of guarded segment `seg`.
inline std::byte* guard_page_of(Segment* seg) noexcept {
  return reinterpret_cast<std::byte*>(seg) + segment_size - os_page_size();
}

/// The first OS page after the header of guarded segment `seg`: from here
/// to the guard page, its pages are protected while the block lives
/// (before the block's page) and after its free (all of them).
inline std::byte* guarded_first_page(Segment* seg) noexcept {
  return reinterpret_cast<std::byte*>(seg) + align_up(segment_header_size, os_page_size());
}

/// The OS page that the block of guarded segment `seg` starts in.
inline std::byte* guarded_block_page(Segment* seg) noexcept {
  auto const area = reinterpret_cast<std::uintptr_t>(seg->pages[0].area);
  return seg->pages[0].area - (area & (os_page_size() - 1));
}

/// Stops the process when a byte before the block of guarded segment
/// `seg`, in the block's first page, is not zero any more: an underflow.
inline void check_guarded_front(Segment* seg) noexcept {
  std::byte const* area = seg->pages[0].area;
  unsigned char written = 0;
  for (std::byte const* at = guarded_block_page(seg); at < area; ++at)
    written |= static_cast<unsigned char>(*at);
  if (FERROC_UNLIKELY(written != 0))
    report_fault(Fault::underflow, area);
}

/// Gives the memory of guarded segment `seg` (freed, or failed to be
/// quarantined) back to the base: its pages accessible again first, since
/// a base may hand the chunk out again. Pages that stay inaccessible cannot
/// go back: the chunk is then kept for good.
template <BaseAlloc B> void release_guarded(Arenas<B>& arenas, Segment* seg) noexcept {
  if constexpr (ProtectBase<B>) {
    std::byte* first = guarded_first_page(seg);
    SegmentSource const src = seg->source;
    seg->cookie = 0; // a later free into a chunk the base keeps mapped is reported
    if (!arenas.base().unprotect(first, reinterpret_cast<std::byte*>(seg) + segment_size - first))
      return;
    unreserve_guarded_block();
    arenas.deallocate_dedicated(src.chunk, src.chunk_size);
  } else {
    (void)arenas, (void)seg;
  }
}

/// Frees the block of guarded segment `seg`, from any thread: its pages
/// become inaccessible and the segment goes into the quarantine of its
/// Arenas, whose oldest one goes back to the base. When the pages cannot be
/// protected (the kernel's limit of mappings), the segment goes back at
/// once.
template <BaseAlloc B> void free_guarded(Arenas<B>& arenas, Segment* seg) noexcept {
  if constexpr (ProtectBase<B>) {
    Page& pg = seg->pages[0];
    // A double free that the free checks let through (compiled out, or
    // FERROC_ON_INVALID_FREE=ignore) must not quarantine it twice.
    if (!pg.in_use)
      return;
    pg.in_use = false;
    check_guarded_front(seg);
    if constexpr (stats_enabled) {
      auto& c = arenas.counters();
      c.huge_blocks.sub(1);
      c.huge_bytes.sub(pg.block_size);
      c.huge_frees.add(1);
      c.huge_bytes_freed.add(pg.block_size);
    }
    std::byte* first = guarded_first_page(seg);
    if (!arenas.base().protect(first, static_cast<std::size_t>(guard_page_of(seg) - first)))
      return release_guarded(arenas, seg);
    if (void* out = arenas.guarded_quarantine().swap(seg))
      release_guarded(arenas, static_cast<Segment*>(out));
  } else {
    (void)arenas, (void)seg;
  }
}

} // namespace detail

/// \cond internal
template <BaseAlloc B> FERROC_MEMBER_INLINE void Arenas<B>::release_guarded_quarantine() noexcept {
  if constexpr (ProtectBase<B>) {
    for (std::size_t i = 0; i < detail::guarded_quarantine_slots; ++i) {
      if (void* seg = guarded_.take(i))
        detail::release_guarded(*this, static_cast<detail::Segment*>(seg));
    }
  }
}
/// \endcond

template <BaseAlloc B>
FERROC_MEMBER_INLINE void* Heap<B>::try_allocate_guarded(std::size_t size,
                                                         std::size_t align) noexcept {
  if (void* p = allocate_guarded(size, align, false))
    return p;
  if constexpr (detail::canaries)
    return allocate_canaried(size, align, false); // not sampled again
  return try_allocate(size, align);
}

// A guarded block (see this file's head), or nullptr when none is to be
// had (see try_allocate_guarded); the caller then takes an ordinary one.
template <BaseAlloc B>
FERROC_MEMBER_INLINE void* Heap<B>::allocate_guarded(std::size_t size, std::size_t align,
                                                     bool zero) noexcept {
  using namespace detail;
  if constexpr (!ProtectBase<B> || instrumented) {
    (void)size, (void)align, (void)zero;
    return nullptr;
  } else {
    std::size_t const a = align <= min_align ? min_align : align;
    if (detached() || size > guarded_size_max() || a > os_page_size() || !is_pow2(a))
      return nullptr;
    if (!reserve_guarded_block())
      return nullptr;
    Arenas<B>& arenas = cx_->arenas();
    auto* start = static_cast<std::byte*>(arenas.allocate_dedicated(segment_size, segment_size));
    if (start == nullptr) {
      unreserve_guarded_block();
      return nullptr;
    }
    std::byte* guard = start + segment_size - os_page_size();
    if (!arenas.base().protect(guard, os_page_size())) {
      arenas.deallocate_dedicated(start, segment_size);
      unreserve_guarded_block();
      return nullptr;
    }
    // The block's end is the size rounded up to 16 (an alignment above 16
    // may leave a few bytes more between it and the guard).
    std::size_t const rounded = align_up(max_of<std::size_t>(size, 1), min_align);
    auto const end = reinterpret_cast<std::uintptr_t>(guard);
    std::byte* p = guard - (rounded + ((end - rounded) & (a - 1)));
    // The pages between the header and the block's page fault, and the
    // bytes of that page before the block read zero (check_guarded_front).
    std::byte* block_page = p - (reinterpret_cast<std::uintptr_t>(p) & (os_page_size() - 1));
    std::byte* front = start + align_up(segment_header_size, os_page_size());
    if (block_page > front &&
        !arenas.base().protect(front, static_cast<std::size_t>(block_page - front))) {
      arenas.base().unprotect(guard, os_page_size());
      arenas.deallocate_dedicated(start, segment_size);
      unreserve_guarded_block();
      return nullptr;
    }
    if constexpr (!B::is_zeroed)
      std::memset(block_page, 0, static_cast<std::size_t>(p - block_page));
    auto* seg = new (start) Segment{};
    seg->arenas = &arenas;
    seg->cookie = segment_cookie(seg);
    seg->kind = PageKind::huge;
    seg->page_shift = huge_page_shift;
    seg->page_count = 1;
    seg->used_pages = 1;
    seg->source = {.arena = SegmentSource::dedicated, .chunk = start, .chunk_size = segment_size};
    seg->guarded = true;
    Page& pg = seg->pages[0];
    pg.area = p;
    pg.block_size = static_cast<std::size_t>(guard - p);
    pg.reserved = pg.capacity = pg.used = 1;
    pg.in_use = true;
    if constexpr (stats_enabled) {
      auto& c = arenas.counters();
      c.huge_blocks.add(1);
      c.huge_bytes.add(pg.block_size);
      c.huge_allocs.add(1);
      c.huge_bytes_allocated.add(pg.block_size);
    }
    if (zero && !B::is_zeroed)
      std::memset(p, 0, pg.block_size);
    return p;
  }
}

// ---- secure mode's allocation path and its sampling ------------------------

// try_allocate and allocate_zeroed in secure mode: the count down to the
// next sampled allocation (a compare and a decrement), then a block with
// its canary.
template <BaseAlloc B>
FERROC_INLINE void* Heap<B>::allocate_secure(std::size_t size, std::size_t align,
                                             bool zero) noexcept {
  if constexpr (samples) {
    if (FERROC_UNLIKELY(sample_.countdown <= 1))
      return allocate_sampled(size, align, zero);
    --sample_.countdown;
  }
  return allocate_canaried(size, align, zero);
}

// A block of secure mode, with room for its canary, which is armed.
template <BaseAlloc B>
FERROC_INLINE void* Heap<B>::allocate_canaried(std::size_t size, std::size_t align,
                                               bool zero) noexcept {
  std::size_t const request = detail::with_canary(size);
  return detail::with_armed_canary(
      zero ? allocate_zeroed_block(request, align) : try_allocate_block(request, align), size);
}

// try_allocate_fast in secure mode: nullptr when the allocation is to be
// sampled (try_allocate, which the caller goes on to, samples it); the
// count goes down only for a block handed out here.
template <BaseAlloc B>
FERROC_INLINE void* Heap<B>::try_allocate_fast_secure(std::size_t size) noexcept {
  if constexpr (samples) {
    if (FERROC_UNLIKELY(sample_.countdown <= 1))
      return nullptr;
  }
  void* p = detail::with_armed_canary(try_allocate_fast_block(detail::with_canary(size)), size);
  if constexpr (samples)
    sample_.countdown -= p != nullptr ? 1 : 0;
  return p;
}

// The count ran out: a guarded block (or an ordinary one when none is to be
// had), and the next interval. The first call arms the sampler: it seeds
// the generator and reads the rate, and this allocation is the first of
// the first interval.
template <BaseAlloc B>
FERROC_NOINLINE void* Heap<B>::allocate_sampled(std::size_t size, std::size_t align,
                                                bool zero) noexcept {
  if constexpr (samples) {
    // A detached heap may be shared by threads that have none yet: it
    // writes nothing (the heap its fallback makes samples instead).
    if (detached())
      return allocate_canaried(size, align, zero);
    std::uint32_t const rate = detail::guarded_sample_rate();
    if (sample_.random.state == 0) {
      sample_.random.state = detail::random_seed(this);
      std::uint64_t const first = detail::guarded_interval(rate, sample_.random);
      if (first > 1) {
        sample_.countdown = first - 1;
        return allocate_canaried(size, align, zero);
      }
    }
    sample_.countdown = detail::guarded_interval(rate, sample_.random);
    if (void* p = allocate_guarded(size, align, zero))
      return p;
  }
  return allocate_canaried(size, align, zero);
}

} // namespace FERROC_CONFIG_NS
} // namespace ferroc
