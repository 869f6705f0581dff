// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// Blocks that cross threads. One Arenas is shared; every thread has its own Context and Heap.
// Producers allocate blocks of many sizes, fill them and hand them to consumers, which check
// the contents and free them: through their own Heap (a cross-thread free onto the owner's
// page) or, for every third block, through the Arenas without any Heap. Producers usually exit
// while consumers still hold their blocks, so those frees land in abandoned segments.
// Returns nonzero if any block arrives damaged or goes missing.
//
//   threads [threads] [blocks]   (default 4 threads, 10000 blocks per producer)
#include <ferroc/ferroc.hpp>

#include <atomic>
#include <charconv>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Base = ferroc::OsAlloc;

struct Message {
  void* block;
  std::size_t size;
};

// A consumer's inbox. The mailbox itself uses the standard allocator; only the blocks that
// travel through it come from ferroc.
class Inbox {
public:
  void push(std::vector<Message>& batch) {
    {
      std::lock_guard lock(mutex_);
      messages_.insert(messages_.end(), batch.begin(), batch.end());
    }
    batch.clear();
    ready_.notify_one();
  }

  void close() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    ready_.notify_all();
  }

  // Swaps the pending messages into `out`; false once closed and drained.
  bool pop_all(std::vector<Message>& out) {
    std::unique_lock lock(mutex_);
    ready_.wait(lock, [this] { return !messages_.empty() || closed_; });
    out.swap(messages_);
    messages_.clear();
    return !out.empty();
  }

private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::vector<Message> messages_;
  bool closed_ = false;
};

// Sizes from 8 B to ~300 KiB: mostly small, some medium, a few large blocks.
std::size_t size_of(std::size_t producer, std::size_t i) {
  const std::size_t r = (i * 2654435761U + producer * 40503U) >> 4;
  if (i % 997 == 0) {
    return 100'000 + r % 200'000;
  }
  if (i % 61 == 0) {
    return 8'192 + r % 40'000;
  }
  return 8 + r % 1'000;
}

// Each block starts with its origin; every following byte derives from it.
struct Header {
  std::uint32_t producer;
  std::uint32_t index;
};

std::uint8_t byte_at(const Header& h, std::size_t offset) {
  return static_cast<std::uint8_t>(h.producer * 131 + h.index * 7 + offset);
}

void fill(void* block, std::size_t size, std::uint32_t producer, std::uint32_t index) {
  auto* bytes = static_cast<std::uint8_t*>(block);
  if (size < sizeof(Header)) {
    bytes[0] = static_cast<std::uint8_t>(index);
    return;
  }
  const Header h{producer, index};
  std::memcpy(bytes, &h, sizeof h);
  for (std::size_t i = sizeof h; i < size; ++i) {
    bytes[i] = byte_at(h, i);
  }
}

bool intact(const void* block, std::size_t size) {
  const auto* bytes = static_cast<const std::uint8_t*>(block);
  if (size < sizeof(Header)) {
    return true;
  }
  Header h{};
  std::memcpy(&h, bytes, sizeof h);
  for (std::size_t i = sizeof h; i < size; ++i) {
    if (bytes[i] != byte_at(h, i)) {
      return false;
    }
  }
  return true;
}

bool parse(const char* text, std::size_t& out) {
  const std::string_view s(text);
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && end == s.data() + s.size();
}

} // namespace

int main(int argc, char** argv) {
  std::size_t threads = 4;
  std::size_t blocks = 10'000;
  if ((argc > 1 && !parse(argv[1], threads)) || (argc > 2 && !parse(argv[2], blocks)) ||
      threads < 2 || threads > 256 || blocks > 100'000'000) {
    std::fprintf(stderr, "usage: threads [threads: 2..256] [blocks per producer]\n");
    return 2;
  }
  const std::size_t producers = threads / 2;
  const std::size_t consumers = threads - producers;

  ferroc::Arenas arenas{Base{}}; // shared by every thread
  std::vector<Inbox> inboxes(consumers);
  std::atomic<std::size_t> received{0};
  std::atomic<std::size_t> damaged{0};
  std::atomic<std::size_t> kept_local{0};

  auto produce = [&](std::size_t id) {
    ferroc::Context cx{arenas};
    ferroc::Heap heap{cx};
    constexpr std::size_t batch_len = 64;
    std::vector<std::vector<Message>> outgoing(consumers);
    for (std::size_t i = 0; i < blocks; ++i) {
      const std::size_t size = size_of(id, i);
      void* block = heap.try_allocate(size);
      if (block == nullptr) {
        damaged.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      fill(block, size, static_cast<std::uint32_t>(id), static_cast<std::uint32_t>(i));
      if (i % 5 == 4) {
        // Some blocks never leave: checked and freed by their owner.
        if (!intact(block, size)) {
          damaged.fetch_add(1, std::memory_order_relaxed);
        }
        heap.deallocate(block);
        kept_local.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      auto& batch = outgoing[i % consumers];
      batch.push_back({block, size});
      if (batch.size() == batch_len) {
        inboxes[i % consumers].push(batch);
      }
    }
    for (std::size_t c = 0; c < consumers; ++c) {
      inboxes[c].push(outgoing[c]);
    }
    // The heap goes away here, most likely while consumers still hold its blocks.
  };

  auto consume = [&](std::size_t id) {
    ferroc::Context cx{arenas};
    ferroc::Heap heap{cx};
    std::vector<Message> work;
    std::size_t n = 0;
    while (inboxes[id].pop_all(work)) {
      for (const Message& m : work) {
        if (!intact(m.block, m.size) || heap.usable_size(m.block) < m.size) {
          damaged.fetch_add(1, std::memory_order_relaxed);
        }
        if (++n % 3 == 0) {
          arenas.deallocate(m.block); // no Heap involved
        } else {
          heap.deallocate(m.block);
        }
      }
      received.fetch_add(work.size(), std::memory_order_relaxed);
      work.clear();
    }
  };

  {
    std::vector<std::thread> consumer_threads;
    for (std::size_t c = 0; c < consumers; ++c) {
      consumer_threads.emplace_back(consume, c);
    }
    std::vector<std::thread> producer_threads;
    for (std::size_t p = 0; p < producers; ++p) {
      producer_threads.emplace_back(produce, p);
    }
    for (auto& t : producer_threads) {
      t.join();
    }
    for (auto& inbox : inboxes) {
      inbox.close();
    }
    for (auto& t : consumer_threads) {
      t.join();
    }
  }

  // A fresh heap takes over whatever the exited threads left behind.
  {
    ferroc::Context cx{arenas};
    ferroc::Heap heap{cx};
    heap.collect(/*force=*/true);
  }

  const std::size_t total = producers * blocks;
  const std::size_t accounted = received.load() + kept_local.load();
  std::printf("threads: %zu producers -> %zu consumers, %zu blocks passed, %zu kept local; "
              "segments in use after: %zu (%zu abandoned)\n",
              producers, consumers, received.load(), kept_local.load(), arenas.segments_in_use(),
              arenas.abandoned_segments());
  if (damaged.load() != 0 || accounted != total) {
    std::fprintf(stderr, "threads: FAILED: %zu damaged or failed blocks, %zu of %zu accounted\n",
                 damaged.load(), accounted, total);
    return 1;
  }
  return 0;
}
