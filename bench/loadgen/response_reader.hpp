// Incremental HTTP/1.1 response framing for rampart-bench: finds where one response ends
// (status line, headers, then a Content-Length, chunked or close-delimited body) without
// keeping the body. Input may be split anywhere between feed() calls. Interim 1xx responses
// (except 101) are skipped. Responses with both Content-Length and Transfer-Encoding, folded
// headers, conflicting lengths or bad chunk sizes are protocol errors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rampart::bench {

class response_reader {
 public:
  enum class result { need_more, complete, error };

  // Maximum bytes of one response head (status line + headers, or trailers).
  static constexpr std::size_t max_head_bytes = 64 * 1024;

  // Prepares for the response to a request; `head_request`: the request was HEAD (no body).
  void start(bool head_request);

  // Consumes a prefix of [data, data + size), setting `used` to its length. complete: the
  // final response ended after `used` bytes (the rest is not part of it); error: malformed
  // (see error()); need_more: everything was consumed and the response is not over yet.
  result feed(const char* data, std::size_t size, std::size_t& used);

  // The peer closed the connection: complete when the body runs to the close, else error
  // (a response truncated mid-way, or no response at all).
  result on_eof();

  // Valid after complete: the final status, whether the connection may carry another
  // request, and all bytes of this response (interim 1xx responses included).
  unsigned status() const { return status_; }
  bool keep_alive() const { return keep_alive_; }
  std::uint64_t bytes() const { return bytes_; }
  // True once any byte of the response was received.
  bool started() const { return bytes_ > 0; }
  std::string_view error() const { return error_; }

 private:
  enum class state { status_line, header, body_length, body_eof, chunk_size, chunk_data, chunk_end, trailer, done };

  // Delivers one complete line (without its line break) to the current state.
  bool on_line(std::string_view line);
  bool on_status_line(std::string_view line);
  bool on_header(std::string_view line);
  bool on_head_end();
  bool on_chunk_size(std::string_view line);
  bool fail(const char* why);

  state state_ = state::status_line;
  bool head_request_ = false;
  unsigned status_ = 0;
  bool keep_alive_ = true;
  bool chunked_ = false;
  bool has_length_ = false;
  bool has_te_ = false;
  std::uint64_t length_ = 0;     // Content-Length, or bytes left in the body / chunk
  std::uint64_t bytes_ = 0;
  std::size_t head_bytes_ = 0;   // bytes of the current head / trailer section
  std::string line_;             // a line split across feed() calls
  const char* error_ = "";
};

}  // namespace rampart::bench
