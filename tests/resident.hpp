// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

// The resident set size of the test process, for the tests that check that
// memory goes back to the OS: one definition for every test folder.

#include <cstddef>
#include <cstdio>

#if defined(_WIN32)
#include "ferroc/detail/windows.hpp"

#include <psapi.h>
#endif

namespace ferroc_resident {

#if defined(_WIN32)
// Resident set size of this process in bytes (its working set, which
// K32GetProcessMemoryInfo of kernel32 reports without psapi.dll), or 0 when
// it cannot be read.
inline std::size_t resident_bytes() noexcept {
  PROCESS_MEMORY_COUNTERS counters{};
  counters.cb = sizeof counters;
  if (::K32GetProcessMemoryInfo(::GetCurrentProcess(), &counters, sizeof counters) == 0)
    return 0;
  return counters.WorkingSetSize;
}
#else
// Resident set size of this process in bytes (VmRSS of Linux's
// /proc/self/status, in KiB), or 0 when it cannot be read. Not statm's page
// count: under qemu-user with another page size than the host's, the kernel
// counts host pages while sysconf reports the emulated page.
inline std::size_t resident_bytes() noexcept {
  std::FILE* file = std::fopen("/proc/self/status", "r");
  if (file == nullptr)
    return 0;
  char line[256];
  unsigned long long kib = 0;
  bool found = false;
  while (!found && std::fgets(line, sizeof line, file) != nullptr)
    found = std::sscanf(line, "VmRSS: %llu kB", &kib) == 1;
  std::fclose(file);
  return found ? static_cast<std::size_t>(kib) * 1024 : 0;
}
#endif

} // namespace ferroc_resident
