// Internal to rampart_http: the byte classes and small grammar pieces of RFC 9110/9112 shared by
// the head parsers (parser.cpp) and the chunked decoder (chunked.cpp). Everything here is
// allocation-free and works on raw [p, end) ranges so the callers can stay single-pass.
#pragma once
#include <array>
#include <bit>
#include <cstdint>
#include <string_view>

namespace rampart::http::detail {

enum : std::uint8_t {
  k_tchar = 1,     // token character (RFC 9110 §5.6.2)
  k_value = 2,     // field-value byte: VCHAR, obs-text, SP, HTAB
  k_target = 4,    // request-target byte: VCHAR except '#' (no obs-text)
  k_hex = 8,       // HEXDIG
  k_reg_name = 16, // reg-name / IPv4 byte: unreserved, sub-delims, '%'
  k_qdtext = 32,   // quoted-string text byte (qdtext)
};

consteval std::array<std::uint8_t, 256> make_char_classes() {
  std::array<std::uint8_t, 256> t{};
  constexpr std::string_view tchar_extra = "!#$%&'*+-.^_`|~";
  constexpr std::string_view reg_extra = "-._~!$&'()*+,;=%";
  for (int c = 0; c < 256; ++c) {
    std::uint8_t v = 0;
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    const bool digit = c >= '0' && c <= '9';
    if (alpha || digit || tchar_extra.find(static_cast<char>(c)) != std::string_view::npos) v |= k_tchar;
    if ((c >= 0x20 && c != 0x7F) || c == '\t') v |= k_value;
    if (c > 0x20 && c < 0x7F && c != '#') v |= k_target;
    if (digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) v |= k_hex;
    if (alpha || digit || reg_extra.find(static_cast<char>(c)) != std::string_view::npos) v |= k_reg_name;
    if (c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5B) || (c >= 0x5D && c <= 0x7E) || c >= 0x80)
      v |= k_qdtext;
    t[static_cast<std::size_t>(c)] = v;
  }
  return t;
}

inline constexpr std::array<std::uint8_t, 256> char_classes = make_char_classes();

inline bool has_class(char c, std::uint8_t cls) noexcept {
  return (char_classes[static_cast<unsigned char>(c)] & cls) != 0;
}
inline bool is_tchar(char c) noexcept { return has_class(c, k_tchar); }
inline bool is_hex(char c) noexcept { return has_class(c, k_hex); }
inline bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }
inline bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

inline unsigned hex_value(char c) noexcept {
  if (c <= '9') return static_cast<unsigned>(c - '0');
  return static_cast<unsigned>((c | 0x20) - 'a' + 10);
}

inline constexpr std::uint64_t k_max_length = std::uint64_t{1} << 62;  // CL and chunk-size cap

// Compares a header name or token (tchar bytes only) with a lowercase literal made of letters,
// digits and '-'. Exact for those inputs: among tchar bytes only 'A'-'Z'/'a'-'z' map to a
// lowercase letter under `| 0x20`, and '-' and digits only to themselves.
inline bool token_is(std::string_view token, std::string_view lower) noexcept {
  if (token.size() != lower.size()) return false;
  for (std::size_t i = 0; i < token.size(); ++i)
    if (static_cast<char>(token[i] | 0x20) != lower[i]) return false;
  return true;
}

// Bit mask with the high bit set in the first byte of the 8 at `p` (in memory order) that is
// < 0x20 or == 0x7F, and possibly in later bytes; 0 if there is none. The classic haszero/hasless
// bit tricks: exact for the lowest flagged byte, which is all we use.
inline std::uint64_t control_bytes(const char* p) noexcept {
  static_assert(std::endian::native == std::endian::little, "byte order of the SWAR scan");
  std::uint64_t x;
  __builtin_memcpy(&x, p, 8);
  constexpr std::uint64_t ones = 0x0101010101010101ULL;
  constexpr std::uint64_t highs = 0x8080808080808080ULL;
  const std::uint64_t lt20 = (x - ones * 0x20) & ~x & highs;
  const std::uint64_t y = x ^ (ones * 0x7F);
  const std::uint64_t eq7f = (y - ones) & ~y & highs;
  return lt20 | eq7f;
}

// Returns the first byte in [q, end) that is not a field-value byte (VCHAR, obs-text, SP, HTAB),
// or `end`. Eight bytes at a time; HTAB is the only control byte stepped over.
inline const char* scan_value(const char* q, const char* end) noexcept {
  for (;;) {
    if (end - q >= 8) {
      const std::uint64_t m = control_bytes(q);
      if (m == 0) {
        q += 8;
        continue;
      }
      q += __builtin_ctzll(m) >> 3;
    } else {
      while (q < end && static_cast<unsigned char>(*q) >= 0x20 && *q != 0x7F) ++q;
    }
    if (q < end && *q == '\t') {
      ++q;
      continue;
    }
    return q;
  }
}

// Returns the first byte in [q, end) that is not a request-target byte (VCHAR except '#'), or
// `end`. Same technique as scan_value.
inline const char* scan_target(const char* q, const char* end) noexcept {
  constexpr std::uint64_t ones = 0x0101010101010101ULL;
  constexpr std::uint64_t highs = 0x8080808080808080ULL;
  while (end - q >= 8) {
    std::uint64_t x;
    __builtin_memcpy(&x, q, 8);
    const std::uint64_t le20 = (x - ones * 0x21) & ~x & highs;
    const std::uint64_t y = x ^ (ones * 0x7F);
    const std::uint64_t z = x ^ (ones * '#');
    const std::uint64_t m = le20 | (x & highs) | ((y - ones) & ~y & highs) | ((z - ones) & ~z & highs);
    if (m != 0) return q + (__builtin_ctzll(m) >> 3);
    q += 8;
  }
  while (q < end && has_class(*q, k_target)) ++q;
  return q;
}

enum class Line : std::uint8_t { field, end, need_more, error };

// Parses one field line, or the empty line ending a field section, at `p`.
// - field: `name`/`value` set (value OWS-trimmed), `p` advanced past the CRLF;
// - end: the empty line; `p` advanced past it;
// - need_more: the bytes up to `end` are a valid prefix; `p` unchanged;
// - error: `reason` set (static text); `p` unchanged.
inline Line parse_field_line(const char*& p, const char* end, std::string_view& name, std::string_view& value,
                             const char*& reason) noexcept {
  const char* q = p;
  if (q == end) return Line::need_more;
  const char c = *q;
  if (c == '\r') {
    if (q + 1 == end) return Line::need_more;
    if (q[1] != '\n') { reason = "bare CR"; return Line::error; }
    p = q + 2;
    return Line::end;
  }
  if (c == '\n') { reason = "bare LF"; return Line::error; }
  if (is_ows(c)) { reason = "obs-fold"; return Line::error; }

  const char* const n = q;
  while (q < end && is_tchar(*q)) ++q;
  if (q == end) return Line::need_more;
  if (*q != ':' || q == n) {
    if (q == n) reason = "empty or invalid field name";
    else if (is_ows(*q)) reason = "whitespace before colon";
    else if (*q == '\n') reason = "bare LF";
    else if (*q == '\r') reason = "field line without colon";
    else reason = "invalid field name";
    return Line::error;
  }
  name = std::string_view(n, static_cast<std::size_t>(q - n));
  ++q;
  while (q < end && is_ows(*q)) ++q;
  const char* const v = q;
  q = scan_value(q, end);
  if (q == end) return Line::need_more;
  if (*q != '\r') {
    if (*q == '\n') reason = "bare LF";
    else if (*q == '\0') reason = "NUL in field value";
    else reason = "invalid character in field value";
    return Line::error;
  }
  if (q + 1 == end) return Line::need_more;
  if (q[1] != '\n') { reason = "bare CR"; return Line::error; }
  const char* ve = q;
  while (ve > v && is_ows(ve[-1])) --ve;
  value = std::string_view(v, static_cast<std::size_t>(ve - v));
  p = q + 2;
  return Line::field;
}

// Parses a quoted-string starting at `p` (which must point at DQUOTE). On success advances `p`
// past the closing DQUOTE and returns true.
inline bool skip_quoted_string(const char*& p, const char* end) noexcept {
  const char* q = p + 1;
  while (q < end) {
    const char c = *q;
    if (c == '"') { p = q + 1; return true; }
    if (c == '\\') {
      if (q + 1 == end) return false;
      const char e = q[1];
      if (!(e == '\t' || e == ' ' || (static_cast<unsigned char>(e) > 0x20 && e != 0x7F))) return false;
      q += 2;
      continue;
    }
    if (!has_class(c, k_qdtext)) return false;
    ++q;
  }
  return false;
}

}  // namespace rampart::http::detail
