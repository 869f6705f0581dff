// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

/// \file
/// The operating system's services besides the memory of a base, one small
/// function each, so that the rest of the library names what it needs and
/// not how a platform spells it: writing to a file descriptor, yielding the
/// processor, telling threads apart, a thread-exit callback, a few bytes of
/// entropy and an inaccessible reservation. POSIX and Windows; nothing here
/// allocates, so all of it may run inside the allocator.
///
/// On Windows it includes <windows.h> (see ferroc/detail/windows.hpp).

#include <cstddef>
#include <cstdint>

#if defined(_WIN32)
#include "ferroc/detail/windows.hpp"

#include <io.h>
#else
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/auxv.h>
#endif
#endif

#include <cstring>

#include "ferroc/detail/config.hpp"

/// The calling convention of a thread-exit callback (detail::ThreadKey): the
/// one Windows gives fiber-local storage callbacks, none elsewhere.
#if defined(_WIN32)
#define FERROC_THREAD_EXIT_CALL NTAPI
#else
#define FERROC_THREAD_EXIT_CALL
#endif

namespace ferroc {
inline namespace FERROC_CONFIG_NS {
namespace detail {

/// The file descriptor of the standard error stream (2 on POSIX and in the
/// Windows C runtime alike).
inline constexpr int stderr_fd = 2;

/// Writes the `n` bytes at `s` to file descriptor `fd`, in as many writes
/// as it takes; stops at the first that fails. Allocates nothing.
inline void write_fd(int fd, char const* s, std::size_t n) noexcept {
  for (std::size_t done = 0; done < n;) {
#if defined(_WIN32)
    // The C runtime's descriptors; a write takes at most 2 GiB less 1.
    std::size_t const chunk = n - done < 0x7fffffffu ? n - done : 0x7fffffffu;
    int const w = ::_write(fd, s + done, static_cast<unsigned>(chunk));
#else
    ssize_t const w = ::write(fd, s + done, n - done);
#endif
    if (w <= 0)
      return;
    done += static_cast<std::size_t>(w);
  }
}

/// Lets another thread have the processor (a waiter that spun long enough).
inline void yield_thread() noexcept {
#if defined(_WIN32)
  ::SwitchToThread();
#else
  ::sched_yield();
#endif
}

/// Tells threads apart: `current_thread()` of two threads alive at the same
/// time never compare equal.
#if defined(_WIN32)
using ThreadId = DWORD;
inline ThreadId current_thread() noexcept {
  return ::GetCurrentThreadId();
}
inline bool same_thread(ThreadId a, ThreadId b) noexcept {
  return a == b;
}
#else
using ThreadId = ::pthread_t;
inline ThreadId current_thread() noexcept {
  return ::pthread_self();
}
inline bool same_thread(ThreadId a, ThreadId b) noexcept {
  return ::pthread_equal(a, b) != 0;
}
#endif

/// A slot of per-thread data whose callback runs when a thread with a value
/// in it exits, registered without allocating: a pthread key on POSIX, a
/// fiber-local storage index (FlsAlloc) on Windows, whose callback also
/// runs when the process ends, for the thread that ends it.
#if defined(_WIN32)
using ThreadKey = DWORD;
#else
using ThreadKey = ::pthread_key_t;
#endif

/// A thread-exit callback: gets the thread's non-null value of the key.
using ThreadExitFn = void(FERROC_THREAD_EXIT_CALL*)(void*);

/// Makes a key whose callback is `on_exit`; false when the OS has none left.
inline bool thread_key_create(ThreadKey& key, ThreadExitFn on_exit) noexcept {
#if defined(_WIN32)
  key = ::FlsAlloc(on_exit);
  return key != FLS_OUT_OF_INDEXES;
#else
  return ::pthread_key_create(&key, on_exit) == 0;
#endif
}

/// Deletes a key that no thread has set (its callback runs for no thread).
inline void thread_key_delete(ThreadKey key) noexcept {
#if defined(_WIN32)
  ::FlsFree(key);
#else
  ::pthread_key_delete(key);
#endif
}

/// Sets the calling thread's value of `key`.
inline void thread_key_set(ThreadKey key, void* value) noexcept {
#if defined(_WIN32)
  ::FlsSetValue(key, value);
#else
  ::pthread_setspecific(key, value);
#endif
}

/// Whether `os_entropy` gives every call in a process the same bytes (Linux:
/// the kernel's AT_RANDOM bytes); if not (Windows), its callers keep the
/// first result they publish.
#if defined(_WIN32)
inline constexpr bool os_entropy_is_fixed = false;
#else
inline constexpr bool os_entropy_is_fixed = true;
#endif

/// 16 bytes that differ between runs of a program, cheaply and without a
/// lock. Linux: the random bytes the kernel gives every process at exec
/// (AT_RANDOM), read through the auxiliary vector without a system call;
/// other POSIX systems: zeros (the callers mix in addresses). Windows:
/// the performance counter, the process and thread ids and a stack
/// address, which vary from run to run and call to call (not a secret
/// against an attacker who can measure them; no system call beyond the
/// counter's, and no link to a cryptography library).
inline void os_entropy(std::uint64_t (&words)[2]) noexcept {
  words[0] = 0;
  words[1] = 0;
#if defined(_WIN32)
  LARGE_INTEGER counter{};
  ::QueryPerformanceCounter(&counter);
  char const stack_byte = 0;
  words[0] =
      static_cast<std::uint64_t>(counter.QuadPart) ^ (std::uint64_t{::GetCurrentProcessId()} << 32);
  words[1] = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(&stack_byte)) ^
             std::uint64_t{::GetCurrentThreadId()};
#elif defined(__linux__)
  if (auto const at = ::getauxval(AT_RANDOM); at != 0)
    std::memcpy(words, reinterpret_cast<void const*>(at), sizeof words);
#endif
}

/// Reserves `size` bytes of address space that fault when touched and
/// commit nothing; nullptr when the OS refuses.
inline void* reserve_inaccessible(std::size_t size) noexcept {
#if defined(_WIN32)
  return ::VirtualAlloc(nullptr, size, MEM_RESERVE, PAGE_NOACCESS);
#else
  // MAP_ANON is the older spelling (macOS, the BSDs); MAP_NORESERVE is
  // Linux's, and the default elsewhere.
#if defined(MAP_ANONYMOUS)
  int flags = MAP_PRIVATE | MAP_ANONYMOUS;
#else
  int flags = MAP_PRIVATE | MAP_ANON;
#endif
#if defined(MAP_NORESERVE)
  flags |= MAP_NORESERVE;
#endif
  void* p = ::mmap(nullptr, size, PROT_NONE, flags, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
#endif
}

/// Gives back a whole reservation of `reserve_inaccessible(size)`.
inline void release_reservation(void* p, std::size_t size) noexcept {
#if defined(_WIN32)
  (void)size; // a reservation is released whole, from its start
  ::VirtualFree(p, 0, MEM_RELEASE);
#else
  ::munmap(p, size);
#endif
}

/// While it lives, the calling thread cannot be cancelled (POSIX thread
/// cancellation; Windows has none): a cancellation point reached inside
/// would unwind through noexcept frames and end the process.
class NoCancelScope {
public:
#if defined(_WIN32)
  NoCancelScope() noexcept = default;
#else
  NoCancelScope() noexcept {
    ::pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old_state_);
  }
  ~NoCancelScope() {
    ::pthread_setcancelstate(old_state_, nullptr);
  }

private:
  int old_state_ = PTHREAD_CANCEL_ENABLE;
#endif
public:
  NoCancelScope(NoCancelScope const&) = delete;
  NoCancelScope& operator=(NoCancelScope const&) = delete;
};

} // namespace detail
} // namespace FERROC_CONFIG_NS
} // namespace ferroc
