// The HTTP/2 client side of one upstream connection, sans I/O: requests submitted by the owner,
// frames out (produce), bytes in (receive), responses, response bodies and trailers reported to a
// Handler. The twin of ServerConnection (h2/server.hpp), built for pooled, multiplexed upstream
// connections (gRPC backends among them): nghttp2 does framing, HPACK, stream states and
// flow-control bookkeeping; this codec adds strict response validation (ResponseBlock below),
// application-driven flow control and bounds on what the server can make us hold.
//
// Threading and ownership: one ClientConnection per connection, used from the one thread that owns
// the connection. Not copyable or movable (nghttp2 holds a pointer to it). Handler callbacks run
// synchronously inside receive(), produce() and connection_lost(); from a callback the handler may
// call submit_*, reset, consume, queued, can_open and goaway, never receive(), produce() or
// connection_lost().
//
// Validation: nghttp2's own HTTP messaging checks are switched off; ResponseBlock and the body
// checks in the codec are the one authority (RFC 9113 §8, stricter where the RFC allows a choice).
// A malformed response resets its stream with PROTOCOL_ERROR (other streams go on) and the owner
// sees Handler::on_malformed, then on_stream_close(stream, error::protocol_error).
//
// Flow control (what bounds memory): automatic WINDOW_UPDATE is off. Response body bytes handed to
// on_data stay charged against the stream window (initial_window_size) and the connection window
// (connection_window_size) until the owner calls consume() for them. Request bodies are copied
// into a per-stream queue and leave it as the server's windows allow; the owner keeps each queue
// below max_queued_per_stream by pausing its downstream reads (queued(), on_writable()).
//
// Retry safety: on_stream_close(stream, error::refused_stream) means the server did not process
// the request (RST_STREAM(REFUSED_STREAM), a stream above the last id of a GOAWAY, or a request
// whose HEADERS were never produced), so the owner may send it again on another connection. Any
// other code after the request was produced means the server may have acted on it.
#pragma once
#include "h2/server.hpp"  // error codes shared with the server codec
#include "http/message.hpp"

#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rampart::h2 {

struct ClientSettings {
  // SETTINGS_MAX_CONCURRENT_STREAMS we advertise: streams the server may open towards us. Only
  // pushed streams could be, and push is always disabled (SETTINGS_ENABLE_PUSH 0).
  std::uint32_t max_concurrent_streams = 0;
  std::uint32_t initial_window_size = 256 * 1024;      // per stream: response body bytes held before consume()
  std::uint32_t connection_window_size = 1024 * 1024;  // all streams together (both capped at 2^31-1)
  // SETTINGS_MAX_HEADER_LIST_SIZE, enforced: a response head or trailer section whose decoded
  // size (RFC 9113 §6.5.2) is larger resets its stream with ENHANCE_YOUR_CALM; a header block whose
  // encoded size exceeds this plus one maximum frame (16 KiB) is a connection error.
  std::uint32_t max_header_list_size = 64 * 1024;
  std::uint32_t header_table_size = 4096;  // HPACK decoder table we allow the server to use
  std::uint32_t max_continuations = 32;    // CONTINUATION frames in one header block (connection error beyond)
  // Advice to the owner, not enforced by submit_data(): pause downstream reads for a stream while
  // queued(stream) is at or above this; on_writable() says when it dropped below again.
  std::size_t max_queued_per_stream = 256 * 1024;
};

// Why the connection failed (ClientConnection::failure()); none for a clean end.
enum class ClientFailure : std::uint8_t {
  none,
  protocol_error,          // a connection error found by nghttp2 (bad frame, HPACK error, ...), GOAWAY(PROTOCOL_ERROR)
  push_promise,            // the server sent PUSH_PROMISE although push is disabled
  header_block_too_large,  // one header block's encoded bytes over max_header_list_size + 16 KiB
  continuation_flood,      // CONTINUATION frames over max_continuations in one block
  control_flood,           // nghttp2's bound on queued PING/SETTINGS acknowledgements
  internal,                // nghttp2 failed to set up or to serialize (out of memory)
};
const char* to_string(ClientFailure f) noexcept;

// One response header block (a response head, interim or final, or a trailer section) fed field
// by field as HPACK decodes it, checked, and kept for the handler. Strictness:
// - field names: lower-case token characters only; values: VCHAR, obs-text, SP, HTAB, without
//   leading or trailing SP/HTAB (valid_field_name/valid_field_value of h2/validate.hpp);
// - connection-specific fields (connection_specific() of h2/validate.hpp) are malformed;
// - head: exactly one pseudo-header, :status, before every regular field, three digits in
//   100..599 and not 101 (RFC 9113 §8.6); trailers: no pseudo-header, no content-length;
// - content-length: at most one field, digits only, at most 2^62; none in a 1xx response, and
//   none other than 0 in a 204 (RFC 9110 §8.6).
// Size: the header list size (name + value + 32 per field) is bounded by `max_list_size`; beyond
// it the verdict is too_large and nothing more is stored.
class ResponseBlock {
 public:
  enum class Kind : std::uint8_t { head, trailers };
  enum class Verdict : std::uint8_t { ok, malformed, too_large };

  explicit ResponseBlock(std::uint32_t max_list_size) : max_list_size_(max_list_size) {}

  // Starts a new block, forgetting the previous one (buffers keep their capacity).
  void start(Kind kind);
  Kind kind() const { return kind_; }
  // Adds one decoded field. Once the verdict is not ok, fields are only counted, never stored.
  void add(std::string_view name, std::string_view value);
  Verdict verdict() const { return verdict_; }
  // Ends the block: checks what only the whole block can tell (the :status is there, content-length
  // against the status) and, for a valid block, makes fields() available.
  Verdict finish();
  // A static text for logs when the verdict is not ok.
  const char* reason() const { return reason_; }
  int status() const { return status_; }  // head only, 0 until a valid :status was seen
  std::optional<std::uint64_t> content_length() const { return content_length_; }
  // The regular fields in received order (names lower-case): views into this block, valid after a
  // finish() that returned ok and until the next start().
  std::span<const http::Header> fields() const { return views_; }
  std::uint64_t list_size() const { return list_size_; }
  std::size_t held_bytes() const { return bytes_.size(); }

 private:
  struct Ref {
    std::uint32_t off = 0, len = 0;
  };
  void fail(Verdict v, const char* why);
  Ref keep(std::string_view s);

  std::uint32_t max_list_size_;
  Kind kind_ = Kind::head;
  Verdict verdict_ = Verdict::ok;
  const char* reason_ = "";
  std::uint64_t list_size_ = 0;
  int status_ = 0;
  bool regular_seen_ = false;
  std::optional<std::uint64_t> content_length_;
  std::string bytes_;                      // names and values of kept fields, back to back
  std::vector<std::pair<Ref, Ref>> refs_;  // (name, value) of each kept field
  std::vector<http::Header> views_;        // built by finish()
};

class ClientConnection {
 public:
  struct Handler {
    virtual ~Handler() = default;
    // The final response head of a stream (status 200..599 or 1xx other than 101 never gets here);
    // `headers` are views valid during the call, names lower-case, in received order.
    virtual void on_response(std::uint32_t stream, int status, std::span<const http::Header> headers) = 0;
    // An interim response (100, 102, 103, ...), validated; the final one follows. Default: ignored.
    virtual void on_informational(std::uint32_t stream, int status, std::span<const http::Header> headers) {}
    // Response body bytes (a view valid during the call only). They count against the windows
    // until consume() is called for them.
    virtual void on_data(std::uint32_t stream, std::string_view data) = 0;
    // The response's trailer section (gRPC: grpc-status, grpc-message), validated; views valid
    // during the call. on_end_stream follows.
    virtual void on_trailers(std::uint32_t stream, std::span<const http::Header> trailers) = 0;
    // The response is complete (END_STREAM received, content-length checked): after on_response,
    // the last on_data, or on_trailers. The stream itself may stay open while the request body is
    // still being sent: finish it or reset() the stream.
    virtual void on_end_stream(std::uint32_t stream) = 0;
    // The stream is gone, exactly once for every stream submit_request returned (except streams
    // still open when the ClientConnection is destroyed). error_code: no_error when both sides
    // ended (a success only if on_end_stream came first: a server may also end an unfinished
    // response with RST_STREAM(NO_ERROR)), refused_stream when retry-safe (see the top of this
    // file), protocol_error / enhance_your_calm when the codec reset a malformed / oversized
    // response, the RST_STREAM code otherwise. After it, calls naming the stream are ignored.
    virtual void on_stream_close(std::uint32_t stream, std::uint32_t error_code) = 0;
    // From produce(): queued(stream) fell below max_queued_per_stream after having reached it.
    virtual void on_writable(std::uint32_t stream) {}
    // The codec is resetting the stream because its response broke a rule; `reason` is a static
    // text for logs. on_stream_close follows, from the same receive() or a later produce().
    virtual void on_malformed(std::uint32_t stream, const char* reason) {}
  };

  // Queues the client preface, SETTINGS (push disabled) and the connection window update: call
  // produce() right away. `handler` must outlive the connection.
  ClientConnection(const ClientSettings& s, Handler& handler);
  ~ClientConnection();
  ClientConnection(const ClientConnection&) = delete;
  ClientConnection& operator=(const ClientConnection&) = delete;

  // Feeds bytes from the server. Returns false when the connection must be closed after flushing
  // what produce() still yields (until done()): a connection error (failure() says which; every
  // open stream has then been reported to on_stream_close), or a GOAWAY exchange that is complete.
  // Some connection errors nghttp2 finds inside a frame (DATA before any response, a frame on a
  // half-closed stream, a flow-control violation) only make it queue GOAWAY and ignore further
  // input: receive() still returns true, and the next produce() yields the GOAWAY, sets failure()
  // and reports the streams.
  bool receive(std::string_view in);
  // Appends pending frames to `out`, stopping once about `max` bytes were appended (a frame is
  // never split); returns the bytes appended, 0 when nothing is pending or allowed by the server's
  // windows. Call after receive() and after submitting anything, until it returns 0.
  std::size_t produce(std::string& out, std::size_t max = 64 * 1024);
  bool want_write() const;
  // Nothing more will be read or written: close the connection (after writing what was produced).
  bool done() const;
  ClientFailure failure() const { return failure_; }

  // True if submit_request would succeed now: the connection is alive, no GOAWAY was sent or
  // received, stream ids remain, and fewer streams are open than the server's
  // SETTINGS_MAX_CONCURRENT_STREAMS (nghttp2 assumes 100 until the server's SETTINGS arrive).
  bool can_open() const;
  // Streams submitted and not yet reported to on_stream_close.
  std::size_t open_streams() const { return streams_.size(); }
  std::uint32_t peer_max_concurrent_streams() const;

  // Starts a request; returns its stream id, or nullopt when !can_open(). Header names are sent
  // lower-cased, values as given (the owner passes values already validated by a downstream
  // parser); dropped: pseudo-headers, connection-specific fields (connection, keep-alive,
  // proxy-connection, transfer-encoding, upgrade, http2-settings), host (the authority is
  // :authority, omitted when empty), te other than "trailers", and fields named in Connection.
  // end_stream false: a body follows with submit_data / submit_trailers. A HEAD request's response
  // is expected without a body. CONNECT is not supported (:scheme and :path are always sent).
  std::optional<std::uint32_t> submit_request(std::string_view method, std::string_view scheme,
                                              std::string_view authority, std::string_view path,
                                              std::span<const http::Header> headers, bool end_stream);
  // After submit_request with end_stream false: `data` is copied into the stream's queue. Returns
  // false when the stream is unknown, reset, or its body already ended (nothing is queued then).
  bool submit_data(std::uint32_t stream, std::string_view data, bool end_stream);
  // Ends the request body with a trailer section, after the queued data (names lower-cased; the
  // fields submit_request drops are dropped here too). Same conditions as submit_data.
  bool submit_trailers(std::uint32_t stream, std::span<const http::Header> trailers);
  // Request bytes in the stream's queue, waiting for the server's windows (0 for unknown streams).
  std::size_t queued(std::uint32_t stream) const;
  // `n` response body bytes of the stream were forwarded: reopen the windows by that much.
  // Ignored after on_stream_close (the codec returned what was outstanding to the connection).
  void consume(std::uint32_t stream, std::size_t n);
  // Resets the stream (RST_STREAM error_code, or the request is dropped if its HEADERS were not
  // produced yet); no more handler calls for it but on_stream_close, which follows from produce().
  void reset(std::uint32_t stream, std::uint32_t error_code);
  // The owner's shutdown. graceful: GOAWAY(NO_ERROR); open streams finish, no new ones start,
  // done() once they are closed. Otherwise GOAWAY and close at once: every open stream is reported
  // to on_stream_close (cancel, or refused_stream if never produced) from the next receive() or
  // produce().
  void goaway(bool graceful);
  // The transport is gone (EOF, read/write error, timeout): reports every open stream to
  // on_stream_close, with `error_code` if its request was produced and refused_stream otherwise,
  // before returning. The connection is done afterwards.
  void connection_lost(std::uint32_t error_code);

  // A GOAWAY from the server: new requests are refused; open streams up to the last stream id go
  // on, those above it were reported closed with refused_stream.
  bool goaway_received() const { return peer_goaway_; }
  std::uint32_t goaway_last_stream_id() const { return peer_last_stream_; }
  std::uint32_t goaway_error_code() const { return peer_goaway_code_; }

 private:
  struct Stream;
  friend struct ClientCallbacks;

  Stream* find(std::uint32_t id) const;
  Stream* acquire(std::uint32_t id);
  void recycle(std::unique_ptr<Stream> s);
  void release(Stream* s);
  // Connection error found by this codec (from a receive callback): GOAWAY(code), stop reading.
  int fail(ClientFailure f, std::uint32_t code);
  // Reports every remaining stream closed (after a connection error or loss).
  void close_all(std::uint32_t sent_code);
  // Resets a stream whose response broke a rule; on_stream_close will report `code`.
  void reject(Stream& s, std::uint32_t code, const char* reason);
  void end_response(Stream& s);
  // Fills nva_ with the request pseudo-headers and the kept fields of `headers` (names lower-cased
  // into nv_names_, values pointing at the caller's bytes; nghttp2 copies both on submit).
  void build_request_nva(std::string_view method, std::string_view scheme, std::string_view authority,
                         std::string_view path, std::span<const http::Header> headers);
  void resume(Stream& s);

  // nghttp2 callbacks (static trampolines in the .cpp call these).
  int on_begin_frame(std::uint8_t type, std::int32_t stream, std::size_t length);
  int on_begin_headers(std::int32_t stream);
  int on_header(std::int32_t stream, std::string_view name, std::string_view value);
  int on_frame_recv(const nghttp2_frame& frame);
  int on_data_chunk(std::int32_t stream, std::string_view data);
  int on_stream_closed(std::int32_t stream, std::uint32_t error_code);
  int on_frame_sent(const nghttp2_frame& frame);
  long read_data(std::int32_t stream, std::size_t length, std::uint32_t* flags);
  int send_data(const std::uint8_t* framehd, std::int32_t stream, std::size_t length);
  long send_bytes(const std::uint8_t* data, std::size_t length);

  ClientSettings settings_;
  Handler& handler_;
  nghttp2_session* session_ = nullptr;
  ClientFailure failure_ = ClientFailure::none;
  bool fatal_ = false;  // no more reading: connection error, loss, immediate goaway or GOAWAY exchange done
  bool lost_ = false;   // connection_lost(): nothing more is produced either
  std::uint32_t close_code_ = error::cancel;  // reported for produced streams when the connection dies

  // Header block in progress (blocks never interleave).
  ResponseBlock block_;
  std::int32_t block_stream_ = 0;
  std::uint64_t block_bytes_ = 0;  // encoded bytes of the block (HEADERS + CONTINUATION payloads)
  std::uint32_t continuations_ = 0;

  // produce() state.
  std::string* out_ = nullptr;
  std::size_t produced_ = 0, produce_max_ = 0;

  // Open streams, sorted by id (ids only grow, so submit_request appends). Owned.
  std::vector<std::unique_ptr<Stream>> streams_;
  std::vector<std::unique_ptr<Stream>> free_;
  bool goaway_sent_ = false, peer_goaway_ = false;
  std::uint32_t peer_last_stream_ = 0, peer_goaway_code_ = 0;
  std::vector<std::uint32_t> writable_;  // on_writable() to report after nghttp2_session_send
  // Scratch for building nghttp2 header lists (kept to avoid allocating per request).
  std::string nv_names_;
  std::vector<nghttp2_nv> nva_;
};

}  // namespace rampart::h2
