// The HTTP/2 server side of one downstream connection, sans I/O: bytes in (receive), frames out
// (produce), requests and request bodies reported to a Handler, responses submitted by the owner.
// Built on nghttp2 (its framing, HPACK, stream states and flow-control bookkeeping) plus what this
// codec adds: strict request validation (h2/validate.hpp), application-driven flow control, and
// per-connection abuse bounds (rapid reset, stream rate, CONTINUATION and control-frame floods).
//
// Threading and ownership: one ServerConnection per connection, used from the one thread that owns
// the connection. Not copyable or movable (nghttp2 holds a pointer to it). Handler callbacks run
// synchronously inside receive() and produce(); from a callback the handler may call the submit_*,
// reset, consume, queued and goaway members, never receive() or produce().
//
// Flow control (what bounds memory): automatic WINDOW_UPDATE is off. Request body bytes handed to
// on_data stay charged against the stream window (initial_window_size) and the connection window
// (connection_window_size) until the owner calls consume() for them, so a client can never make
// the owner hold more than those windows of unforwarded body. Response bodies are copied into a
// per-stream queue and leave it only as the client's windows allow; the owner keeps each queue
// below max_queued_per_stream by pausing its upstream reads (queued(), on_writable()).
//
// Abuse bounds (fixed windows of Settings::window, counted per connection from the `now` passed
// to receive()): exceeding one queues GOAWAY(ENHANCE_YOUR_CALM), receive() returns false, abuse()
// says which, and done() turns true once the GOAWAY is produced. See Settings for each bound.
#pragma once
#include "h2/validate.hpp"
#include "http/message.hpp"

#include <nghttp2/nghttp2.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rampart::h2 {

// The client connection preface (RFC 9113 §3.4); over cleartext it is also how an HTTP/2
// prior-knowledge client is told apart from HTTP/1.1.
inline constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

enum class Detect : std::uint8_t { need_more, h2, http1 };
// Looks at the first bytes of a cleartext connection: h2 when they start with the preface, http1
// as soon as they cannot, need_more while they are a proper prefix of it.
Detect detect_preface(std::string_view first_bytes) noexcept;

// RFC 9113 error codes the owner uses with reset() and sees in on_stream_close().
namespace error {
inline constexpr std::uint32_t no_error = 0x0, protocol_error = 0x1, internal_error = 0x2, flow_control_error = 0x3,
                               stream_closed = 0x5, refused_stream = 0x7, cancel = 0x8, enhance_your_calm = 0xb;
}

struct Settings {
  std::uint32_t max_concurrent_streams = 128;
  std::uint32_t initial_window_size = 256 * 1024;      // per stream: request body bytes held before consume()
  std::uint32_t connection_window_size = 1024 * 1024;  // all streams together (both capped at 2^31-1)
  // SETTINGS_MAX_HEADER_LIST_SIZE, enforced: a request head whose decoded size (RFC 9113 §6.5.2)
  // is larger gets a 431 response from the codec (the handler never sees it); a header block
  // whose encoded size exceeds this plus one maximum frame (16 KiB) closes the connection
  // (Abuse::header_list_too_large). Larger trailers reset the stream with ENHANCE_YOUR_CALM.
  std::uint32_t max_header_list_size = 64 * 1024;
  std::uint32_t header_table_size = 4096;  // HPACK decoder table we allow the client to use
  // Abuse bounds, per connection and window:
  std::uint32_t max_resets_per_window = 200;    // client RST_STREAM, plus streams refused or reset as malformed
  std::uint32_t max_streams_per_window = 2000;  // new streams
  std::chrono::milliseconds window{1000};
  std::uint32_t max_continuations = 32;  // CONTINUATION frames in one header block (not per window)
  // PING, SETTINGS, PRIORITY, empty DATA without END_STREAM; WINDOW_UPDATE
  // beyond two per DATA frame we sent in the window (a client acknowledging data sends at most a
  // stream and a connection update per frame). Unknown frame types are skipped by nghttp2 without
  // a callback; they cost what any input byte costs.
  std::uint32_t max_control_frames_per_window = 1000;
  // Advice to the owner, not enforced by submit_data(): pause upstream reads for a stream while
  // queued(stream) is at or above this; on_writable() says when it dropped below again.
  std::size_t max_queued_per_stream = 256 * 1024;
};

enum class Abuse : std::uint8_t {
  none,
  rapid_reset,            // resets over max_resets_per_window
  stream_rate,            // new streams over max_streams_per_window
  continuation_flood,     // CONTINUATION frames over max_continuations
  header_list_too_large,  // one header block's encoded bytes over the bound (see Settings)
  control_flood,          // control frames over max_control_frames_per_window (or nghttp2's ACK queue bound)
  protocol_error,         // a connection error found by nghttp2 (bad preface, bad frame, HPACK error, ...)
};
const char* to_string(Abuse a) noexcept;

class ServerConnection {
 public:
  struct Handler {
    virtual ~Handler() = default;
    // A new, validated request. Streams the codec rejects (malformed, CONNECT, too large, refused)
    // never reach the handler.
    virtual void on_request(Request&& req) = 0;
    // Request body bytes (a view valid during the call only). They count against the windows
    // until consume() is called for them.
    virtual void on_data(std::uint32_t stream, std::string_view data) = 0;
    // The request body ended (after a request with end_stream false; content-length checked).
    virtual void on_end_stream(std::uint32_t stream) = 0;
    // The stream is gone: completed (error_code no_error) or reset by either side. Called exactly
    // once for every stream passed to on_request, except for streams still open when the
    // ServerConnection is destroyed. After it, calls naming the stream are ignored.
    virtual void on_stream_close(std::uint32_t stream, std::uint32_t error_code) = 0;
    // From produce(): queued(stream) fell below max_queued_per_stream after having reached it.
    virtual void on_writable(std::uint32_t stream) {}
  };

  // Queues the server SETTINGS (and the connection window update): call produce() right away.
  // `handler` must outlive the connection.
  ServerConnection(const Settings& s, Handler& handler);
  ~ServerConnection();
  ServerConnection(const ServerConnection&) = delete;
  ServerConnection& operator=(const ServerConnection&) = delete;

  // Feeds bytes from the client (the preface first). Returns false when the connection must be
  // closed after flushing what produce() still yields: a connection error, an abuse bound, or a
  // GOAWAY exchange that is complete. `now` drives the abuse windows.
  bool receive(std::string_view in, std::chrono::steady_clock::time_point now);
  // Appends pending frames to `out`, stopping once about `max` bytes were appended (a frame is
  // never split); returns the bytes appended, 0 when nothing is pending or allowed by the
  // client's windows. Call after receive() and after submitting anything, until it returns 0.
  std::size_t produce(std::string& out, std::size_t max = 64 * 1024);
  bool want_write() const;
  // Nothing more will be read or written: close the connection (after writing what was produced).
  bool done() const;
  Abuse abuse() const { return abuse_; }

  // Responses, from on_request until on_stream_close for that stream. Each returns false when the
  // stream is unknown or closed, or the call is out of order (nothing is sent then).
  // `headers`: names in any case (sent lower-cased), values as given; hop-by-hop fields and
  // fields named in Connection are dropped. A status 100..199 other than 101 sends an interim
  // response (call again for the final one).
  bool submit_response(std::uint32_t stream, int status, std::span<const http::Header> headers, bool end_stream);
  // After a final response with end_stream false: `data` is copied into the stream's queue.
  bool submit_data(std::uint32_t stream, std::string_view data, bool end_stream);
  // Ends the response with a trailer section, after the queued data (no pseudo-headers).
  bool submit_trailers(std::uint32_t stream, std::span<const http::Header> trailers);
  // Response bytes in the stream's queue, waiting for the client's window (0 for unknown streams).
  std::size_t queued(std::uint32_t stream) const;
  // Resets the stream (RST_STREAM error_code); on_stream_close follows from produce().
  void reset(std::uint32_t stream, std::uint32_t error_code);
  // The response (submitted, possibly still queued) is all the owner will do with the stream: if
  // the request body has not ended by the time the response's END_STREAM is sent, the stream is
  // reset with NO_ERROR then (RFC 9113 8.1: the client stops sending; the response stays whole).
  void reset_after_response(std::uint32_t stream);
  // `n` request body bytes of the stream were forwarded: reopen the windows by that much. Ignored
  // after on_stream_close (the codec returned what was outstanding to the connection window).
  void consume(std::uint32_t stream, std::size_t n);
  // graceful: GOAWAY(last stream id processed, NO_ERROR); open streams finish, newer ones are
  // refused (the client may retry them). Otherwise GOAWAY and close at once (streams abandoned).
  void goaway(bool graceful);

  std::size_t open_streams() const { return open_; }

 private:
  struct Stream;
  friend struct Callbacks;

  Stream* find(std::uint32_t id) const;
  Stream* acquire(std::uint32_t id);
  void release(Stream* s);
  void roll_window();
  int flag(Abuse a);
  void count_reset();
  void reject(Stream& s, std::uint32_t error_code);
  void end_request(Stream& s);
  // Fills nva_ (status first unless 0) from `headers`: names lower-cased into nv_names_, values
  // pointing at the caller's bytes (nghttp2 copies both on submit).
  void build_nva(int status, std::span<const http::Header> headers);
  void resume(Stream& s);

  // nghttp2 callbacks (static trampolines in the .cpp call these).
  int on_begin_frame(std::uint8_t type, std::uint8_t flags, std::int32_t stream, std::size_t length);
  int on_begin_headers(std::int32_t stream, int category);
  int on_header(std::int32_t stream, int category, std::string_view name, std::string_view value);
  int on_frame_recv(std::uint8_t type, std::uint8_t flags, std::int32_t stream, int category);
  int on_data_chunk(std::int32_t stream, std::string_view data);
  int on_stream_closed(std::int32_t stream, std::uint32_t error_code);
  int on_frame_sent(std::uint8_t type, std::uint8_t flags, std::int32_t stream, std::uint32_t error_code);
  long read_data(std::int32_t stream, std::size_t length, std::uint32_t* flags);
  int send_data(const std::uint8_t* framehd, std::int32_t stream, std::size_t length);
  long send_bytes(const std::uint8_t* data, std::size_t length);

  Settings settings_;
  Handler& handler_;
  nghttp2_session* session_ = nullptr;
  Abuse abuse_ = Abuse::none;
  bool fatal_ = false;  // nghttp2 reported a fatal error or we stopped reading: receive() no more

  // Abuse accounting.
  std::chrono::steady_clock::time_point now_{}, window_start_{};
  std::uint32_t resets_ = 0, new_streams_ = 0, control_ = 0, window_updates_ = 0, data_sent_ = 0;
  std::uint32_t continuations_ = 0;
  std::uint64_t block_bytes_ = 0;  // encoded bytes of the header block in progress
  std::int32_t highest_stream_ = 0;

  // produce() state.
  std::string* out_ = nullptr;
  std::size_t produced_ = 0, produce_max_ = 0;

  std::size_t open_ = 0;  // streams with codec state
  std::vector<std::unique_ptr<Stream>> free_;
  Stream* active_ = nullptr;  // intrusive list of streams with codec state (owned)
  HeaderBlock block_;         // the header block being decoded (blocks never interleave)
  std::int32_t block_stream_ = 0;
  bool goaway_requested_ = false, peer_goaway_ = false;
  std::vector<std::uint32_t> writable_;  // on_writable() to report after nghttp2_session_send
  // Scratch for building nghttp2 header lists (kept to avoid allocating per response).
  std::string nv_names_;
  std::vector<nghttp2_nv> nva_;
  char status_[3] = {};
};

}  // namespace rampart::h2
