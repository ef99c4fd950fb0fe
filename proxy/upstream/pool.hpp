// Per-worker keep-alive connection pools to upstream endpoints. One Pool per worker thread: no
// locks; every method must be called on that worker's thread.
//
// Reuse key: the endpoint's stable key ("<pool>|<host:port>", and for a TLS pool a suffix naming
// the server name and the TLS settings, see snapshot::Endpoint::key), so a reload that keeps an
// upstream keeps its idle connections, and a TLS and a plain connection never mix.
#pragma once
#include "core/buffer.hpp"
#include "core/units.hpp"
#include "tls/client.hpp"
#include "tls/stream.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <atomic>
#include <span>
#include <chrono>
#include <optional>
#include <utility>
#include <cstdint>
#include <memory>
#include <string>
#include <tuple>
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

// A request/response exchange that is not a byte stream of its own: one stream of a multiplexed
// HTTP/2 upstream connection (server/h2_upstream.hpp). It speaks HTTP/1.1 framing to the exchange
// code, so a Connection backed by it is used like any other. Worker thread only.
class StreamTransport {
 public:
  using Result = std::tuple<boost::system::error_code, std::size_t>;
  virtual ~StreamTransport() = default;
  virtual boost::asio::awaitable<Result> read_some(boost::asio::mutable_buffer b) = 0;
  virtual boost::asio::awaitable<Result> write(std::span<const boost::asio::const_buffer> buffers) = 0;
  // A deadline passed: the read or write in progress ends with operation_aborted.
  virtual void cancel() = 0;
};

// One upstream connection (TCP, or TLS over TCP) and its input buffer (response heads are parsed
// in place). Owned by one worker; used by one exchange at a time.
//
// I/O goes through read_some/write, which take the TLS layer when there is one and the socket
// otherwise (one branch, no virtual call). Socket-level operations (cancel, shutdown, readiness
// and staleness checks) stay on `socket`.
struct Connection {
  Connection(boost::asio::ip::tcp::socket s, core::BlockPool* blocks) : socket(std::move(s)), input(blocks) {}
  boost::asio::ip::tcp::socket socket;
  // TLS pools: the context that made `tls` (kept alive for its session cache), then the stream
  // (declared after socket and context: destroyed before them).
  std::shared_ptr<const tls::ClientContext> tls_context;
  std::unique_ptr<tls::Stream> tls;
  CountedSlot counted;              // the pool's open-connection count, when it has max_connections
  Clock::time_point created{};      // connected at (max_connection_lifetime)
  core::FlatBuffer input;
  std::uint32_t requests = 0;       // requests sent on this connection so far
  Clock::time_point idle_since{};   // when it was last returned to the pool
  const std::string* key = nullptr; // pool key (points into the Pool's map; stable)
  bool reused = false;              // taken from the idle list (may be stale)
  // HTTP/2 pools: the stream this exchange runs on (the socket is then unused: the multiplexed
  // connection owns its own). Never pooled here; the stream ends with the exchange.
  std::unique_ptr<StreamTransport> stream;

  using Result = std::tuple<boost::system::error_code, std::size_t>;
  // Some bytes (at least one) into `b`, or an error (eof when the upstream closed).
  boost::asio::awaitable<Result> read_some(boost::asio::mutable_buffer b) {
    if (stream) co_return co_await stream->read_some(b);
    if (tls) co_return co_await tls->read_some(b);
    co_return co_await socket.async_read_some(b, boost::asio::as_tuple(boost::asio::use_awaitable));
  }
  // All of `buffers` (a ConstBufferSequence), or an error.
  template <class ConstBuffers>
  boost::asio::awaitable<Result> write(const ConstBuffers& buffers) {
    if (stream) {
      std::array<boost::asio::const_buffer, 8> small;
      std::vector<boost::asio::const_buffer> large;
      std::size_t n = 0;
      for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it) {
        if (n < small.size()) small[n] = boost::asio::const_buffer(*it);
        else {
          if (large.empty()) large.assign(small.begin(), small.end());
          large.push_back(boost::asio::const_buffer(*it));
        }
        ++n;
      }
      co_return co_await stream->write(large.empty() ? std::span<const boost::asio::const_buffer>(small.data(), n)
                                                     : std::span<const boost::asio::const_buffer>(large));
    }
    if (tls) co_return co_await tls->write(buffers);
    co_return co_await boost::asio::async_write(socket, buffers, boost::asio::as_tuple(boost::asio::use_awaitable));
  }
  // Nothing buffered above the socket (TLS: no ciphertext or plaintext held): the connection's
  // next bytes are still in the socket, so a peek there tells whether it is stale.
  bool quiet() const { return !tls || tls->idle(); }
  // A deadline passed: ends the I/O in progress.
  void cancel() {
    boost::system::error_code ec;
    socket.cancel(ec);
    if (stream) stream->cancel();
  }
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
