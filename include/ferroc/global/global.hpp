// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

#include "ferroc/detail/atomic.hpp"
#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>

#include <pthread.h>

#include "ferroc/arena/arenas.hpp"
#include "ferroc/base/base_alloc.hpp"
#include "ferroc/base/mmap.hpp"
#include "ferroc/detail/config.hpp"
#include "ferroc/detail/defines.hpp"
#include "ferroc/detail/no_destroy.hpp"
#include "ferroc/heap/context.hpp"
#include "ferroc/heap/guard_pages.hpp"
#include "ferroc/heap/heap.hpp"

// A heap per thread needs thread-local storage and atomics, so the global
// layer (global/, the C API, override.hpp) is not part of a single-threaded
// build: use an Arenas, a Context and a Heap directly.
#if FERROC_SINGLE_THREADED
#error "ferroc: the global allocator is not available with FERROC_SINGLE_THREADED=1"
#endif

// Thread-local storage of the per-thread heap pointer. Initial-exec TLS is
// one load off the thread pointer, with no call into the dynamic linker, and
// needs no allocation (a library that replaces malloc must not allocate to
// find its heap).
#if defined(__GNUC__) || defined(__clang__)
#define FERROC_TLS_MODEL __attribute__((tls_model("initial-exec")))
#else
#define FERROC_TLS_MODEL
#endif

namespace ferroc {
inline namespace FERROC_CONFIG_NS {

namespace detail {

/// A global allocator takes its threads' data from its base, this much at
/// a time.
inline constexpr std::size_t thread_data_chunk = 64 * 1024;

/// Whether a base with a fixed capacity (a `Static<N>`) holds one whole
/// segment wherever it lies and a chunk of thread data.
template <class B> constexpr bool region_fits_global() noexcept {
  if constexpr (requires { B::capacity(); })
    return B::capacity() >= region_min_size + thread_data_chunk;
  else
    return true;
}

} // namespace detail

/// How a global allocator learns that a thread ends, to release its heap.
enum class ThreadExit {
  /// A pthread key destructor. Needs no allocation to register, so it is the
  /// choice for a malloc replacement.
  pthread_key,
  /// A C++ `thread_local` destructor (registration may allocate through
  /// the C++ runtime).
  thread_local_dtor,
};

/// A process-wide allocator over the base `B`: one shared Arenas, and a Heap
/// per thread, made on the thread's first allocation and released when the
/// thread exits (its live blocks stay valid; their segments are abandoned to
/// the Arenas and reclaimed by other threads).
///
/// Everything is static; the state is constant-initialised and never
/// destroyed, so it works in constructors and destructors of other globals.
/// Instantiate it with a distinct `Tag` to get a second, independent global
/// allocator over the same base type. A non-copyable base (e.g. `Static<N>`)
/// is owned by the Global itself.
///
/// Thread-safe: every member may be called from any thread at any time,
/// also before main() and after it returns. No member throws.
///
/// @tparam B the base allocator (MmapAlloc, Static, ...).
/// @tparam Exit how a thread's end is noticed (see ThreadExit).
/// @tparam Tag any type, to tell apart Globals over the same base.
template <BaseAlloc B, ThreadExit Exit = ThreadExit::pthread_key, class Tag = void> class Global {
  static_assert(
      detail::region_fits_global<B>(),
      "ferroc::Global over a Static<N> region: N must be at least two segments and 64 "
      "KiB of thread data (2 << FERROC_SEGMENT_SHIFT plus 65536 bytes: 8 MiB + 64 KiB "
      "by default); each thread then needs a segment per page kind it uses (docs/embedded.md)");

public:
  /// The base allocator type.
  using Base = B;

  /// The calling thread's `Heap::try_allocate`: at least `size` bytes
  /// aligned to `align`, or nullptr when out of memory or `align` is above
  /// 16 and not a power of two. Never throws. Any thread; the thread's
  /// first call makes its heap.
  [[nodiscard]] FERROC_INLINE static void*
  try_allocate(std::size_t size, std::size_t align = alignof(std::max_align_t)) noexcept {
    return thread_heap_->try_allocate(size, align);
  }

  /// Deprecated spelling of `try_allocate` (same contract: nullptr on
  /// failure, never throws, any thread); removed in the next release.
  [[deprecated("ferroc: Global::allocate is now Global::try_allocate")]] [[nodiscard]] static void*
  allocate(std::size_t size, std::size_t align = alignof(std::max_align_t)) noexcept {
    return try_allocate(size, align);
  }

  /// As `try_allocate`, with the usable block set to zero. nullptr on
  /// failure; never throws. Any thread.
  [[nodiscard]] static void*
  allocate_zeroed(std::size_t size, std::size_t align = alignof(std::max_align_t)) noexcept {
    return thread_heap_->allocate_zeroed(size, align);
  }

  /// The calling thread's `Heap::try_allocate_guarded`: at least `size`
  /// bytes aligned to `align` in a guarded block, which ends right against
  /// an inaccessible page and stays inaccessible a while after its free (an
  /// overflow past its end or a use after free faults); an ordinary block
  /// when none is to be had (see Heap::try_allocate_guarded); nullptr when
  /// out of memory. Never throws. Any thread; the thread's first call makes
  /// its heap; a few system calls.
  [[nodiscard]] static void*
  try_allocate_guarded(std::size_t size, std::size_t align = alignof(std::max_align_t)) noexcept {
    Heap<B>* heap = thread_heap();
    return heap != nullptr ? heap->try_allocate_guarded(size, align) : nullptr;
  }

  /// The calling thread's `Heap::try_allocate_fast`: a block of at least
  /// `size` bytes when its heap has one at hand, else nullptr (then call
  /// `try_allocate`). Never throws. Any thread; O(1).
  FERROC_INLINE static void* try_allocate_fast(std::size_t size) noexcept {
    return thread_heap_->try_allocate_fast(size);
  }

  /// `deallocate` of a block the caller knows is not nullptr. Never throws.
  /// Any thread.
  FERROC_INLINE static void deallocate_nonnull(void* p) noexcept {
    thread_heap_->deallocate_nonnull(p);
  }

  /// See Heap::deallocate_if_ours: frees `p` and returns true, unless it is
  /// in no segment of any Arenas (or nullptr): then returns false and
  /// leaves it alone. Never throws. Any thread.
  FERROC_INLINE static bool deallocate_if_ours(void* p) noexcept {
    return thread_heap_->deallocate_if_ours(p);
  }

  /// See Heap::deallocate_any: the `free` of a malloc replacement, which
  /// stops on a pointer that is not ours (release and checked builds).
  /// Never throws. Any thread.
  FERROC_INLINE static void deallocate_any(void* p) noexcept { thread_heap_->deallocate_any(p); }

  /// Frees a block of this global allocator, from any thread (not only the
  /// one that allocated it); nullptr does nothing. Never throws. Freeing
  /// anything else, or twice, is undefined (checked mode stops the process
  /// with a message).
  FERROC_INLINE static void deallocate(void* p) noexcept { thread_heap_->deallocate(p); }

  /// See Heap::deallocate_sized: a free that states the block's requested
  /// size and alignment, checked in checked mode. Never throws. Any
  /// thread.
  static void deallocate_sized(void* p, std::size_t size,
                               std::size_t align = alignof(std::max_align_t)) noexcept {
    thread_heap_->deallocate_sized(p, size, align);
  }

  /// See Heap::reallocate: resizes `p`, in place when it still fits, else
  /// moves it; nullptr on failure, when `p` stays valid. Never throws. Any
  /// thread.
  [[nodiscard]] static void* reallocate(void* p, std::size_t new_size,
                                        std::size_t align = alignof(std::max_align_t)) noexcept {
    return thread_heap_->reallocate(p, new_size, align);
  }

  /// Bytes usable at block `p`, at least what was requested; 0 for nullptr.
  /// Never throws. Any thread; O(1).
  static std::size_t usable_size(void const* p) noexcept { return thread_heap_->usable_size(p); }

  /// Runs the calling thread's heap's delayed clean-up (see Heap::collect).
  /// A forced collect first gives a thread that never allocated its heap,
  /// so that it can reclaim what exited threads left behind. Never throws.
  /// Any thread; walks the calling thread's pages.
  static void collect(bool force = false) noexcept {
    Heap<B>* heap = force ? thread_heap() : thread_heap_;
    if (heap != nullptr)
      heap->collect(force);
  }

  /// The Arenas all its threads share (for statistics, or to free from a
  /// thread with `Arenas::deallocate`). Never throws. Any thread.
  static Arenas<B>& arenas() noexcept { return state_.value.arenas; }

  /// The calling thread's heap, made now if the thread has none yet;
  /// nullptr when no memory is left for it. Valid until the thread exits;
  /// use it on the calling thread only. Never throws.
  static Heap<B>* thread_heap() noexcept {
    Heap<B>* heap = thread_heap_;
    return heap != placeholder() ? heap : init_thread();
  }

private:
  // A thread's Context and Heap live together, in memory from the base.
  struct Resident {
    explicit Resident(Arenas<B>& arenas) noexcept : cx(arenas), heap(cx) {}
    Context<B> cx;
    Heap<B> heap;
  };

  // A slot of thread data, made when its chunk is carved and never
  // destroyed: a thread's Resident is made in it when the thread takes the
  // slot, and destroyed when the thread exits and gives the slot back.
  struct ThreadData {
    ThreadData() noexcept {}
    ~ThreadData() {}
    // The pool's link. A pop that loses the race for this slot may still
    // read it while the winner sets up its Resident: it is atomic, and
    // outside the Resident.
    detail::atomic<ThreadData*> next_free{nullptr};
    union {
      Resident r;
    };
  };

  // The pool of free slots is a lock-free stack (Treiber), so that nothing
  // is ever held: a fork (from a signal handler too, while the thread is
  // inside fork) leaves the child a pool where each push or pop either
  // happened or did not. Its head word holds the top slot's address and a
  // tag that every push and pop moves on, so that a pop whose top was taken
  // and given back in between fails its CAS (ABA). On 64-bit targets the
  // address takes the low 48 bits (user-space memory lies below 2^48 on
  // x86-64 and AArch64 unless a program asks for more, and carving checks
  // it) and the tag the top 16; on 32-bit targets each takes half of a
  // 64-bit word. A 16-bit tag wraps after 65536 pushes and pops, and a pop
  // would have to stall for exactly that many thread starts and exits.
  using PoolWord = std::uint64_t;
  static_assert(sizeof(void*) == 8 || sizeof(void*) == 4, "ferroc: 32- or 64-bit pointers only");
  static_assert(detail::atomic<PoolWord>::is_always_lock_free,
                "ferroc: the thread-data pool needs lock-free 64-bit atomics");
  static constexpr unsigned pool_tag_shift = sizeof(void*) == 8 ? 48 : 32;
  static constexpr PoolWord pool_address_mask = (PoolWord{1} << pool_tag_shift) - 1;

  static PoolWord pool_word(ThreadData* top, PoolWord tag) noexcept {
    return static_cast<PoolWord>(reinterpret_cast<std::uintptr_t>(top)) | (tag << pool_tag_shift);
  }
  static ThreadData* pool_top(PoolWord w) noexcept {
    return reinterpret_cast<ThreadData*>(static_cast<std::uintptr_t>(w & pool_address_mask));
  }
  static PoolWord pool_next_tag(PoolWord w) noexcept { return (w >> pool_tag_shift) + 1; }

  // A base the Arenas use by reference (a Static<N> region) lives in a
  // variable of its own: it is all zero at start, so it goes to zero-filled
  // storage (.bss) instead of making the executable N bytes larger, which
  // it would as part of the state below (whose pointers are not zero).
  struct NoBase {};
  using OwnedBase = std::conditional_t<detail::held_by_reference<B>, B, NoBase>;

  struct State {
    constexpr State() noexcept : arenas(arenas_arg()) {}

    static constexpr decltype(auto) arenas_arg() noexcept {
      if constexpr (detail::held_by_reference<B>)
        return (owned_base_.value);
      else
        return B{};
    }

    Arenas<B> arenas;
    Heap<B> placeholder{detail::DetachedHeapTag{}, &allocate_on_new_thread};

    // Free thread-data slots, exited threads' and fresh ones: the head word
    // of a stack (see PoolWord).
    detail::atomic<PoolWord> pool{0};

    // The thread-exit key plus one; 0: none yet. Published by one CAS, with
    // nothing held meanwhile, for the same reason as the pool.
    detail::atomic<std::uintptr_t> key_plus_one{0};
  };

  static Heap<B>* placeholder() noexcept { return &state_.value.placeholder; }

  // The placeholder heap's slow path: the thread's first allocation.
  static void* allocate_on_new_thread(std::size_t size, std::size_t align, bool zero) noexcept {
    Heap<B>* heap = init_thread();
    if (heap == nullptr)
      return nullptr;
    return zero ? heap->allocate_zeroed(size, align) : heap->try_allocate(size, align);
  }

  FERROC_NOINLINE static Heap<B>* init_thread() noexcept {
    if (thread_heap_ != placeholder())
      return thread_heap_;
    // After its thread_local destructor has run, a thread that allocates
    // again (from a later destructor) gets a pthread key destructor instead.
    bool const use_key = Exit == ThreadExit::pthread_key || thread_exited_;
    pthread_key_t key{};
    if (use_key && !ensure_key(key))
      return nullptr;
    ThreadData* td = take_thread_data();
    if (td == nullptr)
      return nullptr;
    thread_heap_ = &td->r.heap;
    // From here on, registrations that allocate (they may, inside the C
    // library) are served by the new heap instead of recursing into us.
    if (use_key) {
      pthread_setspecific(key, td);
    } else if constexpr (Exit == ThreadExit::thread_local_dtor) {
      // The first use of this thread_local registers its destructor.
      exit_guard().td = td;
    }
    return &td->r.heap;
  }

  // The key whose destructor releases a thread's data; false if none could
  // be made. Threads that find none each make one, and the first to
  // publish it wins (the others delete theirs): nobody waits for another
  // thread, which a forked child may not have.
  static bool ensure_key(pthread_key_t& key) noexcept {
    static_assert(std::is_integral_v<pthread_key_t> &&
                  sizeof(pthread_key_t) <= sizeof(std::uintptr_t));
    auto& published = state_.value.key_plus_one;
    // acquire: the key's creation in the thread that published it happens
    // before our use of the key.
    std::uintptr_t word = published.load(detail::memory_order_acquire);
    if (word == 0) {
      pthread_key_t mine{};
      if (pthread_key_create(&mine, &on_thread_exit) != 0)
        return false;
      std::uintptr_t expected = 0;
      word = static_cast<std::uintptr_t>(mine) + 1;
      // release: publishes the key's creation to the threads that load it
      // with acquire; relaxed on failure: the winner's key is loaded below.
      if (!published.compare_exchange_strong(expected, word, detail::memory_order_release,
                                             detail::memory_order_relaxed)) {
        pthread_key_delete(mine);
        // acquire: as the load above, for the winner's key.
        word = published.load(detail::memory_order_acquire);
      }
    }
    key = static_cast<pthread_key_t>(word - 1);
    return true;
  }

  static ThreadData* take_thread_data() noexcept {
    ThreadData* td = pop_pool();
    if (td == nullptr)
      td = carve_thread_data();
    if (td == nullptr)
      return nullptr;
    ::new (static_cast<void*>(&td->r)) Resident(state_.value.arenas);
    return td;
  }

  // Thread data comes from the base, a chunk at a time, and is never given
  // back: it is reused by later threads. The caller gets the chunk's first
  // slot, the pool the others, in one push. Secure mode over a base that
  // protects pages puts a guard page before and after the chunk's slots
  // (heap/guard_pages.hpp), so that an overflow of a block next to them
  // does not reach the heaps' metadata; they stay for good, as the chunk
  // does (a refused protection leaves that side unguarded).
  static ThreadData* carve_thread_data() noexcept {
    constexpr std::size_t chunk = detail::thread_data_chunk;
    constexpr std::size_t per_chunk = chunk / sizeof(ThreadData);
    static_assert(per_chunk >= 1);
    constexpr std::size_t align = alignof(ThreadData) > 64 ? alignof(ThreadData) : 64;
    // The guards are whole OS pages (of the real size); the slots after the
    // first one stay aligned, and the chunk (a multiple of 64 KiB) ends on
    // an OS page for the second.
    static_assert(chunk % 65536 == 0);
    std::size_t guard = 0;
    if constexpr (detail::guard_pages<B>)
      guard = detail::max_of(detail::os_page_size(), align);
    std::size_t const size = chunk + 2 * guard;
    void* const raw = arenas().base().allocate(size, guard > align ? guard : align);
    if (raw == nullptr)
      return nullptr;
    // The pool's head word has room for 48 bits of address (see PoolWord).
    if constexpr (sizeof(void*) == 8) {
      if (reinterpret_cast<std::uintptr_t>(raw) + size - 1 > pool_address_mask) {
        arenas().base().deallocate(raw, size);
        return nullptr;
      }
    }
    if constexpr (detail::guard_pages<B>) {
      detail::protect_guard(arenas().base(), raw, guard);
      detail::protect_guard(arenas().base(), static_cast<std::byte*>(raw) + guard + chunk, guard);
    }
    auto* const mem = reinterpret_cast<ThreadData*>(static_cast<std::byte*>(raw) + guard);
    for (std::size_t i = 0; i < per_chunk; ++i)
      ::new (static_cast<void*>(mem + i)) ThreadData();
    if constexpr (per_chunk > 1) {
      for (std::size_t i = 1; i + 1 < per_chunk; ++i) {
        // relaxed: the slots are not shared yet; the push publishes them.
        mem[i].next_free.store(&mem[i + 1], detail::memory_order_relaxed);
      }
      push_pool(&mem[1], &mem[per_chunk - 1]);
    }
    return mem;
  }

  static void release_thread(ThreadData* td) noexcept {
    // From here the thread frees through the placeholder (cross-thread
    // path); a later allocation makes it a new heap.
    thread_heap_ = placeholder();
    td->r.~Resident();
    push_pool(td, td);
  }

  // Pushes the chain of slots from `first` to `last` (linked already).
  static void push_pool(ThreadData* first, ThreadData* last) noexcept {
    detail::atomic<PoolWord>& head = state_.value.pool;
    // relaxed: only a guess at the top; the CAS below checks it.
    PoolWord w = head.load(detail::memory_order_relaxed);
    do {
      // relaxed: the release CAS below publishes the link.
      last->next_free.store(pool_top(w), detail::memory_order_relaxed);
      // release: the chain's links and our use of the slots (the Resident
      // destroyed) happen before a pop that takes them; relaxed on
      // failure: we only retry with the new top.
    } while (!head.compare_exchange_weak(w, pool_word(first, pool_next_tag(w)),
                                         detail::memory_order_release,
                                         detail::memory_order_relaxed));
  }

  // Takes a free slot, or nullptr if the pool is empty.
  static ThreadData* pop_pool() noexcept {
    detail::atomic<PoolWord>& head = state_.value.pool;
    // acquire: the top's link and the slot as its pusher left it are
    // visible (pairs with the push's release CAS).
    PoolWord w = head.load(detail::memory_order_acquire);
    for (;;) {
      ThreadData* const top = pool_top(w);
      if (top == nullptr)
        return nullptr;
      // relaxed: ordered by the acquire that gave us `w`. If another
      // thread took `top` meanwhile, the link may be stale, but then the
      // head's tag has moved on and the CAS fails.
      ThreadData* const next = top->next_free.load(detail::memory_order_relaxed);
      // acquire on success and on failure: the same as the load above, for
      // the head we take or the new top we retry with.
      if (head.compare_exchange_weak(w, pool_word(next, pool_next_tag(w)),
                                     detail::memory_order_acquire, detail::memory_order_acquire))
        return top;
    }
  }

  static void on_thread_exit(void* td) noexcept {
    if (td != nullptr)
      release_thread(static_cast<ThreadData*>(td));
  }

  struct ExitGuard {
    ThreadData* td = nullptr;
    ~ExitGuard() {
      thread_exited_ = true;
      if (td != nullptr)
        release_thread(td);
    }
  };

  static constinit inline detail::NoDestroy<OwnedBase> owned_base_{};
  static constinit inline detail::NoDestroy<State> state_{};
  static constinit inline thread_local Heap<B>* thread_heap_ FERROC_TLS_MODEL =
      &state_.value.placeholder;
  // Function-local: g++ 12 mis-compiles two static data members that are
  // thread_local with destructors in one translation unit.
  static ExitGuard& exit_guard() noexcept {
    thread_local ExitGuard guard;
    return guard;
  }
  static constinit inline thread_local bool thread_exited_ = false;
};

} // namespace FERROC_CONFIG_NS
} // namespace ferroc
