// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// larson: the server simulation of Larson and Krishnan ("Memory allocation
// for long-running server applications", ISMM 1998).
//
// Each thread owns an array of slots holding live blocks of 16-1024 bytes.
// A round picks a random slot, frees its block and puts a new block of random
// size there. When a thread has done its rounds it starts its successor, a
// new thread that inherits the slot array, and exits: the successor frees
// blocks that its predecessor allocated, and the allocator sees a steady
// stream of new threads taking over the memory of exited ones. The main
// thread fills the slots first, so the first generation frees its blocks too.
//
// Work: scale x 2 generations of threads, each generation doing 50,000
// rounds split among the threads. Full scale: 300 (about 2 s with glibc
// malloc on 2 threads). ops = rounds (one free + one malloc each).

#include "workload.hpp"

#include <pthread.h>

namespace {

using namespace workload;

constexpr Info info{"larson",
                    "server simulation: threads replace random blocks (16-1024 B) "
                    "in slot arrays that each new thread generation inherits",
                    "rounds (one free and one malloc of 16-1024 bytes)", 300};

constexpr std::size_t slots_per_thread = 1000;
constexpr std::size_t min_size = 16;
constexpr std::size_t max_size = 1024;
constexpr std::uint64_t generations_per_scale = 2;
constexpr std::uint64_t rounds_per_generation = 50000;

struct Slot {
  void* p;
  std::size_t size;
};

/// One line of threads: each generation works on `slots`, then hands them on.
struct Chain {
  Slot* slots = nullptr;
  unsigned index = 0;
  std::uint64_t rounds = 0; // per generation, for this chain
  std::uint64_t generation = 0;
  std::uint64_t generations = 0;
  pthread_t previous{};
  bool has_previous = false;
};

struct Done {
  std::mutex mutex;
  std::condition_variable cv;
  unsigned chains = 0;
  std::vector<pthread_t> last; // the final thread of each chain, to join
};

Done* done_state = nullptr;

void chain_finished(Chain& chain) {
  std::lock_guard lock(done_state->mutex);
  done_state->last[chain.index] = pthread_self();
  ++done_state->chains;
  done_state->cv.notify_all();
}

void* generation(void* arg) {
  auto& chain = *static_cast<Chain*>(arg);
  // The predecessor has started us and is about to exit: reap it.
  if (chain.has_previous)
    pthread_join(chain.previous, nullptr);
  {
    Tally tally;
    Rng rng(seed(1, chain.index, chain.generation));
    Slot* const slots = chain.slots;
    for (std::uint64_t r = 0; r < chain.rounds; ++r) {
      Slot& slot = slots[rng.below(slots_per_thread)];
      check_stamp(slot.p, slot.size, key_of(slot.p), "larson");
      checked_free(slot.p, tally);
      std::size_t const size = rng.range(min_size, max_size);
      void* const p = checked_malloc(size, tally);
      stamp(p, size, key_of(p));
      slot = Slot{p, size};
    }
  }
  if (++chain.generation < chain.generations) {
    chain.previous = pthread_self();
    chain.has_previous = true;
    pthread_t next{};
    // Everything written to `chain` above happens before the successor starts.
    int const err = pthread_create(&next, nullptr, generation, &chain);
    if (err == 0)
      return nullptr;
    fail("pthread_create: %s", std::strerror(err));
  }
  chain_finished(chain);
  return nullptr;
}

} // namespace

int main(int argc, char** argv) {
  Args const args = parse_args(info, argc, argv);
  unsigned const threads = args.threads;
  std::uint64_t const generations = generations_per_scale * args.scale;

  Tally main_tally;
  std::vector<Slot> slots(slots_per_thread * threads);
  Rng rng(seed(1, threads + 1));
  for (Slot& slot : slots) {
    slot.size = rng.range(min_size, max_size);
    slot.p = checked_malloc(slot.size, main_tally);
    stamp(slot.p, slot.size, key_of(slot.p));
  }

  Done done;
  done.last.resize(threads);
  done_state = &done;
  std::vector<Chain> chains(threads);
  std::uint64_t ops = 0;
  Stopwatch watch;
  unsigned started = 0;
  for (unsigned i = 0; i < threads; ++i) {
    Chain& c = chains[i];
    c.slots = slots.data() + i * slots_per_thread;
    c.index = i;
    c.rounds = share(rounds_per_generation, threads, i);
    c.generations = generations;
    ops += c.rounds * generations;
    pthread_t t{};
    int const err = pthread_create(&t, nullptr, generation, &c);
    if (err != 0) {
      fail("pthread_create: %s", std::strerror(err));
      break;
    }
    ++started;
  }
  {
    std::unique_lock lock(done.mutex);
    done.cv.wait(lock, [&] { return done.chains == started; });
  }
  for (unsigned i = 0; i < started; ++i)
    pthread_join(done.last[i], nullptr);
  double const seconds = watch.seconds();

  for (Slot& slot : slots) {
    check_stamp(slot.p, slot.size, key_of(slot.p), "larson (end)");
    checked_free(slot.p, main_tally);
  }
  main_tally.flush();
  return finish(info, args, ops, seconds);
}
