// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

/// \file
/// OsAlloc: the base that takes memory from the operating system the
/// program runs on, under one name for portable code.

#if defined(_WIN32)
#include "ferroc/base/virtual_alloc.hpp"
#else
#include "ferroc/base/mmap.hpp"
#endif

namespace ferroc {
inline namespace FERROC_CONFIG_NS {

/// Memory from the OS: `WinAlloc` (`VirtualAlloc`) on Windows, `MmapAlloc`
/// (`mmap`) elsewhere. The default base of the global allocator. An alias,
/// not a type of its own: code that names the platform's base is the same
/// code as code that names the alias.
#if defined(_WIN32)
using OsAlloc = WinAlloc;
#else
using OsAlloc = MmapAlloc;
#endif

} // namespace FERROC_CONFIG_NS
} // namespace ferroc
