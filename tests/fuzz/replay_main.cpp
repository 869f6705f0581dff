// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// Runs the fuzz target's LLVMFuzzerTestOneInput over files without
// libFuzzer, so that any compiler (and any sanitizer) can replay the corpus
// or a crash:
//
//   fuzz_replay <file or directory>...
//
// A directory contributes its regular files, in name order. Exits 0 when
// every input ran (a failed check aborts), 1 when there was nothing to run
// or a file could not be read.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size);

namespace {

namespace fs = std::filesystem;

bool read_file(fs::path const& path, std::vector<std::uint8_t>& out) {
  std::ifstream file(path, std::ios::binary);
  if (!file)
    return false;
  out.assign(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
  return !file.bad();
}

} // namespace

int main(int argc, char** argv) {
  std::vector<fs::path> inputs;
  for (int i = 1; i < argc; ++i) {
    fs::path const arg = argv[i];
    std::error_code ec;
    if (fs::is_directory(arg, ec)) {
      std::vector<fs::path> files;
      for (fs::directory_entry const& entry : fs::directory_iterator(arg, ec))
        if (entry.is_regular_file(ec))
          files.push_back(entry.path());
      std::sort(files.begin(), files.end());
      inputs.insert(inputs.end(), files.begin(), files.end());
    } else {
      inputs.push_back(arg);
    }
  }
  if (inputs.empty()) {
    std::fprintf(stderr, "usage: %s <file or directory>... (no input found)\n",
                 argc > 0 ? argv[0] : "fuzz_replay");
    return 1;
  }

  std::vector<std::uint8_t> data;
  std::size_t bytes = 0;
  for (fs::path const& path : inputs) {
    if (!read_file(path, data)) {
      std::fprintf(stderr, "fuzz_replay: cannot read %s\n", path.string().c_str());
      return 1;
    }
    std::printf("fuzz_replay: %s (%zu bytes)\n", path.string().c_str(), data.size());
    std::fflush(stdout);
    LLVMFuzzerTestOneInput(data.data(), data.size());
    bytes += data.size();
  }
  std::printf("fuzz_replay: %zu inputs, %zu bytes, all passed\n", inputs.size(), bytes);
  return 0;
}
