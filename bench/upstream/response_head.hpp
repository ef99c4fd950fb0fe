// Serialises response heads into a caller-owned buffer (no allocation once it has capacity).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace rampart::upstream {

enum class body_framing {
  content_length,  // Content-Length: content_length
  chunked,         // Transfer-Encoding: chunked
  none,            // no framing header (1xx, 204, 304, or a close-delimited body)
};

enum class connection_header { none, close, keep_alive };

struct head_spec {
  unsigned status = 200;
  std::string_view content_type = "text/plain";  // empty: no Content-Type
  body_framing framing = body_framing::content_length;
  std::uint64_t content_length = 0;
  connection_header connection = connection_header::none;
  std::string_view extra_headers;  // complete "Name: value\r\n" lines
  std::string_view name;           // value of X-Upstream-Name
};

// Appends "HTTP/1.1 STATUS REASON\r\n", the headers and the blank line to `out`.
void append_response_head(std::string& out, const head_spec& spec);

// Standard reason phrase of `status`, or "Status" for codes without one.
std::string_view reason_phrase(unsigned status);

// Appends the decimal or lower-case hex digits of `v` to `out`.
void append_decimal(std::string& out, std::uint64_t v);
void append_hex(std::string& out, std::uint64_t v);

}  // namespace rampart::upstream
