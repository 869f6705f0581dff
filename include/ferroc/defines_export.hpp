// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

// Symbols a compiled Ferroc library exports even when built with hidden
// visibility (the replaced malloc family and operator new/delete). On
// Windows nothing: a replaced operator new is linked into the program
// itself (static ferroc::override), and a DLL exports only what it marks
// __declspec(dllexport) (the fe_* functions, see ferroc.h).
#if (defined(__GNUC__) || defined(__clang__)) && !defined(_WIN32)
#define FERROC_EXPORT __attribute__((visibility("default")))
#else
#define FERROC_EXPORT
#endif
