// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// glibc_simple: the single-threaded malloc/free loop of glibc's
// bench-malloc-simple. For each block size (16, 32, 64, 128 and 256 bytes)
// and batch length (1, 25, 100 and 400 blocks), it allocates batches of
// blocks of that one size, writes a word into each, and frees each batch in
// allocation order: the fast paths of malloc and free, and how well freed
// blocks are reused.
//
// It always runs on one thread; the threads argument is accepted and
// reported, not used.
//
// Work: scale x 250,000 blocks. Full scale: 320 (about 2 s with glibc
// malloc). ops = blocks allocated (and freed).

#include "glibc_loop.hpp"

namespace {

using namespace workload;

constexpr Info info{"glibc_simple",
                    "single-threaded loop: batches of one size (16-256 B) allocated and freed "
                    "in order (the threads argument is ignored)",
                    "blocks allocated and freed", 320};

constexpr std::uint64_t pairs_per_scale = 250000;

} // namespace

int main(int argc, char** argv) {
  Args const args = parse_args(info, argc, argv);
  std::uint64_t ops = 0;
  Stopwatch watch;
  {
    Tally tally;
    ops = glibc_loop(pairs_per_scale * args.scale, tally);
  }
  double const seconds = watch.seconds();
  return finish(info, args, ops, seconds);
}
