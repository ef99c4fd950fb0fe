// HTTP/2 downstream: one H2Connection drives the h2 codec (proxy/h2) over a client connection
// that negotiated "h2" (ALPN) or started with the preface (h2c), and runs every stream through
// the same exchange code as HTTP/1.1 requests (one data path, two codecs).
//
// How a stream reaches the data path: each request stream gets its own Session (a "stream
// session") whose downstream is a StreamPipe instead of a socket. The pipe hands the session the
// request in HTTP/1.1 framing (the head, written from the validated HTTP/2 request; the body as
// DATA arrives, chunked when the request has no content-length) and turns the HTTP/1.1 response
// the session writes back into HEADERS and DATA frames for the stream. Routing, policies, upstream
// pools, retries, compression, limits, deadlines, metrics and the access log are therefore the
// ones HTTP/1.1 requests get.
//
// Flow control: request body bytes stay charged to the client's stream and connection windows
// until the stream session has read them from the pipe (then consume() reopens the windows), so
// the body buffered per stream is bounded by the stream window. Response bytes wait in the codec's
// per-stream queue; a stream session's write returns only once that queue is below
// max_queued_per_stream, which is what pauses its upstream reads.
//
// Threading and lifetime: everything here runs on the worker that accepted the connection. The
// H2Connection lives in its owner session's coroutine frame; pipes are shared between the
// connection and their stream session. When the connection ends it detaches every pipe: the
// stream sessions still running see a reset client and finish on their own.
#pragma once
#include "config/spec.hpp"
#include "h2/server.hpp"
#include "http/parser.hpp"
#include "server/wakeup.hpp"
#include "upstream/pool.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

namespace rampart::server {

class Session;
class H2Connection;

h2::Settings http2_settings(const config::Http2Spec& spec);

// The in-memory downstream of one HTTP/2 stream (see above).
class StreamPipe {
 public:
  using Result = std::tuple<boost::system::error_code, std::size_t>;

  // `chunked`: the request body has no length (it is re-chunked for the session); `ended`: the
  // request has no body at all; `head_request`: the response to a HEAD has no body.
  StreamPipe(H2Connection& conn, std::uint32_t id, bool chunked, bool ended, bool head_request,
             const boost::asio::any_io_executor& ex);
  // Makes a finished pipe (no session holds it any more) serve a new stream, keeping its buffers.
  void reopen(std::uint32_t id, bool chunked, bool ended, bool head_request);

  // ---- connection side (from codec callbacks)
  void on_data(std::string_view data);
  void on_end_stream();
  void on_close(std::uint32_t error_code);
  void on_writable() { notify(); }
  void detach();  // the connection is gone: every wait ends, later calls fail

  // ---- stream session side
  // Request bytes in HTTP/1.1 framing; eof once the body (and its last chunk) was read, an
  // error when the client reset the stream, operation_aborted when interrupt() ended the wait.
  boost::asio::awaitable<Result> read_some(boost::asio::mutable_buffer b);
  // Response bytes in HTTP/1.1 framing, parsed into frames for the stream (synchronously). False
  // when the stream is gone or the bytes are not a response the pipe can translate.
  bool feed(std::string_view bytes);
  // After feed(): wakes the connection's writer and waits while the stream's queue is full.
  boost::asio::awaitable<boost::system::error_code> drain();
  // A deadline passed: a wait in progress ends with operation_aborted.
  void interrupt();
  // The stream session is done: an unfinished response resets the stream (INTERNAL_ERROR); a
  // finished one with request body still coming asks the client to stop (NO_ERROR).
  void finish();

 private:
  enum class Out : std::uint8_t { head, length, chunked, until_close, done, failed };
  boost::asio::awaitable<bool> wait() { return wake_.wait(); }  // false when interrupted
  void notify() { wake_.notify(); }
  bool gone() const { return conn_ == nullptr || closed_; }
  bool read_own_head(std::string_view head);  // into resp_
  bool on_head(std::string_view head);        // a complete response head
  bool body(std::string_view bytes);
  bool submit_trailers();  // trailers_ as the stream's trailer block

  H2Connection* conn_;
  std::uint32_t id_;
  Wakeup wake_;
  bool closed_ = false;  // the stream closed (client reset, or both sides ended)

  // Request side.
  bool chunked_;
  bool ended_;            // END_STREAM seen (or no body)
  bool last_chunk_sent_ = false;
  std::string data_;      // DATA bytes not yet read by the session
  std::size_t data_off_ = 0;
  std::size_t chunk_left_ = 0;  // bytes of the chunk in progress still to copy from data_
  std::string frame_;           // framing bytes to hand out first (chunk size line, CRLF)
  std::size_t frame_off_ = 0;

  // Response side.
  bool head_request_;
  Out out_ = Out::head;
  std::string head_;  // response head bytes until the blank line
  std::uint64_t remaining_ = 0;
  http::ChunkedFeed chunks_;
  std::string trailers_;  // trailer fields of a chunked response, "name: value\r\n" each
  http::ResponseHead resp_;
};

class H2Connection final : public h2::ServerConnection::Handler {
 public:
  H2Connection(Session& owner, const h2::Settings& settings);
  ~H2Connection() override;
  H2Connection(const H2Connection&) = delete;
  H2Connection& operator=(const H2Connection&) = delete;

  // Serves the connection until it closes. `first`: bytes already read from the client (the
  // preface, for h2c).
  boost::asio::awaitable<void> run(std::string first);
  // From the owner's ticker: drain (GOAWAY once), idle timeout, stalled writes.
  void on_tick(upstream::Clock::time_point now);
  // The drain deadline passed: close now.
  void abort();

  h2::ServerConnection& codec() { return codec_; }
  // Frames may be pending: the writer looks again.
  void wake() { wake_.cancel(); }

 private:
  void on_request(h2::Request&& req) override;
  void on_data(std::uint32_t stream, std::string_view data) override;
  void on_end_stream(std::uint32_t stream) override;
  void on_stream_close(std::uint32_t stream, std::uint32_t error_code) override;
  void on_writable(std::uint32_t stream) override;
  boost::asio::awaitable<void> read_loop(std::string first);
  boost::asio::awaitable<void> write_loop();
  void stop();  // both loops end: the reader's pending read is cancelled
  void goaway_once();

  Session& owner_;
  h2::ServerConnection codec_;
  std::unordered_map<std::uint32_t, std::shared_ptr<StreamPipe>> streams_;
  std::vector<std::shared_ptr<StreamPipe>> spare_pipes_;  // finished pipes kept for new streams
  boost::asio::steady_timer wake_;
  std::string out_;
  std::string head_;  // scratch for a request head
  bool closing_ = false;
  bool goaway_sent_ = false;
  std::optional<upstream::Clock::time_point> idle_since_;   // no stream open since
  std::optional<upstream::Clock::time_point> write_since_;  // a write in progress since
};

}  // namespace rampart::server
