// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

// Command-line parsing shared by the examples.

#include <charconv>
#include <cstddef>
#include <string_view>
#include <system_error>

namespace example {

/// Parses a whole decimal argument into `out` if it lies in [lo, hi].
inline bool parse(char const* text, std::size_t lo, std::size_t hi, std::size_t& out) {
  std::string_view const arg(text);
  std::size_t value = 0;
  auto const [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), value);
  if (ec != std::errc{} || end != arg.data() + arg.size() || value < lo || value > hi)
    return false;
  out = value;
  return true;
}

} // namespace example
