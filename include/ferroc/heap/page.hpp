// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

#include <cstddef>
#include <cstdint>

#include "ferroc/detail/atomic.hpp"
#include "ferroc/detail/checked.hpp"
#include "ferroc/detail/config.hpp"
#include "ferroc/detail/defines.hpp"
#include "ferroc/detail/free_checks.hpp"
#include "ferroc/detail/secure.hpp"
#include "ferroc/detail/track.hpp"

namespace ferroc {
inline namespace FERROC_CONFIG_NS {
namespace detail {

/// Checked mode and memory-checker tracking both route the fast paths of a
/// Heap through its instrumented path.
inline constexpr bool instrumented = checked || track::enabled;

/// A free block: its first word links to the next free block of its page.
/// Read and write it through `next_of` and `set_next` only: checked mode
/// stores it encoded, and tracking keeps it closed to the program.
struct Block {
  Block* next;
};

/// The state kept in the low two bits of `Page::xthread_free`. It decides
/// whether a cross-thread free must also tell the owning heap (through its
/// delayed-free list) that the page has room again: the owner does not scan
/// full pages, so without this it would never find out.
enum DelayState : std::uintptr_t {
  use_delayed = 0,     // page is full: the next remote free rings the owner's list
  delayed_freeing = 1, // a remote thread is pushing onto the owner's list now
  no_delayed = 2,      // page is in a bin queue (or its owner already knows)
  never_delayed = 3,   // page is abandoned or its heap is going away
};
inline constexpr std::uintptr_t delay_mask = 3;

/// The rest of `Page::xthread_free`: the head of the list of blocks other
/// threads freed and, on 64-bit targets, how many blocks the list holds, in
/// the top 16 bits (see thread_free_counted). The owner then takes the
/// list without walking it to count its blocks; every block of it is a
/// cache miss, written last by another thread. The count and the head
/// change in one CAS, so a push never pairs a count with a stale head.
/// 32-bit targets count by walking.
inline constexpr std::uintptr_t thread_free_list_mask =
    (thread_free_counted ? (std::uintptr_t{1} << thread_free_count_shift) - 1
                         : ~std::uintptr_t{0}) &
    ~delay_mask;
inline constexpr std::uintptr_t thread_free_count_one =
    thread_free_counted ? std::uintptr_t{1} << thread_free_count_shift : 0;

inline Block* thread_free_list(std::uintptr_t tf) noexcept {
  return reinterpret_cast<Block*>(tf & thread_free_list_mask);
}
/// The number of blocks on the list (counted targets only).
inline std::uint32_t thread_free_count(std::uintptr_t tf) noexcept {
  return thread_free_counted ? static_cast<std::uint32_t>(tf >> thread_free_count_shift) : 0;
}

/// Blocks freed by other threads into pages of a full-page owner land here;
/// one such list per Heap, a multi-producer stack emptied by the owner.
struct DelayedFreeList {
  atomic<Block*> xhead{nullptr};
};

// Page flags, in the low bits of Page::xowner_flags: both send a free to the
// slow path, tested together with the owner in one comparison.
inline constexpr unsigned page_in_full = 1;     // in the heap's full queue
inline constexpr unsigned page_has_aligned = 2; // has interior (over-aligned) pointers
inline constexpr std::uintptr_t page_flag_mask = 3;

/// A run of memory holding blocks of one size class, owned by one Heap.
/// Fields the fast paths touch come first. 96 bytes: segment headers hold
/// one per small page.
struct Page {
  Block* free = nullptr; // the owner allocates from here
  // The owning Context's address (nullptr: none, e.g. abandoned or huge)
  // with the page flags in the low bits, so that a free tests "mine, and
  // nothing special" with one comparison. Written by the owner (and by the
  // thread that abandons or reclaims the page's segment); other threads
  // read the flags of pages whose blocks they were handed, hence atomic
  // (all relaxed: the hand-over of the block orders it with the block).
  atomic<std::uintptr_t> xowner_flags{0};
  std::uint32_t used = 0;    // blocks handed out and not yet returned to this page
  bool free_is_zero = false; // every block on `free` is all zero bytes
  bool in_use = false;       // assigned to a size class (false: a free page of its segment)
  bool mem_is_zero = false;  // the page's memory has never been written since it was zeroed
  std::uint8_t class_index = 0;
  Block* local_free = nullptr; // the owner's own frees, moved to `free` when it runs dry
  std::size_t block_size = 0;
  std::uint32_t capacity = 0;   // blocks carved from the area so far
  std::uint32_t reserved = 0;   // blocks that fit the area
  std::byte* area = nullptr;    // first block
  std::uint32_t area_size = 0;  // bytes of the area (unused for a huge block's page)
  bool zero_init = false;       // the area read as zero when this page was set up
  bool decommitted = false;     // statistics: its memory was decommitted while the page was free
  std::uint8_t slice_count = 1; // a large page's run of slices (see Segment)
  Page* next = nullptr;         // neighbours in the heap's bin (or full) queue
  Page* prev = nullptr;

  // Touched by other threads: a tagged stack of their frees (DelayState in
  // the low bits), and the owning heap's delayed-free list.
  atomic<std::uintptr_t> xthread_free{no_delayed};
  atomic<DelayedFreeList*> xheap{nullptr};
};

inline unsigned page_flags(Page const* pg) noexcept {
  return static_cast<unsigned>(pg->xowner_flags.load(detail::memory_order_relaxed) &
                               page_flag_mask);
}
inline bool page_has_aligned_blocks(Page const* pg) noexcept {
  return (page_flags(pg) & page_has_aligned) != 0;
}
inline bool page_is_in_full(Page const* pg) noexcept {
  return (page_flags(pg) & page_in_full) != 0;
}
// Owner only: a plain read-modify-write of the atomic word is enough.
inline void page_set_flags(Page* pg, unsigned flags) noexcept {
  std::uintptr_t const word = pg->xowner_flags.load(detail::memory_order_relaxed);
  pg->xowner_flags.store((word & ~page_flag_mask) | (flags & page_flag_mask),
                         detail::memory_order_relaxed);
}

/// The Context that owns the page, or nullptr.
inline void const* page_owner(Page const* pg) noexcept {
  return reinterpret_cast<void const*>(pg->xowner_flags.load(detail::memory_order_relaxed) &
                                       ~page_flag_mask);
}
/// By the thread that takes the page over (or gives it up: nullptr); the
/// flags stay.
inline void page_set_owner(Page* pg, void const* owner) noexcept {
  std::uintptr_t const word = pg->xowner_flags.load(detail::memory_order_relaxed);
  pg->xowner_flags.store(reinterpret_cast<std::uintptr_t>(owner) | (word & page_flag_mask),
                         detail::memory_order_relaxed);
}
/// Whether `owner` owns the page and no flag is set: the fast path of a
/// free. Only `owner`'s own thread ever stores its address, so a relaxed
/// load cannot see it stale.
FERROC_INLINE bool page_is_plain_local(Page const* pg, void const* owner) noexcept {
  return pg->xowner_flags.load(detail::memory_order_relaxed) ==
         reinterpret_cast<std::uintptr_t>(owner);
}

static_assert(sizeof(void*) != 8 || sizeof(Page) == 96, "a Page is 96 bytes on 64-bit targets");

// ---- free-list links ----------------------------------------------------------

/// Whether `p` is the start of one of the blocks of `pg` carved so far.
inline bool is_block_of(Page const* pg, void const* p) noexcept {
  auto const addr = reinterpret_cast<std::uintptr_t>(p);
  auto const area = reinterpret_cast<std::uintptr_t>(pg->area);
  if (addr < area || addr - area >= std::uintptr_t{pg->capacity} * pg->block_size)
    return false;
  return (addr - area) % pg->block_size == 0;
}

/// Whether `p` lies in the blocks of `pg` carved so far (not whether it
/// starts one: a range test, cheap enough for secure mode's fast path).
inline bool is_in_carved_area(Page const* pg, void const* p) noexcept {
  auto const addr = reinterpret_cast<std::uintptr_t>(p);
  auto const area = reinterpret_cast<std::uintptr_t>(pg->area);
  return addr - area < std::uintptr_t{pg->capacity} * pg->block_size;
}

/// Stores the link of free block `b` of page `pg`.
FERROC_INLINE void set_next(Page const* pg, Block* b, Block* next) noexcept {
  if constexpr (!instrumented) {
    if constexpr (secure)
      b->next = reinterpret_cast<Block*>(encode_link(pg, next));
    else
      (void)pg, b->next = next;
  } else {
    track::allow(b, sizeof(Block));
    b->next = encoded_links ? reinterpret_cast<Block*>(encode_link(pg, next)) : next;
    track::forbid(b, sizeof(Block));
  }
}

/// The link of free block `b` of page `pg`, as stored (checked mode:
/// decoded, not validated; see `next_of`).
FERROC_INLINE Block* raw_next_of(Page const* pg, Block const* b) noexcept {
  if constexpr (!instrumented) {
    if constexpr (secure)
      return static_cast<Block*>(decode_link(pg, reinterpret_cast<std::uintptr_t>(b->next)));
    (void)pg;
    return b->next;
  } else {
    track::allow(b, sizeof(Block));
    Block* const stored = b->next;
    track::forbid(b, sizeof(Block));
    if constexpr (encoded_links)
      return static_cast<Block*>(decode_link(pg, reinterpret_cast<std::uintptr_t>(stored)));
    return stored;
  }
}

/// The next block after `b` on a list of its own page `pg` (free,
/// local_free, thread_free). Checked mode ends the process when the link
/// does not lead to a block of the same page, secure mode when it leads
/// out of the page's carved blocks.
FERROC_INLINE Block* next_of(Page const* pg, Block const* b) noexcept {
  Block* const next = raw_next_of(pg, b);
  if constexpr (checked) {
    if (next != nullptr && !is_block_of(pg, next))
      report_fault(Fault::corrupted_free_list, b);
  } else if constexpr (secure) {
    if (FERROC_UNLIKELY(next != nullptr && !is_in_carved_area(pg, next)))
      report_fault(Fault::corrupted_free_list, b);
  }
  return next;
}

/// A doubly linked queue of pages (a size-class bin or the full queue).
struct PageQueue {
  Page* first = nullptr;
  Page* last = nullptr;

  bool empty() const noexcept { return first == nullptr; }

  void push_front(Page* pg) noexcept {
    pg->prev = nullptr;
    pg->next = first;
    if (first != nullptr)
      first->prev = pg;
    else
      last = pg;
    first = pg;
  }

  void push_back(Page* pg) noexcept {
    pg->next = nullptr;
    pg->prev = last;
    if (last != nullptr)
      last->next = pg;
    else
      first = pg;
    last = pg;
  }

  void remove(Page* pg) noexcept {
    if (pg->prev != nullptr)
      pg->prev->next = pg->next;
    else
      first = pg->next;
    if (pg->next != nullptr)
      pg->next->prev = pg->prev;
    else
      last = pg->prev;
    pg->next = pg->prev = nullptr;
  }
};

/// The start of the block that interior pointer `p` (from an over-aligned
/// allocation) points into.
inline Block* block_start(Page const* pg, void const* p) noexcept {
  auto const offset = static_cast<std::size_t>(static_cast<std::byte const*>(p) - pg->area);
  return reinterpret_cast<Block*>(pg->area + (offset - offset % pg->block_size));
}

/// What a Heap's direct array points at before a size has a page: its `free`
/// is always empty, so the fast path needs no "initialised?" test and falls
/// into the slow path instead. Never written.
inline Page empty_page{};

} // namespace detail
} // namespace FERROC_CONFIG_NS
} // namespace ferroc
