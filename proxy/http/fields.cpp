#include "http/fields.hpp"

#include "http/message.hpp"
#include "http/syntax.hpp"

#include <cstring>

namespace rampart::http::detail {
namespace {

inline const char* skip_ows(const char* p, const char* e) noexcept {
  while (p < e && is_ows(*p)) ++p;
  return p;
}

inline const char* skip_token(const char* p, const char* e) noexcept {
  while (p < e && is_tchar(*p)) ++p;
  return p;
}

// Content-Length = 1*DIGIT, also accepted as a list of identical values ("5, 5").
bool parse_content_length(std::string_view v, std::uint64_t& out) noexcept {
  const char* p = v.data();
  const char* const e = p + v.size();
  bool first = true;
  for (;;) {
    if (p == e || !is_digit(*p)) return false;
    std::uint64_t n = 0;
    while (p < e && is_digit(*p)) {
      const auto d = static_cast<std::uint64_t>(*p - '0');
      if (n > (k_max_length - d) / 10) return false;
      n = n * 10 + d;
      ++p;
    }
    if (!first && n != out) return false;
    out = n;
    first = false;
    p = skip_ows(p, e);
    if (p == e) return true;
    if (*p != ',') return false;
    p = skip_ows(p + 1, e);
  }
}

// Transfer-Encoding = 1#transfer-coding; transfer-coding = token *( OWS ";" OWS transfer-parameter ),
// transfer-parameter = token BWS "=" BWS ( token / quoted-string ). Empty list elements are
// rejected (framing is where leniency becomes request smuggling). Returns false on bad syntax.
bool parse_transfer_encoding(std::string_view v, FieldSummary& s) noexcept {
  const char* p = v.data();
  const char* const e = p + v.size();
  for (;;) {
    const char* const t = p;
    p = skip_token(p, e);
    if (p == t) return false;
    const std::string_view coding(t, static_cast<std::size_t>(p - t));
    bool has_params = false;
    for (;;) {
      const char* q = skip_ows(p, e);
      if (q == e || *q != ';') break;
      q = skip_ows(q + 1, e);
      const char* const pn = q;
      q = skip_token(q, e);
      if (q == pn) return false;
      q = skip_ows(q, e);
      if (q == e || *q != '=') return false;
      q = skip_ows(q + 1, e);
      if (q < e && *q == '"') {
        if (!skip_quoted_string(q, e)) return false;
      } else {
        const char* const pv = q;
        q = skip_token(q, e);
        if (q == pv) return false;
      }
      has_params = true;
      p = q;
    }
    if (token_is(coding, "chunked")) {
      if (has_params) return false;  // chunked takes no parameters
      if (s.te_chunked) s.te_duplicate_chunked = true;
      s.te_chunked = true;
      s.te_last_chunked = true;
    } else {
      s.te_other = true;
      s.te_last_chunked = false;
    }
    p = skip_ows(p, e);
    if (p == e) return true;
    if (*p != ',') return false;
    p = skip_ows(p + 1, e);
  }
}

// Connection = #connection-option (tokens). Empty elements are ignored as RFC 9110 §5.6.1 asks.
bool parse_connection(std::string_view v, FieldSummary& s) noexcept {
  const char* p = v.data();
  const char* const e = p + v.size();
  for (;;) {
    p = skip_ows(p, e);
    if (p == e) return true;
    if (*p == ',') {
      ++p;
      continue;
    }
    const char* const t = p;
    p = skip_token(p, e);
    if (p == t) return false;
    const std::string_view token(t, static_cast<std::size_t>(p - t));
    if (token_is(token, "close")) s.conn_close = true;
    else if (token_is(token, "keep-alive")) s.conn_keep_alive = true;
    else if (token_is(token, "upgrade")) s.conn_upgrade = true;
    p = skip_ows(p, e);
    if (p < e && *p != ',') return false;
  }
}

}  // namespace

// uri-host [ ":" port ] where uri-host is reg-name, IPv4address or "[" IPv6 "]" (IPvFuture is
// refused). Rejects whitespace, userinfo, paths and CTLs by construction. An empty port is refused.
bool valid_authority(std::string_view h, bool require_port) noexcept {
  const char* p = h.data();
  const char* const e = p + h.size();
  if (p == e) return false;
  if (*p == '[') {
    const char* const s = ++p;
    while (p < e && (is_hex(*p) || *p == ':' || *p == '.')) ++p;
    if (p == e || *p != ']' || p - s < 2) return false;
    if (std::memchr(s, ':', static_cast<std::size_t>(p - s)) == nullptr) return false;
    ++p;
  } else {
    const char* const s = p;
    while (p < e && has_class(*p, k_reg_name)) {
      if (*p == '%') {
        if (e - p < 3 || !is_hex(p[1]) || !is_hex(p[2])) return false;
        p += 3;
      } else {
        ++p;
      }
    }
    if (p == s) return false;
  }
  if (p == e) return !require_port;
  if (*p != ':') return false;
  ++p;
  if (p == e || e - p > 5) return false;
  unsigned port = 0;
  for (; p < e; ++p) {
    if (!is_digit(*p)) return false;
    port = port * 10 + static_cast<unsigned>(*p - '0');
  }
  return port <= 65535;
}

// Interprets one field line. Returns a failure reason, or nullptr.
const char* on_field(FieldSummary& s, std::string_view name, std::string_view value, bool request) noexcept {
  switch (name.size()) {
    case 4:
      if (request && token_is(name, "host")) {
        if (++s.host_count > 1) return "duplicate Host";
        if (!valid_authority(value, false)) return "invalid Host";
        s.host = value;
      }
      break;
    case 6:
      if (token_is(name, "expect") && iequals(value, "100-continue")) s.expect_continue = true;
      break;
    case 7:
      if (token_is(name, "upgrade") && !value.empty()) s.has_upgrade = true;
      break;
    case 10:
      if (token_is(name, "connection") && !parse_connection(value, s)) return "invalid Connection";
      break;
    case 14:
      if (token_is(name, "content-length")) {
        std::uint64_t n = 0;
        if (!parse_content_length(value, n)) return "invalid Content-Length";
        if (s.has_cl && n != s.cl) return "conflicting Content-Length";
        s.has_cl = true;
        s.cl = n;
      }
      break;
    case 17:
      if (token_is(name, "transfer-encoding")) {
        s.has_te = true;
        if (!parse_transfer_encoding(value, s)) return "invalid Transfer-Encoding";
      }
      break;
    default:
      break;
  }
  return nullptr;
}

}  // namespace rampart::http::detail
