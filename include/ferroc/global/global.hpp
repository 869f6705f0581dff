// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

#include <atomic>
#include <cstddef>
#include <new>

#include <pthread.h>
#include <sched.h>

#include "ferroc/arena/arenas.hpp"
#include "ferroc/base/base_alloc.hpp"
#include "ferroc/base/mmap.hpp"
#include "ferroc/detail/config.hpp"
#include "ferroc/detail/defines.hpp"
#include "ferroc/detail/no_destroy.hpp"
#include "ferroc/heap/context.hpp"
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
template <BaseAlloc B, ThreadExit Exit = ThreadExit::pthread_key, class Tag = void> class Global {
public:
  using Base = B;

  /// See Heap::allocate: nullptr on failure, never throws.
  [[nodiscard]] FERROC_INLINE static void*
  allocate(std::size_t size, std::size_t align = alignof(std::max_align_t)) noexcept {
    return thread_heap_->allocate(size, align);
  }

  [[nodiscard]] static void*
  allocate_zeroed(std::size_t size, std::size_t align = alignof(std::max_align_t)) noexcept {
    return thread_heap_->allocate_zeroed(size, align);
  }

  /// See Heap::try_allocate_fast.
  FERROC_INLINE static void* try_allocate_fast(std::size_t size) noexcept {
    return thread_heap_->try_allocate_fast(size);
  }

  /// Frees a block that is not nullptr.
  FERROC_INLINE static void deallocate_nonnull(void* p) noexcept {
    thread_heap_->deallocate_nonnull(p);
  }

  /// See Heap::deallocate_if_ours: frees `p` unless it is no block of
  /// ours (then returns false).
  FERROC_INLINE static bool deallocate_if_ours(void* p) noexcept {
    return thread_heap_->deallocate_if_ours(p);
  }

  /// Frees a block of this global allocator, from any thread; nullptr is a no-op.
  FERROC_INLINE static void deallocate(void* p) noexcept { thread_heap_->deallocate(p); }

  /// See Heap::reallocate.
  [[nodiscard]] static void* reallocate(void* p, std::size_t new_size,
                                        std::size_t align = alignof(std::max_align_t)) noexcept {
    return thread_heap_->reallocate(p, new_size, align);
  }

  static std::size_t usable_size(void const* p) noexcept { return thread_heap_->usable_size(p); }

  /// Runs the calling thread's heap's delayed clean-up (see Heap::collect).
  /// Runs the calling thread's heap's delayed clean-up (see Heap::collect).
  /// A forced collect first gives a thread that never allocated its heap,
  /// so that it can reclaim what exited threads left behind.
  static void collect(bool force = false) noexcept {
    Heap<B>* heap = force ? thread_heap() : thread_heap_;
    if (heap != nullptr)
      heap->collect(force);
  }

  static Arenas<B>& arenas() noexcept { return state_.value.arenas; }

  /// The calling thread's heap, made now if the thread has none yet;
  /// nullptr when no memory is left for it.
  static Heap<B>* thread_heap() noexcept {
    Heap<B>* heap = thread_heap_;
    return heap != placeholder() ? heap : init_thread();
  }

private:
  // A thread's Context and Heap live together, in memory from the base.
  struct ThreadData {
    explicit ThreadData(Arenas<B>& arenas) noexcept : cx(arenas), heap(cx) {}
    Context<B> cx;
    Heap<B> heap;
    ThreadData* next_free = nullptr;
  };

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

    // Thread data of exited threads for reuse; taken and given under a
    // spin lock: this runs once per thread start and exit only.
    std::atomic<bool> pool_lock{false};
    ThreadData* pool = nullptr;

    std::atomic<bool> fork_handlers{false};

    // 0: no key yet, 1: being created, 2: ready.
    std::atomic<int> key_state{0};
    pthread_key_t key{};
  };

  static Heap<B>* placeholder() noexcept { return &state_.value.placeholder; }

  // The placeholder heap's slow path: the thread's first allocation.
  static void* allocate_on_new_thread(std::size_t size, std::size_t align, bool zero) noexcept {
    Heap<B>* heap = init_thread();
    if (heap == nullptr)
      return nullptr;
    return zero ? heap->allocate_zeroed(size, align) : heap->allocate(size, align);
  }

  FERROC_NOINLINE static Heap<B>* init_thread() noexcept {
    if (thread_heap_ != placeholder())
      return thread_heap_;
    // After its thread_local destructor has run, a thread that allocates
    // again (from a later destructor) gets a pthread key destructor instead.
    bool const use_key = Exit == ThreadExit::pthread_key || thread_exited_;
    if (use_key && !ensure_key())
      return nullptr;
    ThreadData* td = take_thread_data();
    if (td == nullptr)
      return nullptr;
    thread_heap_ = &td->heap;
    // From here on, registrations that allocate (they may, inside the C
    // library) are served by the new heap instead of recursing into us.
    ensure_fork_handlers();
    if (use_key) {
      pthread_setspecific(state_.value.key, td);
    } else if constexpr (Exit == ThreadExit::thread_local_dtor) {
      // The first use of this thread_local registers its destructor.
      exit_guard().td = td;
    }
    return &td->heap;
  }

  // The pool lock is the one lock a forked child could inherit held; take it
  // around fork so the child starts with it free.
  static void ensure_fork_handlers() noexcept {
    // relaxed: registering twice is harmless (the handlers nest), so this
    // flag only avoids needless work.
    if (state_.value.fork_handlers.exchange(true, std::memory_order_relaxed))
      return;
    pthread_atfork(&lock_pool, &unlock_pool, &unlock_pool);
  }

  static bool ensure_key() noexcept {
    State& s = state_.value;
    // acquire: a ready key's value, written before, is visible.
    int st = s.key_state.load(std::memory_order_acquire);
    while (st != 2) {
      // acquire on success is not needed (we write the key ourselves);
      // relaxed on failure: we re-check in the loop.
      if (st == 0 && s.key_state.compare_exchange_strong(st, 1, std::memory_order_relaxed,
                                                         std::memory_order_relaxed)) {
        if (pthread_key_create(&s.key, &on_thread_exit) != 0) {
          // release: let another thread try again.
          s.key_state.store(0, std::memory_order_release);
          return false;
        }
        // release: publishes the key to threads that load the state with acquire.
        s.key_state.store(2, std::memory_order_release);
        return true;
      }
      sched_yield();
      st = s.key_state.load(std::memory_order_acquire); // acquire: as above
    }
    return true;
  }

  static ThreadData* take_thread_data() noexcept {
    State& s = state_.value;
    ThreadData* td = nullptr;
    lock_pool();
    if (s.pool != nullptr) {
      td = s.pool;
      s.pool = td->next_free;
    }
    unlock_pool();
    if (td == nullptr)
      td = carve_thread_data();
    if (td == nullptr)
      return nullptr;
    return new (td) ThreadData(s.arenas);
  }

  // Thread data comes from the base, a chunk at a time, and is never given
  // back: it is reused by later threads.
  static ThreadData* carve_thread_data() noexcept {
    constexpr std::size_t chunk = 64 * 1024;
    constexpr std::size_t per_chunk = chunk / sizeof(ThreadData);
    static_assert(per_chunk >= 1);
    auto* mem = static_cast<ThreadData*>(
        arenas().base().allocate(chunk, alignof(ThreadData) > 64 ? alignof(ThreadData) : 64));
    if (mem == nullptr)
      return nullptr;
    State& s = state_.value;
    lock_pool();
    for (std::size_t i = 1; i < per_chunk; ++i) {
      ThreadData* spare = mem + i; // raw storage; only next_free is used until reuse
      ::new (static_cast<void*>(&spare->next_free)) ThreadData*(s.pool);
      s.pool = spare;
    }
    unlock_pool();
    return mem;
  }

  static void release_thread(ThreadData* td) noexcept {
    // From here the thread frees through the placeholder (cross-thread
    // path); a later allocation makes it a new heap.
    thread_heap_ = placeholder();
    td->heap.~Heap();
    td->cx.~Context();
    State& s = state_.value;
    lock_pool();
    td->next_free = s.pool;
    s.pool = td;
    unlock_pool();
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

  static void lock_pool() noexcept {
    // acquire: the pool as the previous holder left it is visible.
    while (state_.value.pool_lock.exchange(true, std::memory_order_acquire))
      sched_yield();
  }
  static void unlock_pool() noexcept {
    // release: publishes our pool changes to the next holder.
    state_.value.pool_lock.store(false, std::memory_order_release);
  }

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
