// Per-worker keep-alive connection pools to upstream endpoints. One Pool per worker thread: no
// locks; every method must be called on that worker's thread.
//
// Reuse key: the endpoint's stable key ("<pool>|<host:port>"), so a reload that keeps an upstream
// keeps its idle connections. Issues #5/#6 extend the key with TLS/SNI and protocol.
#pragma once
#include "core/buffer.hpp"
#include "core/units.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <chrono>
#include <optional>
#include <utility>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace rampart::upstream {

using Clock = std::chrono::steady_clock;

// A unit of a process-wide counter (circuit breaking: open connections), given back on destruction.
class CountedSlot {
 public:
  CountedSlot() = default;
  CountedSlot(std::shared_ptr<void> owner, std::atomic<std::int64_t>* counter) : owner_(std::move(owner)), counter_(counter) {}
  CountedSlot(CountedSlot&& o) noexcept : owner_(std::move(o.owner_)), counter_(std::exchange(o.counter_, nullptr)) {}
  CountedSlot& operator=(CountedSlot&& o) noexcept {
    release();
    owner_ = std::move(o.owner_);
    counter_ = std::exchange(o.counter_, nullptr);
    return *this;
  }
  ~CountedSlot() { release(); }
  void release() {
    if (counter_) counter_->fetch_sub(1, std::memory_order_relaxed);
    counter_ = nullptr;
    owner_.reset();
  }

 private:
  std::shared_ptr<void> owner_;  // keeps the counter alive
  std::atomic<std::int64_t>* counter_ = nullptr;
};

// One upstream TCP connection and its input buffer (response heads are parsed in place).
struct Connection {
  Connection(boost::asio::ip::tcp::socket s, core::BlockPool* blocks) : socket(std::move(s)), input(blocks) {}
  boost::asio::ip::tcp::socket socket;
  CountedSlot counted;              // the pool's open-connection count, when it has max_connections
  Clock::time_point created{};      // connected at (max_connection_lifetime)
  core::FlatBuffer input;
  std::uint32_t requests = 0;       // requests sent on this connection so far
  Clock::time_point idle_since{};   // when it was last returned to the pool
  const std::string* key = nullptr; // pool key (points into the Pool's map; stable)
  bool reused = false;              // taken from the idle list (may be stale)
};
using ConnectionPtr = std::unique_ptr<Connection>;

struct PoolLimits {
  std::uint32_t max_idle = 320;
  core::Duration idle_timeout = std::chrono::seconds(60);
  std::uint32_t max_requests = 10000;
  std::optional<core::Duration> max_lifetime;  // closed instead of pooled when older
};

class Pool {
 public:
  // Takes the most recently used idle connection for `key`, or nullptr. Connections idle past
  // their timeout are closed on the way.
  ConnectionPtr take(const std::string& key, Clock::time_point now);

  // Returns a connection after a complete exchange that left it reusable. Closes it instead when
  // it served max_requests, outlived max_lifetime, or when max_idle connections are already idle
  // for that key.
  void give_back(ConnectionPtr conn, const PoolLimits& limits, Clock::time_point now);

  // Registers `key` (so the connection can point at a stable string) and returns it.
  const std::string* intern(const std::string& key);

  // Closes idle connections older than their key's idle timeout. Called by the worker's ticker.
  void expire(Clock::time_point now);
  // Drops every idle connection whose key is not in `keep` (after a reload removed a pool).
  void retain(const std::vector<std::string>& keep);
  void clear();

  std::size_t idle_count() const;
  std::size_t idle_count(const std::string& key) const;

 private:
  struct Entry {
    std::vector<ConnectionPtr> idle;  // LIFO: back is the most recently used
    core::Duration idle_timeout = std::chrono::seconds(60);
  };
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace rampart::upstream
