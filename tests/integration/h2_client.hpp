// A small raw HTTP/2 client over cleartext TCP (prior knowledge) for frame-level tests: it sends
// exactly the frames the test asks for, valid or not, and records what the server answers.
//
// Contracts:
// - Never touches Catch2: errors are values (ok(), error()), so worker threads may use it. One
//   Client belongs to one thread at a time.
// - Every blocking call takes a timeout. Only 127.0.0.1 is contacted.
// - Requests are encoded by hand (HPACK literal-without-indexing fields, no Huffman, RFC 7541
//   prefix integers); responses are decoded with nghttp2's HPACK inflater, fed every header block
//   in order (the dynamic table is per connection).
// - Flow control is the caller's business: the client never sends WINDOW_UPDATE by itself (the
//   handshake opens windows as large as asked, by default the maximum), and it does not track the
//   server's windows when sending DATA. SETTINGS and PING from the server are acknowledged as they
//   are read.
#pragma once

#include "harness.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct nghttp2_hd_inflater;

namespace it::h2 {

inline constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

namespace type {
inline constexpr std::uint8_t data = 0x0, headers = 0x1, priority = 0x2, rst_stream = 0x3, settings = 0x4,
                              push_promise = 0x5, ping = 0x6, goaway = 0x7, window_update = 0x8,
                              continuation = 0x9;
}
namespace flag {
inline constexpr std::uint8_t end_stream = 0x1, ack = 0x1, end_headers = 0x4, padded = 0x8, priority = 0x20;
}
namespace err {
inline constexpr std::uint32_t no_error = 0x0, protocol_error = 0x1, internal_error = 0x2,
                               flow_control_error = 0x3, stream_closed = 0x5, frame_size_error = 0x6,
                               refused_stream = 0x7, cancel = 0x8, compression_error = 0x9,
                               enhance_your_calm = 0xb;
}
namespace setting {
inline constexpr std::uint16_t header_table_size = 0x1, enable_push = 0x2, max_concurrent_streams = 0x3,
                               initial_window_size = 0x4, max_frame_size = 0x5, max_header_list_size = 0x6;
}

inline constexpr std::uint32_t kMaxWindow = 0x7fffffff;
inline constexpr std::size_t kMaxFrame = 16384;  // SETTINGS_MAX_FRAME_SIZE we leave at its default

struct Field {
  std::string name;
  std::string value;
};
using Fields = std::vector<Field>;

// ---- HPACK encoding (RFC 7541) -----------------------------------------------------------------

// Appends `value` as an integer with an N-bit prefix (§5.1); `high_bits` are the bits of the first
// byte above the prefix (the representation's pattern).
void encode_integer(std::string& out, std::uint8_t high_bits, int prefix_bits, std::uint64_t value);
// Appends one "literal header field without indexing — new name" (§6.2.2): 0x00, then the name
// and the value as raw string literals (H = 0, 7-bit prefix length). Names go as given, so a test
// can send upper-case or otherwise invalid ones.
void encode_literal(std::string& out, std::string_view name, std::string_view value);
// The header block of `fields`, in order.
std::string encode_block(const Fields& fields);
// :method, :scheme, :authority (omitted when empty), :path, then `extra`.
Fields request_fields(const std::string& method, const std::string& path, const Fields& extra = {},
                      const std::string& authority = "test.local", const std::string& scheme = "http");

// ---- Frame serialisation -----------------------------------------------------------------------

// One frame: the 9-byte header (length, type, flags, stream id with R = 0) then `payload`.
std::string frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream, std::string_view payload);
std::string settings_frame(const std::vector<std::pair<std::uint16_t, std::uint32_t>>& values);
std::string rst_stream_frame(std::uint32_t stream, std::uint32_t error_code);
std::string window_update_frame(std::uint32_t stream, std::uint32_t increment);
std::string ping_frame(std::string_view opaque8, bool ack);
// DATA split into frames of at most kMaxFrame bytes; END_STREAM (if asked) on the last one.
std::string data_frames(std::uint32_t stream, std::string_view data, bool end_stream);

// ---- What the server sent ----------------------------------------------------------------------

// A frame as received, and when.
struct Event {
  std::uint8_t type = 0;
  std::uint8_t flags = 0;
  std::uint32_t stream = 0;
  std::uint32_t length = 0;
  Clock::time_point at;
};

struct GoAway {
  std::uint32_t last_stream = 0;
  std::uint32_t error_code = 0;
  std::string debug;
  Clock::time_point at;
};

// One stream's response as received.
struct StreamResult {
  int status = 0;                 // final status (0 until a final response head arrives)
  Fields headers;                 // regular fields of the final response head
  std::vector<int> interim;       // 1xx statuses, in order
  Fields trailers;
  std::string body;               // DATA payloads, unpadded (at most Client::max_body_kept bytes)
  std::uint64_t body_bytes = 0;   // every DATA payload byte, kept or not
  std::uint32_t data_frames = 0;
  bool ended = false;             // END_STREAM received
  std::optional<std::uint32_t> reset;  // RST_STREAM error code received
  Clock::time_point head_at, ended_at;

  bool done() const { return ended || reset.has_value(); }
  std::optional<std::string> header(std::string_view name) const;  // first value, name case-insensitive
};

struct ClientSettings {
  // SETTINGS_INITIAL_WINDOW_SIZE sent in the handshake (our receive window per stream).
  std::uint32_t initial_window_size = kMaxWindow;
  // The connection receive window after the handshake (a WINDOW_UPDATE on stream 0 raises it from
  // 65,535 when larger).
  std::uint32_t connection_window = kMaxWindow;
};

class Client {
 public:
  // Connects to 127.0.0.1:port (TCP_NODELAY); ok() says whether it worked. Nothing is sent yet.
  explicit Client(std::uint16_t port, Ms timeout = 2s);
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Connected, and neither a send nor the server's bytes have failed so far. A close by the peer
  // alone does not clear it (see closed()). After a failed send, what the server sent before it
  // closed can still be read (poll() and the wait_* calls keep working).
  bool ok() const { return conn_.ok() && error_.empty() && send_error_.empty(); }
  const std::string& error() const {
    return !error_.empty() ? error_ : !send_error_.empty() ? send_error_ : conn_.error();
  }

  // Sends the preface, SETTINGS (ENABLE_PUSH 0 and `s`) and the connection WINDOW_UPDATE, then
  // waits for the server's SETTINGS (acknowledged as it is read). False on error or timeout.
  bool handshake(const ClientSettings& s = {}, Ms timeout = 3s);

  // Sends bytes as they are (frames built with the functions above). False on error or timeout;
  // a peer that closed or reset the connection makes it fail too.
  bool send(std::string_view bytes, Ms timeout = 5s);
  // HEADERS carrying the whole block (flags as given: END_HEADERS and/or END_STREAM).
  bool send_headers(std::uint32_t stream, const Fields& fields, std::uint8_t flags);
  // A request on a new stream (the next odd id), HEADERS with END_HEADERS, END_STREAM when
  // `body` is empty and `end_stream`; a non-empty body follows as DATA ending the stream.
  // Returns the stream id, 0 on a send error.
  std::uint32_t request(const std::string& method, const std::string& path, const Fields& extra = {},
                        const std::string& body = "", bool end_stream = true);
  // The id the next request() will use; claim_stream() returns it and moves on (for streams the
  // caller opens with raw frames).
  std::uint32_t next_stream() const { return next_stream_; }
  std::uint32_t claim_stream();

  // Waits up to `timeout` for bytes, then reads and processes every complete frame available
  // without blocking further. Returns the number of frames processed; -1 once the connection is
  // closed (by the peer, or after an error) and nothing is left to process.
  int poll(Ms timeout);
  // Processes frames until pred() holds, the connection ends, or the timeout runs out. Returns
  // pred() at the end.
  template <class Pred>
  bool wait_until(Pred pred, Ms timeout) {
    auto deadline = Clock::now() + timeout;
    while (!pred()) {
      auto left = std::chrono::duration_cast<Ms>(deadline - Clock::now());
      if (left.count() <= 0) break;
      if (poll(left) < 0) break;
    }
    return pred();
  }
  // The stream ended (END_STREAM) or was reset.
  bool wait_stream(std::uint32_t stream, Ms timeout = 5s);
  bool wait_goaway(Ms timeout = 3s);
  // True once the peer closed (FIN or RST) within `timeout`; frames that arrive are processed.
  bool wait_closed(Ms timeout = 3s);

  // Results so far for `stream` (an empty result for a stream nothing was received on).
  const StreamResult& stream(std::uint32_t id) const;
  const std::optional<GoAway>& goaway() const { return goaway_; }
  bool closed() const { return closed_; }
  bool settings_acked() const { return settings_acked_; }
  // Every frame received, in order (at most max_events are kept, the first ones).
  const std::vector<Event>& events() const { return events_; }
  // Bytes of DATA kept per stream in StreamResult::body.
  std::size_t max_body_kept = 16u << 20;
  static constexpr std::size_t max_events = 200000;

 private:
  // Processes complete frames in in_; false on a protocol error from the server (error_ set).
  bool process();
  bool on_frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream, std::string_view payload);
  bool on_header_block(std::uint32_t stream, bool end_stream);
  void fail(std::string why);
  // An automatic answer (SETTINGS or PING ACK); a failure to send it is not an error.
  void reply(std::string_view bytes);

  Conn conn_;
  std::string in_;
  std::string error_;       // reading or the server's frames failed
  std::string send_error_;  // a send failed
  bool closed_ = false;
  bool got_settings_ = false;
  bool settings_acked_ = false;
  std::uint32_t next_stream_ = 1;
  // Header block being received (HEADERS then CONTINUATION until END_HEADERS).
  std::uint32_t block_stream_ = 0;
  bool block_end_stream_ = false;
  std::string block_;
  std::optional<GoAway> goaway_;
  std::vector<Event> events_;
  std::map<std::uint32_t, StreamResult> streams_;
  struct InflaterDeleter {
    void operator()(nghttp2_hd_inflater* p) const;
  };
  std::unique_ptr<nghttp2_hd_inflater, InflaterDeleter> inflater_;
};

}  // namespace it::h2
