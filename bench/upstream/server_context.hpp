// What every worker of rampart-upstream shares: the name, the body filler and the counters.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/buffer.hpp>

namespace rampart::upstream {

// Bodies are sent in slices of at most this many bytes.
inline constexpr std::size_t slice_bytes = 64 * 1024;

// Counters of one worker, on their own cache line. Written by that worker (relaxed increments)
// and read or zeroed by any worker serving /stats or /reset-stats.
struct alignas(64) worker_counters {
  std::atomic<std::uint64_t> connections{0};
  std::atomic<std::uint64_t> requests{0};
};

// Built once before the workers start; afterwards only the counters change.
class server_context {
 public:
  server_context(std::string name, std::uint64_t body_size, std::size_t workers);

  const std::string& name() const { return name_; }
  std::uint64_t body_size() const { return body_size_; }

  // The default body is "hello from rampart-upstream NAME\n" followed by 'x' filler, cut to the
  // requested size. Returns the bytes at [offset, offset + min(len, slice_bytes)) of that
  // (infinitely long) body, never more than slice_bytes and never crossing a slice boundary.
  boost::asio::const_buffer body_slice(std::uint64_t offset, std::uint64_t len) const;

  worker_counters& counters(std::size_t worker) { return counters_[worker]; }
  std::uint64_t total_connections() const;
  std::uint64_t total_requests() const;
  void reset_counters();

 private:
  std::string name_;
  std::uint64_t body_size_;
  std::unique_ptr<char[]> first_slice_;  // greeting + filler, slice_bytes long
  std::unique_ptr<char[]> filler_;       // slice_bytes of 'x'
  std::size_t worker_count_;
  std::unique_ptr<worker_counters[]> counters_;
};

}  // namespace rampart::upstream
