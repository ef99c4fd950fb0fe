#include "server_context.hpp"

#include <algorithm>
#include <cstring>

namespace rampart::upstream {

server_context::server_context(std::string name, std::uint64_t body_size, std::size_t workers)
    : name_(std::move(name)),
      body_size_(body_size),
      first_slice_(new char[slice_bytes]),
      filler_(new char[slice_bytes]),
      worker_count_(workers),
      counters_(new worker_counters[workers]) {
  std::memset(filler_.get(), 'x', slice_bytes);
  std::memset(first_slice_.get(), 'x', slice_bytes);
  const std::string greeting = "hello from rampart-upstream " + name_ + "\n";
  std::memcpy(first_slice_.get(), greeting.data(), std::min(greeting.size(), slice_bytes));
}

boost::asio::const_buffer server_context::body_slice(std::uint64_t offset,
                                                     std::uint64_t len) const {
  const std::uint64_t in_slice = offset % slice_bytes;
  const std::uint64_t n = std::min<std::uint64_t>(len, slice_bytes - in_slice);
  const char* base = offset < slice_bytes ? first_slice_.get() : filler_.get();
  return boost::asio::const_buffer(base + in_slice, static_cast<std::size_t>(n));
}

std::uint64_t server_context::total_connections() const {
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < worker_count_; ++i)
    sum += counters_[i].connections.load(std::memory_order_relaxed);
  return sum;
}

std::uint64_t server_context::total_requests() const {
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < worker_count_; ++i)
    sum += counters_[i].requests.load(std::memory_order_relaxed);
  return sum;
}

void server_context::reset_counters() {
  for (std::size_t i = 0; i < worker_count_; ++i) {
    counters_[i].connections.store(0, std::memory_order_relaxed);
    counters_[i].requests.store(0, std::memory_order_relaxed);
  }
}

}  // namespace rampart::upstream
