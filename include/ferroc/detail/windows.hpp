// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

/// \file
/// <windows.h> as Ferroc includes it, on Windows only: with
/// WIN32_LEAN_AND_MEAN and NOMINMAX, as most libraries that include it from
/// a header do. A program that wants the whole of <windows.h>, or its min
/// and max macros, includes it before Ferroc. Elsewhere this is empty.

#if defined(_WIN32)
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>
#endif
