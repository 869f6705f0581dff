// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

// One place for compiler attributes, so the rest of the library names what it
// wants ("keep this out of the fast path") instead of how a compiler spells it.

#if defined(__GNUC__) || defined(__clang__)
#define FERROC_INLINE inline __attribute__((always_inline))
#define FERROC_NOINLINE __attribute__((noinline))
#define FERROC_COLD __attribute__((cold, noinline))
#define FERROC_MALLOC_ATTR __attribute__((malloc))
#define FERROC_EXPECT(x, v) __builtin_expect(!!(x), (v))
#else
#define FERROC_INLINE inline
#define FERROC_NOINLINE
#define FERROC_COLD
#define FERROC_MALLOC_ATTR
#define FERROC_EXPECT(x, v) (x)
#endif

// For a member of a class template defined out of its class (the part
// headers of Heap, Context and Arenas): `inline` as the compilers saw the
// in-class definition it replaces. GCC takes a definition inside the class
// as declared inline; Clang gives its inlining hint only to a function
// written `inline`, which an in-class definition is not. Either way the code
// is the same as with the definition in the class. (A member of a class
// template needs no `inline` for the one-definition rule.)
//
// With FERROC_SEPARATE_COMPILATION (see detail/separate_compilation.hpp)
// these members are not inline, so that a program's files leave them to the
// one compiled copy of the library.
#if (defined(FERROC_SEPARATE_COMPILATION) && FERROC_SEPARATE_COMPILATION) || defined(__clang__)
#define FERROC_MEMBER_INLINE
#else
#define FERROC_MEMBER_INLINE inline
#endif

#define FERROC_LIKELY(x) FERROC_EXPECT(x, 1)
#define FERROC_UNLIKELY(x) FERROC_EXPECT(x, 0)

#if defined(__x86_64__) || defined(__i386__)
#define FERROC_SPIN_PAUSE() __builtin_ia32_pause()
#elif defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
#include <intrin.h>
#define FERROC_SPIN_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define FERROC_SPIN_PAUSE() __asm__ __volatile__("yield")
#elif defined(__powerpc__) || defined(__powerpc64__)
// The "low priority" hint of POWER (Linux's HMT_low): the spinning hardware
// thread gives its core's resources to the others.
#define FERROC_SPIN_PAUSE() __asm__ __volatile__("or 27,27,27")
#elif defined(__riscv)
// PAUSE (Zihintpause), spelled as its encoding so that assemblers without
// the extension take it; a core without it runs a fence that orders nothing.
#define FERROC_SPIN_PAUSE() __asm__ __volatile__(".4byte 0x100000F")
#else
#define FERROC_SPIN_PAUSE() ((void)0)
#endif
