// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

// Symbols a compiled Ferroc library exports even when built with hidden
// visibility (the replaced malloc family and operator new/delete).
#if defined(__GNUC__) || defined(__clang__)
#define FERROC_EXPORT __attribute__((visibility("default")))
#else
#define FERROC_EXPORT
#endif
