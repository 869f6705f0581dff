// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// libFuzzer target: the input is decoded into a sequence of operations on
// one to four Heaps that share one Arenas, and every result is checked
// against a shadow model of the live blocks (pointer, requested size,
// alignment, usable size, pattern seed). Each block is filled with a pattern
// derived from its own seed and checked before it is freed or reallocated;
// the usable ranges of live blocks must never overlap.
//
// Input format. Multi-byte operands are little-endian. The run ends where
// the input ends, in the middle of an operation too (that operation is
// skipped).
//
//   byte 0   configuration: bits 0-1 = number of heaps - 1 (1..4);
//            bit 2 = the Arenas sit on a Static<32 MiB> region instead of
//            MmapAlloc (allocations may then fail with nullptr).
//   then     operations: one opcode byte, taken modulo 16, and its operands.
//
//   op     name            operands  what it does
//   0, 1   alloc           h S       allocate(S)
//   2      alloc_zeroed    h S       allocate_zeroed(S); all usable bytes read 0
//   3      alloc_aligned   h S a     allocate(S, A); a: bits 0-4 = log2(A) % 24
//                                    (A up to 8 MiB), bit 5 = allocate_zeroed,
//                                    bit 6 = A = 3 << k, not a power of two:
//                                    nullptr if A > 16; bits 6 and 7: a request
//                                    that must fail, chosen by k % 4: size near
//                                    SIZE_MAX, size past 2^62, alignment 2^41
//                                    and up, or reallocating live block I =
//                                    the 16-bit value of S to near SIZE_MAX
//   4      alloc_at_least  h S       allocate_at_least(S); .size = usable_size
//   5, 6   free            I v       free a live block (see v below)
//   7      realloc         I h S     reallocate(block, S) through heap h, with
//                                    the block's alignment; h bit 6 (or no
//                                    live block): reallocate(nullptr, S)
//   8      usable          I         usable_size >= requested, the same through
//                                    every heap; the whole usable range is then
//                                    written with the pattern
//   9      collect         h         collect(h bit 7 = force); after a forced
//                                    collect, every block is checked as by check_all
//   10     heap_reset      h         destroy heap h (its live blocks stay valid,
//                                    their segments are abandoned) and make a new
//                                    one; h bit 7: a new Context too, else the
//                                    old Context is reused
//   11     heap_move       h I       move heap h away: the moved-from heap must
//                                    return nullptr from every allocation and
//                                    still frees (block I, the remote path);
//                                    then move it back (h bit 7: by move
//                                    assignment, else by move construction)
//   12     burst           h S c     1 + (c & 63) allocations of size S; c bit 6:
//                                    allocate_zeroed; c bit 7: rotate the heaps
//   13     free_burst      I c v     free 1 + (c & 63) blocks starting at index I
//   14     try_fast        h s       try_allocate_fast(4 * s), nullptr allowed
//   15     check_all                 check the first and last 64 bytes of every
//                                    live block
//
//   h  one byte: heap (h % heaps); its high bits are flags of the operation.
//   I  two bytes: index into the live blocks, modulo their count (with no
//      live block, free does deallocate(nullptr) and heap_move frees nothing).
//   v  one byte, how to free: v % 4 = 0: through the heap that allocated the
//      block (a new heap after heap_reset); 1: deallocate through heap
//      (v >> 2) % heaps; 2: Arenas::deallocate (no heap at all); 3:
//      deallocate_nonnull through heap (v >> 2) % heaps.
//   S  three bytes: a selector byte and a 16-bit value (see decode_size):
//      0-63 tiny (0..128), 64-143 up to 1 KiB, 144-191 up to 8 KiB,
//      192-223 up to 64 KiB, 224-239 large (up to 2 MiB), 240-251 a
//      size-class boundary (class size - 1, + 0, + 1), 252-255 huge
//      (2 MiB + 1 .. 8 MiB).
//
// Limits: at most 1024 live blocks and 64 MiB of live (usable) bytes; an
// allocation past them is skipped. At the end of an input every live block
// is checked and freed, every heap collects with force, and then the Arenas
// must hold no segment at all; the heaps, contexts and the Arenas are
// destroyed (the MmapAlloc arenas unmap everything, a Static region must be
// whole again). A failed check prints what went wrong and aborts.
//
// tests/fuzz/make_corpus.py mirrors this format and writes the seed corpus.
#include <ferroc/ferroc.hpp>
#include <ferroc/heap/size_class.hpp>

#include <array>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <optional>
#include <utility>
#include <vector>

namespace {

constexpr std::size_t KiB = std::size_t{1} << 10;
constexpr std::size_t MiB = std::size_t{1} << 20;

constexpr std::size_t max_heaps = 4;
constexpr std::size_t max_live = 1024;
constexpr std::size_t max_live_bytes = 64 * MiB;
constexpr std::size_t static_region_size = 32 * MiB;
constexpr std::size_t min_align = alignof(std::max_align_t);

// Checked mode (FERROC_CHECKED=1) and secure mode (its canaries) report the
// requested size as the usable size, so a block reallocated in place
// changes its usable size.
constexpr bool usable_is_requested = ferroc::detail::checked || ferroc::detail::canaries;

[[noreturn, gnu::format(printf, 1, 2)]] void fail(char const* format, ...) {
  std::fprintf(stderr, "fuzz_heap: check failed: ");
  va_list args;
  va_start(args, format);
  std::vfprintf(stderr, format, args);
  va_end(args);
  std::fprintf(stderr, "\n");
  std::fflush(stderr);
  std::abort();
}

// ---- the input ---------------------------------------------------------

class Input {
public:
  Input(std::uint8_t const* data, std::size_t size) noexcept : data_(data), size_(size) {}

  bool byte(std::uint8_t& out) noexcept {
    if (at_ == size_)
      return false;
    out = data_[at_++];
    return true;
  }

  bool u16(std::uint16_t& out) noexcept {
    std::uint8_t lo = 0;
    std::uint8_t hi = 0;
    if (!byte(lo) || !byte(hi))
      return false;
    out = static_cast<std::uint16_t>(lo | (hi << 8));
    return true;
  }

private:
  std::uint8_t const* data_;
  std::size_t size_;
  std::size_t at_ = 0;
};

// Size from a selector byte and a 16-bit value: mostly small, some medium
// and large, rarely huge (see the table at the top).
std::size_t decode_size(std::uint8_t sel, std::uint16_t v) noexcept {
  if (sel < 64)
    return v % 129;
  if (sel < 144)
    return v % 1025;
  if (sel < 192)
    return 1025 + v % 7168;
  if (sel < 224)
    return 8193 + v % 57344;
  if (sel < 240)
    return 65537 + (std::size_t{v} * 31 + sel) % (2 * MiB - 64 * KiB);
  if (sel < 252) {
    std::size_t const c = 1 + v % (ferroc::detail::class_count - 1);
    return ferroc::detail::class_size(c) + sel % 3 - 1;
  }
  return 2 * MiB + 1 + (std::size_t{v} * 97 + sel) % (6 * MiB);
}

// ---- block contents ----------------------------------------------------

// The pattern loops run over every byte of every block: libFuzzer's
// comparison tracing there would cost most of the time and tell it
// nothing about the allocator.
#if defined(__clang__)
#define FUZZ_UNTRACED __attribute__((noinline, no_sanitize("coverage")))
#else
#define FUZZ_UNTRACED __attribute__((noinline))
#endif

// Byte i of a block with seed s is byte i % 8 of the word s + (i / 8) * G:
// cheap to write, different at every offset, and a copy that lands
// shifted does not match.
constexpr std::uint64_t golden = 0x9E3779B97F4A7C15ULL;

constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x += golden;
  x = (x ^ (x >> 30U)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27U)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31U);
}

unsigned char pattern_byte(std::uint64_t seed, std::size_t i) noexcept {
  std::uint64_t const word = seed + (i >> 3U) * golden;
  unsigned char bytes[8];
  std::memcpy(bytes, &word, sizeof word);
  return bytes[i & 7U];
}

FUZZ_UNTRACED void fill_range(unsigned char* p, std::size_t from, std::size_t to,
                              std::uint64_t seed) noexcept {
  std::size_t i = from;
  for (; i < to && (i & 7U) != 0; ++i)
    p[i] = pattern_byte(seed, i);
  std::uint64_t word = seed + (i >> 3U) * golden;
  for (; i + 8 <= to; i += 8, word += golden)
    std::memcpy(p + i, &word, sizeof word);
  for (; i < to; ++i)
    p[i] = pattern_byte(seed, i);
}

// The first offset in [from, to) that does not hold the pattern, or `to`.
FUZZ_UNTRACED std::size_t check_range(unsigned char const* p, std::size_t from, std::size_t to,
                                      std::uint64_t seed) noexcept {
  std::size_t i = from;
  for (; i < to && (i & 7U) != 0; ++i)
    if (p[i] != pattern_byte(seed, i))
      return i;
  std::uint64_t word = seed + (i >> 3U) * golden;
  for (; i + 8 <= to; i += 8, word += golden) {
    std::uint64_t got = 0;
    std::memcpy(&got, p + i, sizeof got);
    if (got != word)
      break;
  }
  for (; i < to; ++i)
    if (p[i] != pattern_byte(seed, i))
      return i;
  return to;
}

// The first offset in [from, to) that is not zero, or `to`.
FUZZ_UNTRACED std::size_t check_zero(unsigned char const* p, std::size_t from,
                                     std::size_t to) noexcept {
  std::size_t i = from;
  for (; i < to && (i & 7U) != 0; ++i)
    if (p[i] != 0)
      return i;
  for (; i + 8 <= to; i += 8) {
    std::uint64_t got = 0;
    std::memcpy(&got, p + i, sizeof got);
    if (got != 0)
      break;
  }
  for (; i < to; ++i)
    if (p[i] != 0)
      return i;
  return to;
}

// Which bytes of an n-byte block carry the pattern: all of them up to
// 64 KiB; past that the first and last 4 KiB, and one word every 16 KiB
// (at an offset chosen by the seed) in between, so a huge block costs a few
// page faults rather than megabytes of writes. Live ranges never overlap
// (checked directly), so this is about corruption, not placement.
constexpr std::size_t dense_max = 64 * KiB;
constexpr std::size_t edge_bytes = 4 * KiB;
constexpr std::size_t sparse_stride = 16 * KiB;

template <class F> void for_each_span(std::size_t n, std::uint64_t seed, F&& span) {
  if (n <= dense_max) {
    span(std::size_t{0}, n);
    return;
  }
  span(std::size_t{0}, edge_bytes);
  std::size_t const jitter = static_cast<std::size_t>(seed % (sparse_stride / 8)) * 8;
  for (std::size_t at = edge_bytes + jitter; at + 8 <= n - edge_bytes; at += sparse_stride)
    span(at, at + 8);
  span(n - edge_bytes, n);
}

// ---- the shadow model --------------------------------------------------

struct Live {
  unsigned char* ptr = nullptr;
  std::size_t requested = 0;
  std::size_t usable = 0;
  std::size_t filled = 0; // bytes that carry the pattern (requested, or usable)
  std::size_t align = 0;  // 0: the default alignment
  std::uint64_t seed = 0;
  std::size_t heap = 0; // slot of the heap that handed it out
};

template <ferroc::BaseAlloc B> class Run {
public:
  Run(ferroc::Arenas<B>& arenas, std::size_t heaps, bool may_fail)
      : arenas_(arenas), heap_count_(heaps), may_fail_(may_fail) {
    for (std::size_t i = 0; i < heap_count_; ++i) {
      slots_[i].cx.emplace(arenas_);
      slots_[i].heap.emplace(*slots_[i].cx);
    }
    live_.reserve(max_live);
  }

  Run(Run const&) = delete;
  Run& operator=(Run const&) = delete;

  ~Run() { finish(); }

  void execute(Input& in) {
    std::uint8_t op = 0;
    while (in.byte(op)) {
      ++ops_;
      if (!step(static_cast<std::uint8_t>(op % 16), in))
        return;
    }
  }

  // Checks and frees every live block, collects, and tears the heaps down;
  // the Arenas must then hold no segment.
  void finish() {
    if (finished_)
      return;
    finished_ = true;
    while (!live_.empty())
      free_at(live_.size() - 1, 0);
    for (std::size_t i = 0; i < heap_count_; ++i)
      slots_[i].heap->collect(true);
    if (arenas_.segments_in_use() != 0)
      fail("%zu segments still in use after every block was freed and every heap collected "
           "with force (%zu abandoned, %zu operations)",
           arenas_.segments_in_use(), arenas_.abandoned_segments(), ops_);
    for (std::size_t i = 0; i < heap_count_; ++i) {
      slots_[i].heap.reset();
      slots_[i].cx.reset();
    }
    if (arenas_.segments_in_use() != 0 || arenas_.abandoned_segments() != 0)
      fail("after the heaps were destroyed: %zu segments in use, %zu abandoned",
           arenas_.segments_in_use(), arenas_.abandoned_segments());
  }

private:
  using Heap = ferroc::Heap<B>;
  using Context = ferroc::Context<B>;

  struct Slot {
    // The Context outlives its Heap (members are destroyed in reverse).
    std::optional<Context> cx;
    std::optional<Heap> heap;
  };

  Heap& heap(std::size_t h) noexcept { return *slots_[h % heap_count_].heap; }

  // One operation; false when the input ran out in its operands.
  bool step(std::uint8_t op, Input& in) {
    std::uint8_t h = 0;
    std::uint8_t sel = 0;
    std::uint8_t a = 0;
    std::uint8_t c = 0;
    std::uint8_t v = 0;
    std::uint16_t value = 0;
    std::uint16_t index = 0;
    switch (op) {
    case 0:
    case 1:
    case 2:
    case 4: {
      if (!in.byte(h) || !in.byte(sel) || !in.u16(value))
        return false;
      std::size_t const size = decode_size(sel, value);
      if (!room_for(size, 0))
        return true;
      if (op == 4) {
        auto const result = heap(h).allocate_at_least(size);
        if (result.ptr != nullptr && result.size != heap(h).usable_size(result.ptr))
          fail("allocate_at_least(%zu).size = %zu, but usable_size = %zu", size, result.size,
               heap(h).usable_size(result.ptr));
        adopt(result.ptr, size, 0, h, false, "allocate_at_least");
      } else if (op == 2) {
        adopt(heap(h).allocate_zeroed(size), size, 0, h, true, "allocate_zeroed");
      } else {
        adopt(heap(h).try_allocate(size), size, 0, h, false, "allocate");
      }
      return true;
    }
    case 3: {
      if (!in.byte(h) || !in.byte(sel) || !in.u16(value) || !in.byte(a))
        return false;
      std::size_t const size = decode_size(sel, value);
      unsigned const shift = (a & 31U) % 24;
      bool const zero = (a & 0x20U) != 0;
      if ((a & 0xC0U) == 0xC0U) {
        impossible(h, shift % 4, zero, value);
        return true;
      }
      if ((a & 0x40U) != 0) {
        // Not a power of two: nullptr past the default alignment. Up to it
        // the fast path serves the request like any other (the block then
        // has the default alignment).
        std::size_t const align = std::size_t{3} << (shift % 20);
        if (!room_for(size, align))
          return true;
        void* p = zero ? heap(h).allocate_zeroed(size, align) : heap(h).try_allocate(size, align);
        if (p != nullptr && align > min_align)
          fail("allocate(%zu, %zu): a block for an alignment that is not a power of two", size,
               align);
        if (p != nullptr)
          adopt(p, size, 0, h, zero, "allocate (non-power-of-two alignment)");
        return true;
      }
      std::size_t const align = std::size_t{1} << shift;
      if (!room_for(size, align))
        return true;
      void* p = zero ? heap(h).allocate_zeroed(size, align) : heap(h).try_allocate(size, align);
      adopt(p, size, align, h, zero, zero ? "allocate_zeroed (aligned)" : "allocate (aligned)");
      return true;
    }
    case 5:
    case 6:
      if (!in.u16(index) || !in.byte(v))
        return false;
      if (live_.empty())
        heap(v).deallocate(nullptr);
      else
        free_at(index % live_.size(), v);
      return true;
    case 7:
      if (!in.u16(index) || !in.byte(h) || !in.byte(sel) || !in.u16(value))
        return false;
      reallocate(index, h, decode_size(sel, value));
      return true;
    case 8:
      if (!in.u16(index))
        return false;
      if (!live_.empty())
        fill_usable(index % live_.size());
      return true;
    case 9:
      if (!in.byte(h))
        return false;
      heap(h).collect((h & 0x80U) != 0);
      if ((h & 0x80U) != 0)
        check_all("after collect(true)");
      return true;
    case 10:
      if (!in.byte(h))
        return false;
      reset_heap(h);
      return true;
    case 11:
      if (!in.byte(h) || !in.u16(index))
        return false;
      move_heap(h, index);
      return true;
    case 12: {
      if (!in.byte(h) || !in.byte(sel) || !in.u16(value) || !in.byte(c))
        return false;
      std::size_t const size = decode_size(sel, value);
      std::size_t const count = 1 + (c & 63U);
      bool const zero = (c & 0x40U) != 0;
      for (std::size_t k = 0; k < count && room_for(size, 0); ++k) {
        std::size_t const hk = (c & 0x80U) != 0 ? h + k : h;
        void* p = zero ? heap(hk).allocate_zeroed(size) : heap(hk).try_allocate(size);
        adopt(p, size, 0, hk, zero, zero ? "allocate_zeroed (burst)" : "allocate (burst)");
      }
      return true;
    }
    case 13: {
      if (!in.u16(index) || !in.byte(c) || !in.byte(v))
        return false;
      std::size_t const count = 1 + (c & 63U);
      for (std::size_t k = 0; k < count && !live_.empty(); ++k)
        free_at(index % live_.size(), static_cast<std::uint8_t>(v + 4 * k));
      return true;
    }
    case 14: {
      if (!in.byte(h) || !in.byte(sel))
        return false;
      std::size_t const size = std::size_t{4} * sel;
      if (!room_for(size, 0))
        return true;
      if (void* p = heap(h).try_allocate_fast(size))
        adopt(p, size, 0, h, false, "try_allocate_fast");
      return true;
    }
    default:
      check_all("check_all");
      return true;
    }
  }

  // Requests no memory can satisfy must fail with nullptr, and a failed
  // reallocation must leave its block alone.
  void impossible(std::uint8_t h, unsigned which, bool zero, std::uint16_t value) {
    std::size_t const max = ~std::size_t{0};
    std::size_t size = 16;
    std::size_t align = min_align;
    switch (which) {
    case 0:
      size = max - value;
      break;
    case 1:
      size = (std::size_t{1} << 62U) + 1 + value;
      break;
    case 2:
      align = std::size_t{1} << (41U + value % 22U);
      break;
    default:
      if (!live_.empty()) {
        Live const& b = live_[value % live_.size()];
        if (void* p = heap(h).reallocate(b.ptr, max - value, b.align > 0 ? b.align : min_align))
          fail("reallocate(%p, %zu) = %p", static_cast<void*>(b.ptr), max - value, p);
        check(b, b.ptr, b.filled, "after a reallocate that could not succeed");
        return;
      }
      size = max;
      break;
    }
    void* p = zero ? heap(h).allocate_zeroed(size, align) : heap(h).try_allocate(size, align);
    if (p != nullptr)
      fail("%s(%zu, align %zu) = %p, not nullptr", zero ? "allocate_zeroed" : "allocate", size,
           align, p);
    auto const result = heap(h).allocate_at_least(size, align);
    if (result.ptr != nullptr || result.size != 0)
      fail("allocate_at_least(%zu, align %zu) = {%p, %zu}, not {nullptr, 0}", size, align,
           result.ptr, result.size);
  }

  bool room_for(std::size_t size, std::size_t align) const noexcept {
    return live_.size() < max_live && live_bytes_ + size + align <= max_live_bytes;
  }

  std::uint64_t next_seed() noexcept { return mix64(++seeds_); }

  // Takes a new block into the model: checks its alignment, usable size,
  // placement (no overlap with a live block) and zeroing, then fills it.
  void adopt(void* raw, std::size_t size, std::size_t align, std::size_t h, bool zero,
             char const* what) {
    if (raw == nullptr) {
      if (!may_fail_)
        fail("%s(%zu, align %zu) returned nullptr (%zu live blocks, %zu bytes)", what, size, align,
             live_.size(), live_bytes_);
      return;
    }
    Live b;
    b.ptr = static_cast<unsigned char*>(raw);
    b.requested = size;
    b.align = align;
    b.heap = h % heap_count_;
    b.seed = next_seed();
    auto const addr = reinterpret_cast<std::uintptr_t>(raw);
    std::size_t const need = align > min_align ? align : min_align;
    if (addr % need != 0)
      fail("%s(%zu, align %zu) = %p is not %zu-aligned", what, size, align, raw, need);
    b.usable = heap(h).usable_size(raw);
    check_usable(b, what);
    insert_range(b, what);
    if (zero) {
      for_each_span(b.usable, b.seed, [&](std::size_t from, std::size_t to) {
        std::size_t const i = check_zero(b.ptr, from, to);
        if (i != to)
          fail("%s(%zu, align %zu) = %p: byte %zu of %zu usable is %u, not 0", what, size, align,
               raw, i, b.usable, static_cast<unsigned>(b.ptr[i]));
      });
    }
    b.filled = size;
    fill(b);
    live_bytes_ += b.usable;
    live_.push_back(b);
  }

  void check_usable(Live const& b, char const* what) const {
    // At least the request; at most what a size class (a quarter of
    // waste), the alignment padding and a huge block's page rounding add.
    std::size_t const pad = b.align > min_align ? b.align : 0;
    std::size_t const bound = b.requested + b.requested / 4 + pad + pad / 4 + 4 * KiB;
    if (b.usable < b.requested || b.usable > bound)
      fail("%s(%zu, align %zu) = %p: usable_size %zu", what, b.requested, b.align,
           static_cast<void*>(b.ptr), b.usable);
  }

  // Live blocks' usable ranges [ptr, ptr + usable) are disjoint.
  void insert_range(Live const& b, char const* what) {
    auto const lo = reinterpret_cast<std::uintptr_t>(b.ptr);
    std::uintptr_t const hi = lo + (b.usable == 0 ? 1 : b.usable);
    auto next = ranges_.lower_bound(lo);
    if (next != ranges_.end() && next->first < hi)
      fail("%s: block [%#zx, %#zx) overlaps the live block [%#zx, %#zx)", what,
           static_cast<std::size_t>(lo), static_cast<std::size_t>(hi),
           static_cast<std::size_t>(next->first), static_cast<std::size_t>(next->second));
    if (next != ranges_.begin()) {
      auto const prev = std::prev(next);
      if (prev->second > lo)
        fail("%s: block [%#zx, %#zx) overlaps the live block [%#zx, %#zx)", what,
             static_cast<std::size_t>(lo), static_cast<std::size_t>(hi),
             static_cast<std::size_t>(prev->first), static_cast<std::size_t>(prev->second));
    }
    ranges_.emplace_hint(next, lo, hi);
  }

  void erase_range(Live const& b) { ranges_.erase(reinterpret_cast<std::uintptr_t>(b.ptr)); }

  static void fill(Live const& b) {
    for_each_span(b.filled, b.seed,
                  [&](std::size_t from, std::size_t to) { fill_range(b.ptr, from, to, b.seed); });
  }

  // The pattern of `b` on its first `limit` bytes, at `at` (the block
  // itself, or where a reallocation moved it).
  void check(Live const& b, unsigned char const* at, std::size_t limit, char const* when) const {
    for_each_span(b.filled, b.seed, [&](std::size_t from, std::size_t to) {
      to = to < limit ? to : limit;
      if (from >= to)
        return;
      std::size_t const bad = check_range(at, from, to, b.seed);
      if (bad != to)
        fail("%s: block %p (requested %zu, usable %zu, align %zu, heap %zu) at %p: byte %zu is "
             "%u, expected %u (after %zu operations)",
             when, static_cast<void*>(b.ptr), b.requested, b.usable, b.align, b.heap,
             static_cast<void const*>(at), bad, static_cast<unsigned>(at[bad]),
             static_cast<unsigned>(pattern_byte(b.seed, bad)), ops_);
    });
  }

  void check_same_usable(Live const& b, char const* when) {
    for (std::size_t i = 0; i < heap_count_; ++i) {
      std::size_t const now = slots_[i].heap->usable_size(b.ptr);
      if (now != b.usable)
        fail("%s: usable_size(%p) through heap %zu is %zu, it was %zu", when,
             static_cast<void*>(b.ptr), i, now, b.usable);
    }
  }

  // Frees live block i; v says how (see the top).
  void free_at(std::size_t i, std::uint8_t v) {
    Live const b = live_[i];
    check(b, b.ptr, b.filled, "before free");
    check_same_usable(b, "before free");
    erase_range(b);
    live_bytes_ -= b.usable;
    live_[i] = live_.back();
    live_.pop_back();
    switch (v % 4) {
    case 0:
      heap(b.heap).deallocate(b.ptr);
      break;
    case 1:
      heap(v >> 2U).deallocate(b.ptr);
      break;
    case 2:
      arenas_.deallocate(b.ptr);
      break;
    default:
      heap(v >> 2U).deallocate_nonnull(b.ptr);
      break;
    }
  }

  void reallocate(std::uint16_t index, std::uint8_t h, std::size_t size) {
    if (live_.empty() || (h & 0x40U) != 0) {
      if (room_for(size, 0))
        adopt(heap(h).reallocate(nullptr, size), size, 0, h, false, "reallocate(nullptr)");
      return;
    }
    std::size_t const i = index % live_.size();
    Live b = live_[i];
    if (live_bytes_ - b.usable + size + b.align > max_live_bytes)
      return;
    check(b, b.ptr, b.filled, "before reallocate");
    void* raw = b.align > min_align ? heap(h).reallocate(b.ptr, size, b.align)
                                    : heap(h).reallocate(b.ptr, size);
    if (raw == nullptr) {
      if (!may_fail_)
        fail("reallocate(%p, %zu, align %zu) returned nullptr", static_cast<void*>(b.ptr), size,
             b.align);
      check(b, b.ptr, b.filled, "after a failed reallocate");
      return;
    }
    auto* q = static_cast<unsigned char*>(raw);
    std::size_t const keep = b.filled < size ? b.filled : size;
    check(b, q, keep, "after reallocate");
    std::size_t const need = b.align > min_align ? b.align : min_align;
    if (reinterpret_cast<std::uintptr_t>(q) % need != 0)
      fail("reallocate(%p, %zu, align %zu) = %p is misaligned", static_cast<void*>(b.ptr), size,
           b.align, raw);
    Live n = b;
    n.ptr = q;
    n.requested = size;
    n.usable = heap(h).usable_size(q);
    n.seed = next_seed();
    n.filled = size;
    if (q == b.ptr) {
      // Kept in place: the block is the same, and so is its usable size
      // (except in checked mode, where usable_size is the requested size);
      // the new size uses at least half of it.
      if (n.usable != b.usable && !usable_is_requested)
        fail("reallocate(%p, %zu) kept the block but its usable size went from %zu to %zu", raw,
             size, b.usable, n.usable);
      if (n.usable < size || n.usable / 2 > size)
        fail("reallocate(%p, %zu) kept a block of %zu usable bytes", raw, size, n.usable);
      erase_range(b);
      insert_range(n, "reallocate (in place)");
    } else {
      n.heap = h % heap_count_;
      check_usable(n, "reallocate");
      // The new block was allocated while the old one was live.
      insert_range(n, "reallocate");
      erase_range(b);
    }
    live_bytes_ = live_bytes_ - b.usable + n.usable;
    fill(n);
    live_[i] = n;
  }

  // usable_size is the same through every heap; all of it may be written.
  void fill_usable(std::size_t i) {
    Live& b = live_[i];
    check(b, b.ptr, b.filled, "before filling the usable size");
    check_same_usable(b, "usable_size");
    b.filled = b.usable;
    fill(b);
  }

  // The first and last 64 bytes of every block's pattern (all of it is
  // checked when the block is freed or reallocated).
  void check_all(char const* when) const {
    for (Live const& b : live_) {
      if (b.filled <= 128) {
        check(b, b.ptr, b.filled, when);
      } else if (check_range(b.ptr, 0, 64, b.seed) != 64 ||
                 check_range(b.ptr, b.filled - 64, b.filled, b.seed) != b.filled) {
        check(b, b.ptr, b.filled, when);
      }
    }
  }

  // Destroys heap h with its blocks alive and makes a new one.
  void reset_heap(std::uint8_t h) {
    Slot& s = slots_[h % heap_count_];
    s.heap.reset();
    if ((h & 0x80U) != 0) {
      s.cx.reset();
      s.cx.emplace(arenas_);
    }
    s.heap.emplace(*s.cx);
  }

  // Moves heap h out; the moved-from heap must refuse to allocate and still
  // free; then moves it back.
  void move_heap(std::uint8_t h, std::uint16_t index) {
    Slot& s = slots_[h % heap_count_];
    Heap moved{std::move(*s.heap)};
    Heap& gone = *s.heap;
    void* probes[] = {gone.try_allocate(16),        gone.try_allocate(5000),
                      gone.try_allocate(64, 4096),  gone.allocate_zeroed(100),
                      gone.reallocate(nullptr, 32), gone.try_allocate_fast(16)};
    for (void* p : probes)
      if (p != nullptr)
        fail("a moved-from heap allocated %p", p);
    gone.collect(true);
    if (!live_.empty()) {
      std::size_t const i = index % live_.size();
      Live const b = live_[i];
      check(b, b.ptr, b.filled, "before free through a moved-from heap");
      if (gone.usable_size(b.ptr) != b.usable)
        fail("usable_size through a moved-from heap differs");
      erase_range(b);
      live_bytes_ -= b.usable;
      live_[i] = live_.back();
      live_.pop_back();
      gone.deallocate(b.ptr);
    }
    if ((h & 0x80U) != 0) {
      *s.heap = std::move(moved);
    } else {
      s.heap.reset();
      s.heap.emplace(std::move(moved));
    }
  }

  ferroc::Arenas<B>& arenas_;
  std::size_t heap_count_;
  bool may_fail_;
  bool finished_ = false;
  std::array<Slot, max_heaps> slots_;
  std::vector<Live> live_;
  std::map<std::uintptr_t, std::uintptr_t> ranges_; // start -> end of live usable ranges
  std::size_t live_bytes_ = 0;
  std::uint64_t seeds_ = 0;
  std::size_t ops_ = 0;
};

template <ferroc::BaseAlloc B>
void run(ferroc::Arenas<B>& arenas, std::size_t heaps, bool may_fail, Input& in) {
  Run<B> r{arenas, heaps, may_fail};
  r.execute(in);
  r.finish();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  Input in{data, size};
  std::uint8_t config = 0;
  if (!in.byte(config))
    return 0;
  std::size_t const heaps = 1 + (config & 3U);
  if ((config & 4U) != 0) {
    // Kept across inputs; each input's Arenas must give all of it back.
    static ferroc::Static<static_region_size> region;
    {
      ferroc::Arenas<ferroc::Static<static_region_size>> arenas{region};
      run(arenas, heaps, true, in);
    }
    if (region.used_bytes() != 0)
      fail("the Static region still has %zu bytes handed out after its Arenas were destroyed",
           region.used_bytes());
  } else {
    // Fresh per input (as fast as reusing one, and every input replays
    // alone); destroying it unmaps all its memory.
    ferroc::Arenas<ferroc::MmapAlloc> arenas{ferroc::MmapAlloc{}};
    run(arenas, heaps, false, in);
  }
  return 0;
}
