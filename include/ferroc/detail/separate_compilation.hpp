// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

/// \file
/// Separate compilation of the default configuration (opt-in).
///
/// Ferroc is header-only by default: every file that uses the default
/// global allocator compiles its slow paths (page search, segments, arenas,
/// thread set-up) again, and the linker keeps one copy. A program defined
/// with `FERROC_SEPARATE_COMPILATION=1` in every file instead links the
/// library `ferroc_separate` (CMake target `ferroc::separate`, which sets the
/// macro for its users), where they are compiled once: the declarations
/// below tell each file that the classes of the default configuration
/// (`Arenas`, `Context` and `Heap` over `OsAlloc`, `DefaultGlobal` and its
/// resource) are instantiated elsewhere. The fast paths stay inline in every
/// file, so the code a call runs is the same in both modes; only the
/// slow-path functions move into the library. Other configurations (a
/// `Static` base, a Global of one's own) stay header-only in both modes.
///
/// Use one mode for the whole program: its files must agree on the macro.

#include "ferroc/detail/config.hpp"

#if FERROC_SEPARATE_COMPILATION

#include "ferroc/base/os_alloc.hpp"
#include "ferroc/heap/context.hpp"
#include "ferroc/heap/heap.hpp"

namespace ferroc {
inline namespace FERROC_CONFIG_NS {

extern template class Arenas<OsAlloc>;
extern template class Context<OsAlloc>;
extern template class Heap<OsAlloc>;

} // namespace FERROC_CONFIG_NS
} // namespace ferroc

#endif
