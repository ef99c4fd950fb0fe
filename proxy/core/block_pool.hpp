// Recycled I/O buffer blocks, per worker: a connection borrows a block while it has bytes to hold
// and returns it when it goes idle, so the steady state allocates nothing and idle connections
// hold no buffer. Three size classes: 2 KiB (a typical request head), 16 KiB (large heads,
// response heads, small bodies) and 64 KiB (streaming large bodies). Not thread-safe: one pool
// per worker thread.
#pragma once
#include <cstddef>
#include <memory>
#include <vector>

namespace rampart::core {

class BlockPool {
 public:
  static constexpr std::size_t kTiny = 2 * 1024;
  static constexpr std::size_t kSmall = 16 * 1024;
  static constexpr std::size_t kLarge = 64 * 1024;

  // The size class that holds `n` bytes, or 0 when `n` is beyond the largest class.
  static std::size_t size_class(std::size_t n) noexcept {
    return n <= kTiny ? kTiny : n <= kSmall ? kSmall : n <= kLarge ? kLarge : 0;
  }

  // A block of exactly `size_class` bytes (one of the two classes).
  std::unique_ptr<char[]> take(std::size_t size_class) {
    auto& list = list_for(size_class);
    if (list.empty()) return std::make_unique_for_overwrite<char[]>(size_class);
    auto b = std::move(list.back());
    list.pop_back();
    return b;
  }
  // Returns a block taken from this pool; beyond the cap the block is freed.
  void give(std::unique_ptr<char[]> block, std::size_t size_class) {
    auto& list = list_for(size_class);
    const std::size_t cap = size_class == kTiny ? kMaxTiny : size_class == kSmall ? kMaxSmall : kMaxLarge;
    if (list.size() < cap) list.push_back(std::move(block));
  }

 private:
  std::vector<std::unique_ptr<char[]>>& list_for(std::size_t size_class) {
    return size_class == kTiny ? tiny_ : size_class == kSmall ? small_ : large_;
  }
  static constexpr std::size_t kMaxTiny = 128;   // 256 KiB
  static constexpr std::size_t kMaxSmall = 32;   // 512 KiB
  static constexpr std::size_t kMaxLarge = 8;    // 512 KiB
  std::vector<std::unique_ptr<char[]>> tiny_, small_, large_;
};

}  // namespace rampart::core
