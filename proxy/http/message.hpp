// Parsed HTTP/1.x message heads. Names and values are views into the buffer the head was parsed
// from: they stay valid only while that buffer is unchanged (the session keeps the head bytes in
// place until the exchange has forwarded them).
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

namespace rampart::http {

struct Header {
  std::string_view name;   // as received (case preserved); compare with iequals()
  std::string_view value;  // leading/trailing OWS trimmed
};

enum class Method : std::uint8_t { get, head, post, put, del, connect, options, trace, patch, other };

enum class BodyKind : std::uint8_t {
  none,            // no body (requests without CL/TE; 1xx/204/304; responses to HEAD)
  content_length,  // exactly content_length bytes
  chunked,         // chunked transfer coding (final coding)
  until_close,     // responses only: delimited by connection close
};

struct RequestHead {
  std::string_view method_text;   // "GET"
  Method method = Method::other;
  std::string_view target;        // request-target as received ("/a/b?x=1", or absolute-form)
  std::string_view path;          // target up to '?' (origin-form; for absolute-form the path part)
  std::string_view query;         // after '?', without it; empty if none
  int version_minor = 1;          // HTTP/1.0 -> 0, HTTP/1.1 -> 1
  std::vector<Header> headers;    // in order received
  std::string_view host;          // the single Host header value (or absolute-form authority)
  BodyKind body = BodyKind::none;
  std::uint64_t content_length = 0;
  bool keep_alive = true;         // per version and Connection header
  bool expect_continue = false;   // "Expect: 100-continue"
  bool upgrade = false;           // Connection: upgrade + Upgrade header present
  std::size_t head_size = 0;      // bytes of the request line + headers + final CRLF

  void clear();
};

struct ResponseHead {
  int status = 0;
  std::string_view reason;
  int version_minor = 1;
  std::vector<Header> headers;
  BodyKind body = BodyKind::none;
  std::uint64_t content_length = 0;
  bool keep_alive = true;         // upstream connection reusable after this response
  std::size_t head_size = 0;

  void clear();
};

// A byte with the ASCII capitals made small; every other byte unchanged.
constexpr char ascii_lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c | 0x20) : c; }

// ASCII case-insensitive comparison for header names and tokens. Inline for the common early
// answer (lengths differ); bytes of equal-length views compared by iequals_bytes.
bool iequals_bytes(const char* a, const char* b, std::size_t n) noexcept;
inline bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && iequals_bytes(a.data(), b.data(), a.size());
}

// The standard reason phrase ("Not Found"), or "Unknown".
std::string_view reason_phrase(int status) noexcept;

}  // namespace rampart::http
