// Prebuilt bytes of the plain response (200, filler body, keep-alive HTTP/1.1) per body size.
// One cache per worker: used by that worker's thread only, so it needs no locking.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

#include "server_context.hpp"

namespace rampart::upstream {

class response_cache {
 public:
  // Bodies up to this size are cached (larger ones are sent zero-copy from the filler instead).
  static constexpr std::uint64_t max_cached_size = 16 * 1024;
  // Distinct sizes kept; further sizes are served without caching.
  static constexpr std::size_t max_entries = 256;

  explicit response_cache(const server_context& ctx);

  // The complete response for a filler body of `size` bytes, or nullptr if it is not cacheable.
  // The pointer stays valid for the lifetime of the cache.
  const std::string* find(std::uint64_t size);

 private:
  std::string build(std::uint64_t size) const;

  const server_context& ctx_;
  std::uint64_t default_size_;
  std::string default_response_;
  std::unordered_map<std::uint64_t, std::string> by_size_;
};

}  // namespace rampart::upstream
