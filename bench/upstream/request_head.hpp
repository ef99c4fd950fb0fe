// A small, lenient HTTP/1.x request-head parser for the test upstream.
//
// Lenient where leniency is harmless (LF-only line endings, empty lines before the request
// line, extra spaces in the request line), strict where a mistake would desynchronise the
// connection (conflicting Content-Length, unknown Transfer-Encoding, obs-fold, over-long heads).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace rampart::upstream {

struct header_field {
  std::string_view name;
  std::string_view value;  // without surrounding whitespace
};

inline constexpr std::size_t max_header_fields = 128;

// Every view points into the buffer given to parse_request_head(); it is valid only while those
// bytes are left untouched.
struct request_head {
  std::string_view method;
  std::string_view target;   // as received
  std::string_view path;     // target up to '?'
  std::string_view query;    // after '?', empty if none
  std::string_view version;  // "HTTP/1.1" as received
  int version_minor = 1;     // 0 for HTTP/1.0, 1 for anything newer in 1.x

  std::array<header_field, max_header_fields> fields;
  std::size_t field_count = 0;

  bool has_content_length = false;
  std::uint64_t content_length = 0;
  bool has_transfer_encoding = false;
  bool chunked = false;             // last transfer coding is "chunked"
  bool connection_close = false;    // Connection: close
  bool connection_keep_alive = false;
  bool connection_upgrade = false;  // Connection: upgrade
  bool upgrade_websocket = false;   // Upgrade: websocket
  bool expect_continue = false;     // Expect: 100-continue

  // Clears everything but the (large, lazily overwritten) field array.
  void reset() {
    method = target = path = query = version = {};
    version_minor = 1;
    field_count = 0;
    has_content_length = has_transfer_encoding = chunked = false;
    content_length = 0;
    connection_close = connection_keep_alive = connection_upgrade = false;
    upgrade_websocket = expect_continue = false;
  }

  // Whether a body follows the head.
  bool has_body() const { return chunked || (has_content_length && content_length > 0); }
};

enum class parse_state { incomplete, complete, error };

struct parse_result {
  parse_state state = parse_state::incomplete;
  std::size_t consumed = 0;  // complete: bytes of the head, blank line included
  unsigned status = 0;       // error: the HTTP status to answer with (400, 431, 501, 505)
  // incomplete: offset from which the next call may resume its search for the end of the head
  // (pass it back as `resume_from` with the same buffer start and more bytes appended).
  std::size_t resume_from = 0;
};

// Parses one request head at the start of `in`. Leading empty lines are skipped (and counted in
// `consumed`). Returns `incomplete` until the blank line ending the head is present; `error`
// with 431 once `in` holds max_head_bytes without finding the end.
inline constexpr std::size_t max_head_bytes = 32 * 1024;
parse_result parse_request_head(std::string_view in, request_head& out,
                                std::size_t resume_from = 0);

// ASCII case-insensitive comparison.
bool iequals(std::string_view a, std::string_view b);

}  // namespace rampart::upstream
