// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// Secure mode's process secret (detail/checked.hpp, process_secret), from
// which the free-list keys and the canaries derive, must differ from run to
// run even where address-space randomisation does not move the library: a
// program built without position independence, or run with randomisation
// off. This program runs itself twice with randomisation off and checks
// that the library sat at the same address both times and that the secrets
// still differ. Release builds derive the secret from the address alone
// (it only needs to make a stray write stand out there).
//
//   secret           the check; exits 0 when the secrets differ
//   print            prints the anchor's address and the secret

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include <sys/personality.h>
#include <unistd.h>

#include <ferroc/ferroc.hpp>

namespace {

std::string run(std::string const& command) {
  std::FILE* out = ::popen(command.c_str(), "r");
  if (out == nullptr)
    return {};
  char line[128] = {};
  std::string text = std::fgets(line, sizeof line, out) != nullptr ? line : "";
  ::pclose(out);
  return text;
}

} // namespace

int main(int argc, char** argv) {
  std::string_view const mode = argc == 2 ? argv[1] : "";
  if (mode == "print") {
    std::printf("%p %016" PRIx64 "\n", static_cast<void const*>(&ferroc::detail::secret_anchor),
                ferroc::detail::process_secret());
    return 0;
  }
  if (mode != "secret") {
    std::fprintf(stderr, "usage: secret secret|print\n");
    return 2;
  }
  char self[4096] = {};
  if (::readlink("/proc/self/exe", self, sizeof self - 1) <= 0)
    return 3;
  // Children inherit the persona: their layout is the same in every run.
  if (::personality(static_cast<unsigned long>(::personality(0xffffffff)) | ADDR_NO_RANDOMIZE) < 0)
    return 4;
  std::string const command = std::string("'") + self + "' print";
  std::string const first = run(command);
  std::string const second = run(command);
  std::printf("run 1: %srun 2: %s", first.c_str(), second.c_str());
  std::string_view const a = first, b = second;
  auto const space = a.find(' ');
  if (space == std::string_view::npos || b.find(' ') != space)
    return 5;
  if (a.substr(0, space) != b.substr(0, space)) {
    std::puts("secret: the layout moved although randomisation is off");
    return 6;
  }
  if (a == b) {
    std::puts("secret: the same secret in two runs at the same address");
    return 1;
  }
  std::puts("secret: two runs at the same address have different secrets");
  return 0;
}
