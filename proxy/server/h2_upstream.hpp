// HTTP/2 upstream pools (`protocol: h2`, for gRPC backends): each worker keeps a few multiplexed
// HTTP/2 connections per endpoint and runs every request to such a pool as one stream on them.
//
// The exchange code does not change: a stream is handed to it as an upstream::Connection whose
// StreamTransport speaks HTTP/1.1 framing. The request the session writes (its head, then the body
// in content-length or chunked framing) becomes HEADERS and DATA; the response comes back as an
// HTTP/1.1 head, a body (chunked unless the upstream gave a content-length) and, after the last
// chunk, the trailer fields (grpc-status, grpc-message) — which the session relays to its client.
//
// Flow control: response DATA stays charged to the stream's window until the session has read it
// (so a slow client holds at most one window per stream); request bytes wait in the codec's queue
// and a write returns only once the queue is below its mark.
//
// Threading and lifetime: worker thread only. A connection is owned by the pool (and by its own
// read/write coroutines while they run); a stream is owned by its exchange and holds a plain
// pointer to its connection, cleared when the connection closes.
#pragma once
#include "h2/client.hpp"
#include "http/parser.hpp"
#include "server/wakeup.hpp"
#include "upstream/pool.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace rampart::server {

class UpstreamH2Connection;

class UpstreamH2Stream final : public upstream::StreamTransport {
 public:
  UpstreamH2Stream(std::shared_ptr<UpstreamH2Connection> conn, boost::asio::io_context& ioc);
  ~UpstreamH2Stream() override;

  boost::asio::awaitable<Result> read_some(boost::asio::mutable_buffer b) override;
  boost::asio::awaitable<Result> write(std::span<const boost::asio::const_buffer> buffers) override;
  void cancel() override;

  // ---- connection side (from codec callbacks)
  void on_informational(int status, std::span<const http::Header> headers);
  void on_response(int status, std::span<const http::Header> headers);
  void on_data(std::string_view data);
  void on_trailers(std::span<const http::Header> trailers);
  void on_end_stream();
  void on_close(std::uint32_t error_code);
  void on_writable() { notify(); }
  void detach();  // the connection closed

 private:
  bool submit_head(std::string_view head);  // the session's request head: HEADERS
  void render_head(bool ended_empty);       // the kept response head into out_
  bool body(std::string_view bytes);        // request body bytes in the head's framing: DATA
  boost::asio::awaitable<bool> wait() { return wake_.wait(); }  // false when cancelled
  void notify() { wake_.notify(); }
  bool gone() const;

  // Kept alive by its streams (the pool drops a closed connection; a stream may outlive that).
  std::shared_ptr<UpstreamH2Connection> conn_;
  std::uint32_t id_ = 0;  // 0 until the head was submitted
  bool reserved_ = true;  // holds one of the connection's reserved streams (until submit)
  Wakeup wake_;
  bool closed_ = false;
  std::uint32_t close_error_ = 0;

  // Request side.
  std::string head_;  // request head bytes until the blank line
  http::RequestHead req_;
  enum class In : std::uint8_t { head, length, chunked, done } in_ = In::head;
  std::uint64_t remaining_ = 0;
  http::ChunkedFeed chunks_;

  // Response side: HTTP/1.1 bytes for the session, and how many DATA bytes they hold that were
  // not consumed yet.
  std::string out_;
  std::size_t out_off_ = 0;
  std::size_t unconsumed_ = 0;
  bool chunked_out_ = false;   // the body goes out chunked (no content-length from the upstream)
  bool response_done_ = false; // the whole response is in out_
  bool got_head_ = false;
  bool trailers_out_ = false;  // the trailer section (with the last chunk) is in out_
  // The final head, kept until it is rendered into out_ (see on_response).
  bool head_pending_ = false;
  int head_status_ = 0;
  std::string head_fields_;  // "name: value\r\n" lines
  bool has_length_ = false;
};

class UpstreamH2Connection final : public h2::ClientConnection::Handler,
                                   public std::enable_shared_from_this<UpstreamH2Connection> {
 public:
  // `conn`: connected (TLS done, ALPN h2 when TLS). `max_streams`: our own cap per connection;
  // `idle_timeout`: closed after this long without a stream.
  UpstreamH2Connection(boost::asio::io_context& ioc, upstream::ConnectionPtr conn, bool tls, std::uint32_t max_streams,
                       core::Duration idle_timeout);
  ~UpstreamH2Connection() override;

  // Starts the read and write loops (they hold the connection alive until it closes).
  void start();
  // Room for one more stream (counting streams handed out but not yet submitted).
  bool has_room() const;
  bool closed() const { return closed_; }
  std::size_t active() const { return streams_.size() + reserved_; }
  // A new stream; the caller checked has_room().
  std::unique_ptr<UpstreamH2Stream> open_stream();
  boost::asio::io_context& context() { return ioc_; }
  // Idle (no stream) since; the pool closes connections idle past the pool's idle timeout.
  upstream::Clock::time_point idle_since() const { return idle_since_; }
  core::Duration idle_timeout() const { return idle_timeout_; }
  void close();  // GOAWAY and close now (streams still open are reset)

  // ---- for streams
  h2::ClientConnection& codec() { return codec_; }
  bool tls() const { return tls_; }
  void wake() { wake_.cancel(); }
  std::optional<std::uint32_t> submit(UpstreamH2Stream* s, const http::RequestHead& req, bool end_stream);
  void forget(std::uint32_t id, UpstreamH2Stream* s);  // the stream's exchange is over
  void unreserve() { --reserved_; }

 private:
  void on_informational(std::uint32_t stream, int status, std::span<const http::Header> headers) override;
  void on_response(std::uint32_t stream, int status, std::span<const http::Header> headers) override;
  void on_data(std::uint32_t stream, std::string_view data) override;
  void on_trailers(std::uint32_t stream, std::span<const http::Header> trailers) override;
  void on_end_stream(std::uint32_t stream) override;
  void on_stream_close(std::uint32_t stream, std::uint32_t error_code) override;
  void on_writable(std::uint32_t stream) override;
  boost::asio::awaitable<void> read_loop();
  boost::asio::awaitable<void> write_loop();
  void stop();
  UpstreamH2Stream* find(std::uint32_t id) const;

  boost::asio::io_context& ioc_;
  upstream::ConnectionPtr conn_;
  bool tls_;
  std::uint32_t max_streams_;
  core::Duration idle_timeout_;
  h2::ClientConnection codec_;
  std::unordered_map<std::uint32_t, UpstreamH2Stream*> streams_;
  std::size_t reserved_ = 0;  // streams handed out, head not submitted yet
  boost::asio::steady_timer wake_;
  std::string out_;
  std::vector<http::Header> fields_;  // scratch for a request's fields
  bool closed_ = false;
  bool reading_ = false, writing_ = false;
  upstream::Clock::time_point idle_since_;
};

// One worker's HTTP/2 upstream connections, by endpoint key.
class UpstreamH2Pool {
 public:
  explicit UpstreamH2Pool(boost::asio::io_context& ioc) : ioc_(ioc) {}
  ~UpstreamH2Pool();
  // A stream on a live connection to `key` with room, or nullptr (then connect and adopt()).
  upstream::ConnectionPtr open_stream(const std::string& key, core::BlockPool* blocks);
  // Makes a fresh connection (TLS done) an HTTP/2 connection for `key` and returns a stream on it.
  upstream::ConnectionPtr adopt(upstream::ConnectionPtr conn, const std::string& key, bool tls,
                                std::uint32_t max_streams, core::Duration idle_timeout, core::BlockPool* blocks);
  // Connecting: an exchange that found no room connects, and tells the pool first (until
  // `deadline` at most), so that exchanges arriving meanwhile wait for that connection (up to the
  // streams it will carry) instead of each opening its own. The guard ends it on every path.
  class Connecting {
   public:
    Connecting() = default;
    Connecting(UpstreamH2Pool* pool, std::string key) : pool_(pool), key_(std::move(key)) {}
    Connecting(Connecting&& o) noexcept : pool_(std::exchange(o.pool_, nullptr)), key_(std::move(o.key_)) {}
    Connecting& operator=(Connecting&& o) noexcept {
      if (this != &o) {
        end();
        pool_ = std::exchange(o.pool_, nullptr);
        key_ = std::move(o.key_);
      }
      return *this;
    }
    ~Connecting() { end(); }
    void end() {
      if (pool_) pool_->end_connecting(key_);
      pool_ = nullptr;
    }

   private:
    UpstreamH2Pool* pool_ = nullptr;
    std::string key_;
  };
  Connecting begin_connecting(const std::string& key, std::uint32_t streams, upstream::Clock::time_point deadline);
  // True when a connection to `key` is being made and has room for one more waiting exchange
  // (which then counts as waiting: call wait_connecting next).
  bool join_connecting(const std::string& key);
  // Waits until that connection is up or failed (then try open_stream again).
  boost::asio::awaitable<void> wait_connecting(const std::string& key);
  // Ticker: closes connections idle past their idle timeout, and all idle ones while draining.
  void expire(upstream::Clock::time_point now, bool draining);
  void clear();
  std::size_t connection_count() const;

 private:
  upstream::ConnectionPtr wrap(std::unique_ptr<UpstreamH2Stream> s, bool reused, core::BlockPool* blocks);
  void end_connecting(const std::string& key);
  struct Pending {
    explicit Pending(boost::asio::io_context& ioc) : done(ioc) {}
    boost::asio::steady_timer done;  // expires at the connect deadline; cancelled when it ends
    std::uint32_t room = 0;          // exchanges that may still wait for it
  };
  boost::asio::io_context& ioc_;
  std::unordered_map<std::string, std::shared_ptr<Pending>> connecting_;
  std::unordered_map<std::string, std::vector<std::shared_ptr<UpstreamH2Connection>>> by_key_;
};

}  // namespace rampart::server
