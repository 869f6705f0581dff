// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

/// \file
/// Ferroc: a lock-free, multithreaded memory allocator. The one header to
/// include; it pulls in every layer, from the base allocators up (but not
/// ferroc/c_api.hpp or ferroc/override.hpp, which a program includes where
/// it wants them, nor ferroc/containers.hpp and ferroc/allocate_unique.hpp,
/// whose standard headers (the containers, `<memory>`) would cost every file
/// that includes this one compile time).

#include "ferroc/detail/config.hpp"

#include "ferroc/base/base_alloc.hpp"
#include "ferroc/base/os_alloc.hpp"
#include "ferroc/base/span.hpp"
#include "ferroc/base/static.hpp"

#include "ferroc/arena/arenas.hpp"

#include "ferroc/heap/context.hpp"
#include "ferroc/heap/heap.hpp"
#include "ferroc/heap/heap_allocator.hpp"
#include "ferroc/heap/heap_resource.hpp"
#include "ferroc/stats.hpp"

// The global layer keeps a heap per thread, so a single-threaded build
// (FERROC_SINGLE_THREADED) leaves it out.
#if !FERROC_SINGLE_THREADED
#include "ferroc/global/allocator.hpp"
#include "ferroc/global/global.hpp"
#include "ferroc/global/resource.hpp"
#endif

// A heap of one's own: over the global layer's Arenas by default, over
// given ones in any build.
#include "ferroc/local_heap.hpp"
