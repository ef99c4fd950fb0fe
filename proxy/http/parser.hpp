// Strict, incremental, zero-copy HTTP/1.1 head parsers and the chunked body decoder.
//
// Strictness (RFC 9112; where a recipient may repair or reject, we reject):
// - lines end in CRLF; a bare CR or bare LF anywhere in the head is an error;
// - NUL, other CTLs (except HTAB in values) and bytes outside field-vchar in field values are errors;
// - obs-fold (a line starting with SP/HTAB), whitespace between field name and colon, an empty or
//   non-token field name are errors;
// - requests: missing Host (HTTP/1.1), more than one Host, Content-Length together with
//   Transfer-Encoding, differing or malformed Content-Length values (identical duplicates, also as
//   a list "5, 5", are accepted and folded to one), Transfer-Encoding whose final coding is not
//   chunked, unknown transfer codings, HTTP versions other than 1.0/1.1 are errors;
// - responses (upstream is untrusted too): the same header rules; TE with CL is an error; a
//   non-chunked final TE means until_close.
// Limits: request line longer than max_request_line -> 414; head longer than max_header_bytes or
// more than max_headers fields -> 431.
#pragma once
#include "http/message.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rampart::http {

struct Limits {
  std::size_t max_request_line = 8192;   // also bounds a response's status line
  std::size_t max_header_bytes = 32768;  // whole head including the request/status line
  std::size_t max_headers = 100;
};

enum class ParseResult : std::uint8_t { complete, incomplete, error };

struct ParseError {
  int status = 400;                 // the status to answer downstream: 400, 414, 431, 501, 505
  const char* reason = "";          // static text for logs: "bare LF", "obs-fold", ...
};

// Parses a request head from the start of `buf`. On `complete`, `out.head_size` bytes were used
// and `out` views point into `buf`. On `incomplete`, nothing is kept: call again with more bytes
// (the parser rescans; heads are small). `error` sets `err` — and is reported as soon as the bytes
// seen so far already prove the head bad or too large (e.g. a request line over the limit with no
// CRLF yet -> 414), so a client cannot make us buffer past the limits.
ParseResult parse_request(std::string_view buf, const Limits& limits, RequestHead& out, ParseError& err);

// Parses a response head. `request_method` decides body rules (HEAD -> no body; CONNECT 2xx ->
// none). 1xx responses are returned as complete with body none; the caller loops for the final one.
ParseResult parse_response(std::string_view buf, const Limits& limits, Method request_method,
                           ResponseHead& out, ParseError& err);

// Incremental chunked-body decoder (RFC 9112 §7.1). Chunk extensions are validated and dropped;
// trailer fields are validated (same rules as header fields) and dropped.
class ChunkedDecoder {
 public:
  enum class Status : std::uint8_t { need_more, data, done, error };

  // Consumes bytes from the front of `in`. `consumed` is set to how many bytes were used.
  // - data: `out` is a view into `in` with body bytes (never empty); call again with the rest;
  // - need_more: every byte of `in` was consumed (or a partial line was left unconsumed, with
  //   `consumed` < in.size()); supply more bytes after what was not consumed;
  // - done: the last chunk and trailer section ended; `consumed` includes the final CRLF;
  // - error: malformed (bad hex, size overflow, missing CRLF, bare LF, bad trailer, a size or
  //   extension line longer than 4096 bytes).
  Status decode(std::string_view in, std::size_t& consumed, std::string_view& out);

  void reset() { *this = ChunkedDecoder{}; }
  std::uint64_t body_bytes() const { return total_; }
  // Keep the trailer section: each valid trailer field is appended to `*out` as "name: value\r\n"
  // (cleared by the caller), except fields a trailer must not carry (RFC 9110 6.5.1: framing,
  // routing and connection fields), which are dropped. Without it, trailers are only validated.
  void keep_trailers(std::string* out) { trailers_ = out; }

 private:
  enum class State : std::uint8_t { size_line, data, data_crlf, trailer, done, failed };
  State state_ = State::size_line;
  std::uint64_t remaining_ = 0;
  std::uint64_t total_ = 0;
  std::size_t trailer_bytes_ = 0;
  std::string* trailers_ = nullptr;
};

// A ChunkedDecoder fed by writes that may end inside a chunk-size or trailer line (which the
// decoder leaves unconsumed): that tail is kept and put in front of the next write. Body bytes go
// to `on_data(std::string_view) -> bool` (false stops with an error). A write that goes on after
// the body's end is an error.
class ChunkedFeed {
 public:
  enum class Result : std::uint8_t { more, done, error };

  template <class OnData>
  Result feed(std::string_view bytes, OnData&& on_data) {
    std::string joined;
    if (!carry_.empty()) {
      joined = std::move(carry_);
      carry_.clear();
      joined.append(bytes);
      bytes = joined;
    }
    while (!bytes.empty()) {
      std::size_t used = 0;
      std::string_view piece;
      const auto st = decoder_.decode(bytes, used, piece);
      bytes.remove_prefix(used);
      switch (st) {
        case ChunkedDecoder::Status::error: return Result::error;
        case ChunkedDecoder::Status::data:
          if (!on_data(piece)) return Result::error;
          break;
        case ChunkedDecoder::Status::done: return bytes.empty() ? Result::done : Result::error;
        case ChunkedDecoder::Status::need_more:
          carry_.assign(bytes);
          return Result::more;
      }
    }
    return Result::more;
  }
  ChunkedDecoder& decoder() { return decoder_; }
  void reset() {
    decoder_.reset();
    carry_.clear();
  }

 private:
  ChunkedDecoder decoder_;
  std::string carry_;  // the unconsumed tail of the last write
};

}  // namespace rampart::http
