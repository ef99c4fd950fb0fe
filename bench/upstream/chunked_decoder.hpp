// Incremental decoder for a chunked request body (RFC 9112 section 7.1). It never buffers: the
// caller keeps unconsumed bytes and feeds them again with more appended.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace rampart::upstream {

class chunked_decoder {
 public:
  // Lines (chunk-size lines, trailer fields) longer than this are an error.
  static constexpr std::size_t max_line = 4096;

  struct result {
    std::size_t consumed = 0;  // bytes of the input used; the rest must be fed again
    bool done = false;         // the last chunk and the trailer section were read
    bool error = false;        // malformed framing: the connection cannot continue
  };

  // Decodes as much of `in` as possible, calling on_data(const char*, size_t) for each piece of
  // body data. Stops when the body is complete, on error, or when a line is incomplete.
  template <class OnData>
  result feed(std::string_view in, OnData&& on_data) {
    result r;
    while (r.consumed < in.size() && !r.done && !r.error) {
      const std::string_view rest = in.substr(r.consumed);
      switch (state_) {
        case state::size_line: {
          std::string_view line;
          std::size_t used = 0;
          if (!take_line(rest, line, used, r)) return r;
          r.consumed += used;
          if (!parse_size(line)) {
            r.error = true;
            return r;
          }
          state_ = remaining_ == 0 ? state::trailer : state::data;
          break;
        }
        case state::data: {
          const std::size_t n =
              rest.size() < remaining_ ? rest.size() : static_cast<std::size_t>(remaining_);
          on_data(rest.data(), n);
          remaining_ -= n;
          r.consumed += n;
          if (remaining_ == 0) state_ = state::data_end;
          break;
        }
        case state::data_end: {
          if (rest[0] == '\n') {
            r.consumed += 1;
          } else if (rest[0] == '\r') {
            if (rest.size() < 2) return r;
            if (rest[1] != '\n') {
              r.error = true;
              return r;
            }
            r.consumed += 2;
          } else {
            r.error = true;
            return r;
          }
          state_ = state::size_line;
          break;
        }
        case state::trailer: {
          std::string_view line;
          std::size_t used = 0;
          if (!take_line(rest, line, used, r)) return r;
          r.consumed += used;
          if (line.empty()) {
            r.done = true;
            state_ = state::size_line;
          }
          break;
        }
      }
    }
    return r;
  }

 private:
  enum class state { size_line, data, data_end, trailer };

  // Extracts one line (without CRLF/LF). False if it is incomplete (or too long: sets error).
  static bool take_line(std::string_view rest, std::string_view& line, std::size_t& used,
                        result& r) {
    const void* nl = std::memchr(rest.data(), '\n', rest.size());
    if (nl == nullptr) {
      if (rest.size() > max_line) r.error = true;
      return false;
    }
    used = static_cast<std::size_t>(static_cast<const char*>(nl) - rest.data()) + 1;
    if (used > max_line) {
      r.error = true;
      return false;
    }
    line = rest.substr(0, used - 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return true;
  }

  // chunk-size [ chunk-ext ]: hex digits, then optional whitespace and ";ext".
  bool parse_size(std::string_view line) {
    std::size_t i = 0;
    std::uint64_t v = 0;
    while (i < line.size()) {
      const char c = line[i];
      int d = -1;
      if (c >= '0' && c <= '9') d = c - '0';
      else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
      if (d < 0) break;
      if (i >= 15) return false;  // > 60 bits of size: refuse rather than overflow
      v = (v << 4) | static_cast<std::uint64_t>(d);
      ++i;
    }
    if (i == 0) return false;
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i < line.size() && line[i] != ';') return false;
    remaining_ = v;
    return true;
  }

  state state_ = state::size_line;
  std::uint64_t remaining_ = 0;
};

}  // namespace rampart::upstream
