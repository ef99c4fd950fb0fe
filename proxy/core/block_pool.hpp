// Recycled I/O buffer blocks, per worker: a connection borrows a block while it has bytes to hold
// and returns it when it goes idle, so the steady state allocates nothing and idle connections
// hold no buffer. Two size classes: 16 KiB (request/response heads, small bodies) and 64 KiB
// (streaming large bodies). Not thread-safe: one pool per worker thread.
#pragma once
#include <cstddef>
#include <memory>
#include <vector>

namespace rampart::core {

class BlockPool {
 public:
  static constexpr std::size_t kSmall = 16 * 1024;
  static constexpr std::size_t kLarge = 64 * 1024;

  // The size class that holds `n` bytes, or 0 when `n` is beyond the largest class.
  static std::size_t size_class(std::size_t n) noexcept { return n <= kSmall ? kSmall : n <= kLarge ? kLarge : 0; }

  // A block of exactly `size_class` bytes (one of the two classes).
  std::unique_ptr<char[]> take(std::size_t size_class) {
    auto& list = size_class == kSmall ? small_ : large_;
    if (list.empty()) return std::make_unique_for_overwrite<char[]>(size_class);
    auto b = std::move(list.back());
    list.pop_back();
    return b;
  }
  // Returns a block taken from this pool; beyond the cap the block is freed.
  void give(std::unique_ptr<char[]> block, std::size_t size_class) {
    auto& list = size_class == kSmall ? small_ : large_;
    if (list.size() < (size_class == kSmall ? kMaxSmall : kMaxLarge)) list.push_back(std::move(block));
  }

 private:
  static constexpr std::size_t kMaxSmall = 256;  // 4 MiB
  static constexpr std::size_t kMaxLarge = 32;   // 2 MiB
  std::vector<std::unique_ptr<char[]>> small_, large_;
};

}  // namespace rampart::core
