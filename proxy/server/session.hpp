// One downstream connection and the exchanges (request/response pairs) on it, in order.
// Owned by its coroutine (run_owned); lives and dies on the worker that accepted it.
#pragma once
#include "core/buffer.hpp"
#include "http/encoder.hpp"
#include "http/forward.hpp"
#include "http/message.hpp"
#include "http/parser.hpp"
#include "server/generation.hpp"
#include "server/scratch.hpp"
#include "tls/stream.hpp"
#include "upstream/pool.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <cstdint>
#include <span>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <tuple>

namespace rampart::policy {
class Compression;
}

namespace rampart::server {

class Worker;
class H2Connection;
class StreamPipe;

class Session {
 public:
  // What the connection is waiting for; decides which timeout applies and what its expiry means.
  enum class Phase : std::uint8_t {
    idle,             // keep-alive wait for the next request (keepalive_timeout): close quietly
    client_header,    // the whole request head (client_header_timeout from its first byte): 408
    client_body,      // request body progress (client_body_timeout per 8 KiB): 408
    upstream_connect, // connect_timeout: 502
    upstream_send,    // writing to the upstream (send_timeout): 502
    upstream_header,  // waiting for the response head (read_timeout): 504
    upstream_body,    // response body progress (read_timeout between reads): close
    client_write,     // writing to the client (send_timeout between writes): close
    tunnel,           // upgraded connection: no deadline (idle tunnels live until either side closes)
  };

  // `peer`: the client's address (from accept). `ssl` (owned by the session from here; null for
  // plain HTTP): a TLS listener's SSL for this connection; the session runs the handshake first.
  Session(Worker& worker, boost::asio::ip::tcp::socket socket, const boost::asio::ip::tcp::endpoint& peer,
          std::string listener, std::uint32_t listener_metrics, std::string scheme, SSL* ssl = nullptr);
  ~Session();
  // A stream session: serves one HTTP/2 stream of `parent`'s connection through `pipe`, starting
  // from `head` (the request head in HTTP/1.1 framing).
  Session(Session& parent, std::shared_ptr<StreamPipe> pipe, std::string_view head);

  // mTLS listeners: the header that carries the verified client certificate's subject upstream.
  void set_client_cert_header(std::string header) { client_cert_header_ = std::move(header); }
  // The session holds one of `ip`'s slots in the listener's per-IP limiter; released when it ends.
  void hold_connection_slot(std::shared_ptr<core::ConnectionLimiter> limiter, const core::IpAddress& ip) {
    slot_limiter_ = std::move(limiter);
    slot_ip_ = ip;
  }

  // The coroutine that owns the session for its whole life.
  static boost::asio::awaitable<void> run_owned(std::unique_ptr<Session> self);
  // The same for a stream session: its one exchange, then the stream is finished.
  static boost::asio::awaitable<void> run_stream(std::unique_ptr<Session> self);

  // Called by the worker's ticker: enforces the current phase's deadline by cancelling I/O.
  void on_tick(upstream::Clock::time_point now);
  // Called by the worker when draining starts and on every tick while it lasts: closes the
  // connection if it has been idle (between requests) for a moment.
  void on_drain(upstream::Clock::time_point now);
  // Called when the drain deadline passed: cancels all I/O, whatever the phase (tunnels too).
  void on_deadline_passed();

 private:
  friend class H2Connection;
  friend class StreamPipe;
  struct Exchange;
  // The connection turned out to speak HTTP/2 (ALPN h2, or the h2c preface): serve it so.
  boost::asio::awaitable<void> serve_h2();
  bool secure() const { return tls_ != nullptr || secure_stream_; }
  // Returns true when the connection was parked (idle, to be resumed by a readiness callback).
  boost::asio::awaitable<bool> run();
  boost::asio::awaitable<bool> read_request_head(http::ParseError& perr, bool& parked);
  boost::asio::awaitable<bool> handle(Exchange& ex);
  boost::asio::awaitable<bool> proxy(Exchange& ex);
  boost::asio::awaitable<bool> send_local(Exchange& ex, int status, std::string_view content_type,
                                          std::string_view body, std::string_view extra_headers, bool keep_alive);
  boost::asio::awaitable<bool> send_error(Exchange& ex, int status, std::string_view why);
  boost::asio::awaitable<bool> discard_request_body(Exchange& ex);
  boost::asio::awaitable<upstream::ConnectionPtr> connect(Exchange& ex, const boost::asio::ip::tcp::endpoint& to,
                                                          const std::string* key, int& failure_status,
                                                          core::Duration timeout);
  upstream::ConnectionPtr adopt_h2(Exchange& ex, upstream::ConnectionPtr conn);
  // TLS pools: the client handshake on `conn` just connected (inside connect's deadline).
  boost::asio::awaitable<boost::system::error_code> handshake_upstream(Exchange& ex, upstream::Connection& conn,
                                                                       const std::string* key);
  boost::asio::awaitable<int> begin_request_body(Exchange& ex, bool expect_continue);
  boost::asio::awaitable<int> read_request_body(Exchange& ex, std::size_t max);
  boost::asio::awaitable<int> buffer_request_body(Exchange& ex, bool expect_continue);
  boost::asio::awaitable<int> reserve_connection(const snapshot::UpstreamGroup& g, const std::string& key,
                                                 core::Duration wait, upstream::CountedSlot& slot,
                                                 upstream::ConnectionPtr& pooled);
  boost::asio::awaitable<bool> overflow(Exchange& ex, observe::WorkerMetrics::Overflow reason);
  std::uint64_t balance_hash(const config::HashKeySpec& key) const;
  std::optional<core::IpAddress> policy_client(const snapshot::Snapshot& snap) const;
  boost::asio::awaitable<int> send_request_body(Exchange& ex, upstream::Connection& up);
  boost::asio::awaitable<bool> write_response_bytes(Exchange& ex, std::span<const boost::asio::const_buffer> bufs);
  boost::asio::awaitable<std::size_t> read_upstream_body(Exchange& ex, upstream::Connection& up);
  http::Coding compression_for(Exchange& ex, const policy::Compression& comp, http::ResponseInfo& rinfo, int& level);
  boost::asio::awaitable<bool> stream_compressed_body(Exchange& ex, upstream::Connection& up, http::ResponseInfo& rinfo,
                                                      const http::HeaderEdits* edits, http::Coding coding, int level);
  boost::asio::awaitable<bool> stream_response_body(Exchange& ex, upstream::Connection& up,
                                                    const http::ResponseHead& resp, bool chunk_to_client);
  boost::asio::awaitable<void> tunnel(upstream::Connection& up);
  boost::asio::awaitable<std::size_t> read_client(std::size_t max);
  boost::asio::awaitable<bool> handshake();
  boost::asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> client_read_some(
      boost::asio::mutable_buffer b);
  template <class Buffers>
  boost::asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> client_write(const Buffers& b);

  void set_phase(Phase p, core::Duration timeout);
  // Copies the request fields the access log prints (the head bytes do not outlive the exchange).
  void keep_for_log(Exchange& ex);
  // Records the exchange in metrics and, when chosen, the access log. `parsed`: a head was parsed.
  void finish(Exchange& ex, bool parsed);
  bool timed_out() const { return has_expired_; }

  Worker& worker_;
  boost::asio::ip::tcp::socket client_;  // unopened for stream sessions
  std::shared_ptr<StreamPipe> pipe_;     // stream sessions: the HTTP/2 stream in place of the socket
  std::unique_ptr<H2Connection> h2_;     // while the connection speaks HTTP/2
  bool h2c_ = false;                     // plain listener accepting the HTTP/2 preface
  bool switch_h2_ = false;               // read_request_head found the preface
  bool secure_stream_ = false;           // stream session of a TLS connection
  std::unique_ptr<tls::Stream> tls_;  // TLS listeners only
  std::string client_cert_header_;     // mTLS: header for the subject (empty: none)
  std::string client_subject_;         // mTLS: verified client certificate subject, after the handshake
  std::string listener_;
  std::uint32_t listener_metrics_ = 0;
  std::string scheme_;
  std::string client_ip_;
  std::uint16_t client_port_ = 0;
  std::optional<core::IpAddress> client_addr_;  // the peer, parsed once
  std::shared_ptr<core::ConnectionLimiter> slot_limiter_;  // set when the listener limits connections per IP
  // TLS: the generation whose ServerContext made this connection's SSL, held until the handshake
  // ends (the SNI and certificate callbacks point into it; a reload must not free it meanwhile).
  GenerationRef handshake_gen_;
  core::IpAddress slot_ip_;
  bool client_trusted_ = false;
  core::FlatBuffer in_;
  std::unique_ptr<ExchangeScratch> sc_;  // borrowed from the worker while an exchange runs
  std::uint32_t served_ = 0;
  http::BodyKind req_body_kind_ = http::BodyKind::none;  // framing of the request being proxied
  std::uint64_t req_content_length_ = 0;
  upstream::Connection* upstream_ = nullptr;  // the connection in use, for deadline cancellation

  Phase phase_ = Phase::idle;
  upstream::Clock::time_point idle_since_{};  // start of the current keep-alive wait
  bool parked_ = false;                       // the ticker cancelled the idle read to free the buffer
  upstream::Clock::time_point deadline_{};
  Phase expired_ = Phase::tunnel;  // the phase whose deadline passed (tunnel = none)
  bool has_expired_ = false;
  std::list<Session*>::iterator registration_;
};

}  // namespace rampart::server
