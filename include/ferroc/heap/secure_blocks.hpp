// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

// Secure mode's checks of blocks (detail/secure.hpp), over the free checks of
// release builds: canaries after each block and zeroing on free, for the
// blocks of small and medium pages. Large blocks have neither: a memset of
// 128 KiB or more at every free, or a canary check at every use of a block
// that large, would cost more than the mitigation is worth there.
//
// A block of a small or medium page in secure mode:
//
//     [ program's bytes | canary (8 B, unaligned) | ... | end word (8 B) ]
//     ^ block start       ^ start + end                  ^ block end - 8
//
// The end word holds `end`, the offset of the canary from the block start,
// encoded with a value derived from its own address and the process secret;
// the canary is such a value of its own address. Allocation writes both
// (arm_canary); a free checks them, and that the end word of the block
// before it in the page still decodes to an offset inside that block
// (check_canaries): an overflow of a block, or of the one before it, stops
// the process at that free. usable_size is the size asked for, as in
// checked mode: a program may not write further.
//
// The bytes between the canary and the end word stay zero while the block
// is in use, and a free checks the first slack_check_words words of them:
// an overflow that jumps the canary stops there too. A free by the page's
// owner also looks at the blocks next to it: when one is free (it holds
// the double-free key; fresh blocks get it too), its link must lead into
// the page, else the page's lists are walked and a corrupted link stops
// the process (an overflow into a free neighbour).
//
// A freed block is zeroed but for its link, its double-free key and its end
// word; when it is handed out again the zeros are checked (at most the first
// zero_check_max bytes), and so are those of every block of a page that
// goes back to its segment empty: a write after free stops the process
// then, and no freed data is handed out again.

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "ferroc/detail/atomic.hpp"
#include "ferroc/detail/checked.hpp"
#include "ferroc/detail/config.hpp"
#include "ferroc/detail/defines.hpp"
#include "ferroc/detail/free_checks.hpp"
#include "ferroc/detail/secure.hpp"
#include "ferroc/heap/page.hpp"
#include "ferroc/heap/segment.hpp"

// GCC 12 propagates a constant nullptr (deallocate_if_ours(nullptr)) into
// the free path that it never reaches and warns of the offsets below.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Warray-bounds"
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#endif

namespace ferroc {
inline namespace FERROC_CONFIG_NS {
namespace detail {

/// Whether blocks of small and medium pages carry canaries and are zeroed
/// on free: secure mode, over the free checks.
inline constexpr bool canaries = secure && free_checks;
inline constexpr bool zero_on_free = canaries;

/// What a request asks for on top of its size: the canary and the end word.
inline constexpr std::size_t canary_extra = canaries ? 2 * sizeof(std::uintptr_t) : 0;
/// The smallest block with canaries: the end word must not share a word
/// with the link and the key of a freed block.
inline constexpr std::size_t canary_block_min = 4 * sizeof(std::uintptr_t);

/// The bytes of a reused block that allocation checks (after the first two
/// words): a bound, so that handing out a 64 KiB block costs no more than a
/// small one's check, at the price of missing writes after free past it.
inline constexpr std::size_t zero_check_max = 256;

/// The words after the canary that a free checks are zero (fewer when the
/// end word comes first): an overflow of up to this many words past the
/// canary is caught even when it leaves the canary whole.
inline constexpr std::size_t slack_check_words = 3;

/// `size` with room for the canary and the end word (saturating: a request
/// that large fails).
FERROC_INLINE constexpr std::size_t with_canary(std::size_t size) noexcept {
  if (size > ~std::size_t{0} - canary_extra)
    return ~std::size_t{0};
  return max_of(size + canary_extra, canary_block_min);
}

/// Whether blocks of `pg` carry canaries (and are zeroed on free).
FERROC_INLINE bool page_has_canaries(Page const* pg) noexcept {
  return canaries && pg->block_size <= medium_block_max && pg->block_size >= canary_block_min;
}

/// The value that the word at `slot` holds (or is encoded with).
inline std::uintptr_t canary_value(void const* slot) noexcept {
  return static_cast<std::uintptr_t>((reinterpret_cast<std::uintptr_t>(slot) ^ process_secret()) *
                                     0x94d049bb133111ebu);
}

inline std::uintptr_t* end_word(Page const* pg, void* block) noexcept {
  return reinterpret_cast<std::uintptr_t*>(static_cast<std::byte*>(block) + pg->block_size -
                                           sizeof(std::uintptr_t));
}

/// The canary's offset in block `block` of `pg`, as its end word tells.
inline std::size_t canary_offset(Page const* pg, void* block) noexcept {
  std::uintptr_t* word = end_word(pg, block);
  return *word ^ canary_value(word);
}

/// Whether an offset read from an end word lies inside the block.
inline bool canary_offset_valid(Page const* pg, std::size_t offset) noexcept {
  return offset <= pg->block_size - 2 * sizeof(std::uintptr_t);
}

/// Writes the end words of `n` fresh blocks from `start` (a page carving),
/// so that the check of the block after each finds a valid one.
inline void arm_fresh_blocks(Page const* pg, std::byte* start, std::size_t n) noexcept {
  if (!page_has_canaries(pg))
    return;
  std::uintptr_t const key = double_free_key();
  for (std::size_t i = 0; i < n; ++i) {
    std::uintptr_t* word = end_word(pg, start + i * pg->block_size);
    *word = canary_value(word); // offset 0
    // Free blocks hold the key: check_neighbours then knows them.
    set_free_key(start + i * pg->block_size, key);
  }
}

/// Writes the canary after the `size` bytes at `p`, just handed out (or
/// resized in place), and its offset in the end word.
inline void arm_canary(void* p, std::size_t size) noexcept {
  Segment* seg = segment_of(p);
  Page* pg = seg->page_of(p);
  if (seg->kind == PageKind::huge || !page_has_canaries(pg))
    return;
  auto* block = page_has_aligned_blocks(pg) ? reinterpret_cast<std::byte*>(block_start(pg, p))
                                            : static_cast<std::byte*>(p);
  std::size_t const offset = static_cast<std::size_t>(static_cast<std::byte*>(p) - block) + size;
  std::byte* canary = block + offset;
  std::uintptr_t const value = canary_value(canary);
  std::memcpy(canary, &value, sizeof value);
  std::uintptr_t* word = end_word(pg, block);
  *word = offset ^ canary_value(word);
}

/// Arms the canary after the `size` bytes at `p` (nullptr: an allocation
/// that failed) and returns `p`.
inline void* with_armed_canary(void* p, std::size_t size) noexcept {
  if (p != nullptr)
    arm_canary(p, size);
  return p;
}

/// Clears the canary after the `size` bytes at `p` (nullptr: nothing), as
/// arm_canary wrote it, before the block is armed again with a smaller
/// size.
inline void disarm_canary(void* p, std::size_t size) noexcept {
  if (p == nullptr)
    return;
  Segment* seg = segment_of(p);
  if (seg->kind != PageKind::huge && page_has_canaries(seg->page_of(p)))
    std::memset(static_cast<std::byte*>(p) + size, 0, sizeof(std::uintptr_t));
}

/// Moves the canary of block `p` (handed out with `old_size` bytes) to
/// after `new_size` <= old_size bytes, a resize in place: the bytes from the
/// new canary to the end of the old one are zeroed first, so that the slack
/// after the canary reads zero as check_canaries expects.
inline void rearm_canary(void* p, std::size_t old_size, std::size_t new_size) noexcept {
  Segment* seg = segment_of(p);
  if (seg->kind == PageKind::huge || !page_has_canaries(seg->page_of(p)))
    return;
  std::memset(static_cast<std::byte*>(p) + new_size, 0,
              old_size + sizeof(std::uintptr_t) - new_size);
  arm_canary(p, new_size);
}

/// The bytes at `p` that the program may use: up to its canary.
inline std::size_t canary_usable_size(Page const* pg, void const* p) noexcept {
  auto* block = page_has_aligned_blocks(pg)
                    ? reinterpret_cast<std::byte*>(block_start(pg, p))
                    : const_cast<std::byte*>(static_cast<std::byte const*>(p));
  return canary_offset(pg, block) -
         static_cast<std::size_t>(static_cast<std::byte const*>(p) - block);
}

/// Checks, at the free of block `b` of `pg`, its end word and canary, and
/// the end word of the block before it in the page.
inline void check_canaries(Page const* pg, Block* b) noexcept {
  if (!page_has_canaries(pg))
    return;
  std::size_t const offset = canary_offset(pg, b);
  if (FERROC_UNLIKELY(!canary_offset_valid(pg, offset)))
    report_fault(Fault::overflow, b);
  std::byte* canary = reinterpret_cast<std::byte*>(b) + offset;
  std::uintptr_t value;
  std::memcpy(&value, canary, sizeof value);
  if (FERROC_UNLIKELY(value != canary_value(canary)))
    report_fault(Fault::overflow, b);
  std::size_t const slack_end = min_of(offset + (1 + slack_check_words) * sizeof(std::uintptr_t),
                                       pg->block_size - sizeof(std::uintptr_t));
  std::uintptr_t slack = 0;
  for (std::size_t at = offset + sizeof value; at + sizeof value <= slack_end; at += sizeof value) {
    std::uintptr_t word;
    std::memcpy(&word, reinterpret_cast<std::byte*>(b) + at, sizeof word);
    slack |= word;
  }
  if (FERROC_UNLIKELY(slack != 0))
    report_fault(Fault::overflow, b);
  if (reinterpret_cast<std::byte*>(b) != pg->area) {
    auto* before = reinterpret_cast<std::byte*>(b) - pg->block_size;
    if (FERROC_UNLIKELY(!canary_offset_valid(pg, canary_offset(pg, before))))
      report_fault(Fault::underflow, b);
  }
}

/// Whether the links of the lists of `pg` (free, local, other threads')
/// all lead into the page's carved blocks. The owner's only; a walk of at
/// most `capacity` links per list.
inline bool page_lists_intact(Page const* pg) noexcept {
  auto intact = [pg](Block const* list) {
    for (std::uint32_t n = 0; list != nullptr && n <= pg->capacity; ++n) {
      if (!is_in_carved_area(pg, list))
        return false;
      list = raw_next_of(pg, list);
    }
    return true;
  };
  // acquire: pairs with the pushers' release; we read their links.
  return intact(pg->free) && intact(pg->local_free) &&
         intact(thread_free_list(pg->xthread_free.load(memory_order_acquire)));
}

/// At a free of block `b` of `pg` by the page's owner (`key`: the
/// double-free key): when a block next to it (after or before) is free, its
/// link must lead into the page. One that does not is confirmed by a walk
/// of the page's lists before the process stops, as a live block may hold
/// the key as data: an overflow or underflow of `b` into a free neighbour,
/// or a write after free.
FERROC_INLINE void check_neighbours(Page const* pg, Block* b, std::uintptr_t key) noexcept {
  if (!page_has_canaries(pg))
    return;
  auto suspect = [pg, key](std::byte* at) {
    auto* block = reinterpret_cast<Block*>(at);
    if (!is_in_carved_area(pg, block) || !holds_free_key(block, key))
      return false;
    Block const* link = raw_next_of(pg, block);
    return link != nullptr && !is_in_carved_area(pg, link);
  };
  auto* bytes = reinterpret_cast<std::byte*>(b);
  bool const next = suspect(bytes + pg->block_size);
  if (FERROC_LIKELY(!next && (bytes == pg->area || !suspect(bytes - pg->block_size))))
    return;
  if (!page_lists_intact(pg)) // written to: by an overflow of a block, or after its free
    report_fault(Fault::corrupted_free_list,
                 next ? bytes + pg->block_size : bytes - pg->block_size);
}

/// Every block of `pg`, which goes back to its segment with no block in
/// use, must still read zero where its free zeroed it: a write after free
/// into a block that was never handed out again stops the process here,
/// before the page's memory is given to another class or the system.
inline void check_freed_page(Page const* pg) noexcept {
  if (!page_has_canaries(pg))
    return;
  std::size_t const n =
      min_of(pg->block_size - sizeof(std::uintptr_t), zero_check_max) / sizeof(std::uintptr_t);
  for (std::uint32_t i = 0; i < pg->capacity; ++i) {
    auto const* words = reinterpret_cast<std::uintptr_t const*>(pg->area + i * pg->block_size);
    std::uintptr_t written = 0;
    for (std::size_t w = 2; w < n; ++w)
      written |= words[w];
    if (FERROC_UNLIKELY(written != 0))
      report_fault(Fault::corrupted_free_list, words);
  }
}

/// Clears block `b` of `pg`, being freed, but for the link and the key,
/// which the free writes next, and the end word.
FERROC_INLINE void zero_freed_block(Page const* pg, Block* b) noexcept {
  if (page_has_canaries(pg))
    std::memset(reinterpret_cast<std::byte*>(b) + 2 * sizeof(void*), 0,
                pg->block_size - 3 * sizeof(void*));
}

/// Block `b` of `pg` is handed out again (its link was read): stops the
/// process when a byte that its free zeroed is not zero any more (a write
/// after free), then clears the link and the key.
FERROC_INLINE void check_reused_block(Page const* pg, Block* b) noexcept {
  if (!page_has_canaries(pg))
    return;
  auto* words = reinterpret_cast<std::uintptr_t*>(b);
  std::size_t const n =
      min_of(pg->block_size - sizeof(std::uintptr_t), zero_check_max) / sizeof(std::uintptr_t);
  std::uintptr_t written = 0;
  for (std::size_t i = 2; i < n; ++i)
    written |= words[i];
  if (FERROC_UNLIKELY(written != 0))
    report_fault(Fault::corrupted_free_list, b);
  words[0] = 0;
  words[1] = 0;
}

} // namespace detail
} // namespace FERROC_CONFIG_NS
} // namespace ferroc

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
