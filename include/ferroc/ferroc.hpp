// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

// Ferroc: a lock-free, multithreaded memory allocator. The one header to
// include; it pulls in every layer, from the base allocators up.

#include "ferroc/base/base_alloc.hpp"
#include "ferroc/base/mmap.hpp"
#include "ferroc/base/static.hpp"

#include "ferroc/arena/arenas.hpp"

#include "ferroc/heap/context.hpp"
#include "ferroc/heap/heap.hpp"
#include "ferroc/heap/heap_allocator.hpp"

#include "ferroc/global/allocator.hpp"
#include "ferroc/global/global.hpp"
#include "ferroc/global/resource.hpp"
