// ChunkedDecoder (RFC 9112 §7.1). Lines (chunk-size lines, trailer fields) are never buffered
// here: an incomplete line is left unconsumed and re-presented by the caller with more bytes, so
// the decoder holds only a few counters.
#include "http/parser.hpp"

#include "http/syntax.hpp"

#include <algorithm>
#include <cstring>

namespace rampart::http {
namespace {

using namespace detail;

constexpr std::size_t k_max_size_line = 4096;   // chunk-size + extensions, without CRLF
constexpr std::size_t k_max_trailer = 16384;    // all trailer lines including the final CRLF

// Fields a trailer section must not carry (RFC 9110 6.5.1): framing, routing, connection.
bool forbidden_in_trailer(std::string_view name) noexcept {
  static constexpr std::string_view k[] = {"content-length", "transfer-encoding", "host", "connection", "keep-alive",
                                           "te", "trailer", "upgrade", "proxy-connection", "content-encoding",
                                           "content-type", "content-range", "authorization", "set-cookie"};
  for (std::string_view f : k)
    if (iequals(name, f)) return true;
  return false;
}

// chunk-size [ chunk-ext ] over [p, e) (the line without its CRLF):
//   chunk-size = 1*HEXDIG
//   chunk-ext  = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//   chunk-ext-val = token / quoted-string
bool parse_size_line(const char* p, const char* e, std::uint64_t& size) noexcept {
  if (p == e || !is_hex(*p)) return false;
  std::uint64_t v = 0;
  while (p < e && is_hex(*p)) {
    const std::uint64_t d = hex_value(*p);
    if (v > (k_max_length - d) / 16) return false;
    v = v * 16 + d;
    ++p;
  }
  size = v;
  for (;;) {
    const char* const ws = p;
    while (p < e && is_ows(*p)) ++p;
    if (p == e) return p == ws;  // BWS must be followed by ';'
    if (*p != ';') return false;
    ++p;
    while (p < e && is_ows(*p)) ++p;
    const char* const name = p;
    while (p < e && is_tchar(*p)) ++p;
    if (p == name) return false;
    const char* const after_name = p;
    while (p < e && is_ows(*p)) ++p;
    if (p == e || *p != '=') {
      p = after_name;
      continue;
    }
    ++p;
    while (p < e && is_ows(*p)) ++p;
    if (p < e && *p == '"') {
      if (!skip_quoted_string(p, e)) return false;
    } else {
      const char* const value = p;
      while (p < e && is_tchar(*p)) ++p;
      if (p == value) return false;
    }
  }
}

}  // namespace

ChunkedDecoder::Status ChunkedDecoder::decode(std::string_view in, std::size_t& consumed, std::string_view& out) {
  const char* const begin = in.data();
  const char* const end = begin + in.size();
  const char* p = begin;
  out = {};
  auto finish = [&](Status st) {
    consumed = static_cast<std::size_t>(p - begin);
    return st;
  };
  auto fail = [&] {
    state_ = State::failed;
    return finish(Status::error);
  };

  for (;;) {
    switch (state_) {
      case State::size_line: {
        if (p == end) return finish(Status::need_more);
        if (!is_hex(*p)) return fail();
        const std::size_t avail = static_cast<std::size_t>(end - p);
        const std::size_t window = std::min(avail, k_max_size_line + 1);
        const auto* cr = static_cast<const char*>(std::memchr(p, '\r', window));
        if (cr == nullptr) {
          if (avail > k_max_size_line || std::memchr(p, '\n', window) != nullptr) return fail();
          return finish(Status::need_more);
        }
        if (static_cast<std::size_t>(cr - p) > k_max_size_line) return fail();
        if (cr + 1 == end) return finish(Status::need_more);
        if (cr[1] != '\n') return fail();
        std::uint64_t size = 0;
        if (!parse_size_line(p, cr, size)) return fail();
        p = cr + 2;
        if (size == 0) {
          state_ = State::trailer;
        } else {
          remaining_ = size;
          state_ = State::data;
        }
        break;
      }
      case State::data: {
        if (p == end) return finish(Status::need_more);
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, static_cast<std::uint64_t>(end - p)));
        out = std::string_view(p, n);
        p += n;
        remaining_ -= n;
        total_ += n;
        if (remaining_ == 0) state_ = State::data_crlf;
        return finish(Status::data);
      }
      case State::data_crlf: {
        if (p == end) return finish(Status::need_more);
        if (*p != '\r') return fail();
        if (p + 1 == end) return finish(Status::need_more);
        if (p[1] != '\n') return fail();
        p += 2;
        state_ = State::size_line;
        break;
      }
      case State::trailer: {
        const char* q = p;
        std::string_view name;
        std::string_view value;
        const char* reason = "";
        const Line r = parse_field_line(q, end, name, value, reason);
        if (r == Line::error) return fail();
        if (r == Line::need_more) {
          if (trailer_bytes_ + static_cast<std::size_t>(end - p) > k_max_trailer) return fail();
          return finish(Status::need_more);
        }
        trailer_bytes_ += static_cast<std::size_t>(q - p);
        if (trailer_bytes_ > k_max_trailer) return fail();
        p = q;
        if (r != Line::end && trailers_ && !forbidden_in_trailer(name))
          trailers_->append(name).append(": ").append(value).append("\r\n");
        if (r == Line::end) {
          state_ = State::done;
          return finish(Status::done);
        }
        break;
      }
      case State::done:
        return finish(Status::done);
      case State::failed:
        return finish(Status::error);
    }
  }
}

}  // namespace rampart::http
