// Access-log line formatting: field names, the compiled field selection, JSON escaping and one
// line per record. No allocation beyond growing the caller's string.
#include "observe/access_log.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace rampart::observe {
namespace {

constexpr std::array<std::string_view, kFieldCount> kFieldNames = {
    "ts",           "request_id",     "client_ip",   "client_port",         "method",
    "scheme",       "host",           "path",        "protocol",            "status",
    "bytes_received", "bytes_sent",   "duration_s",  "upstream_duration_s", "route",
    "upstream",     "upstream_addr",  "upstream_status", "flags",           "tls_version",
    "user_agent",   "referer",
};
static_assert(static_cast<std::size_t>(Field::referer) + 1 == kFieldCount);

constexpr char kHex[] = "0123456789abcdef";

// Bytes written to a JSON string unchanged: printable ASCII except the quote and the backslash.
constexpr std::array<bool, 256> kPlain = [] {
  std::array<bool, 256> t{};
  for (int c = 0x20; c < 0x80; ++c) t[static_cast<std::size_t>(c)] = c != '"' && c != '\\';
  return t;
}();

bool is_cont(unsigned char c) { return (c & 0xC0) == 0x80; }

// Length of the valid UTF-8 sequence starting at in[i] (a byte >= 0x80), or 0 if it is not the
// start of one (overlong forms, surrogates and code points above U+10FFFF are invalid).
std::size_t utf8_sequence(std::string_view in, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(in[i + k]); };
  const std::size_t left = in.size() - i;
  const unsigned char c = b(0);
  if (c >= 0xC2 && c <= 0xDF) return left >= 2 && is_cont(b(1)) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (left < 3) return 0;
    const unsigned char c1 = b(1);
    const unsigned char lo = c == 0xE0 ? 0xA0 : 0x80;
    const unsigned char hi = c == 0xED ? 0x9F : 0xBF;
    return c1 >= lo && c1 <= hi && is_cont(b(2)) ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (left < 4) return 0;
    const unsigned char c1 = b(1);
    const unsigned char lo = c == 0xF0 ? 0x90 : 0x80;
    const unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;
    return c1 >= lo && c1 <= hi && is_cont(b(2)) && is_cont(b(3)) ? 4 : 0;
  }
  return 0;
}

// True when all eight bytes at `p` are printable ASCII other than '"' and '\\' (SWAR: a byte
// is flagged when it is below 0x20, has its top bit set, or equals either character).
bool plain8(const char* p) {
  std::uint64_t w;
  std::memcpy(&w, p, 8);
  constexpr std::uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
  const auto zero_byte = [&](std::uint64_t v) { return (v - ones) & ~v & high; };
  const std::uint64_t below_space = (w - ones * 0x20) & ~w & high;  // bytes < 0x20 (top bit clear)
  const std::uint64_t special = zero_byte(w ^ (ones * '"')) | zero_byte(w ^ (ones * '\\'));
  return ((w & high) | below_space | special) == 0;
}

char* escape_slow(std::string_view in, std::size_t i, char* p);

// The line is written through a raw pointer into a buffer sized for the worst case first (every
// string byte escaped as \u00XX): one bound computation and no capacity check per character.
char* escape_to(std::string_view in, char* p) {
  // Most values need no escaping at all: find the first byte that does, copy up to it at once.
  std::size_t i = 0;
  while (i + 8 <= in.size() && plain8(in.data() + i)) i += 8;
  while (i < in.size() && kPlain[static_cast<unsigned char>(in[i])]) ++i;
  if (i == in.size()) {
    if (i != 0) std::memcpy(p, in.data(), i);  // an empty view may have no data pointer at all
    return p + i;
  }
  return escape_slow(in, i, p);
}

// From `i`, the first byte that may need escaping (the bytes before it are plain).
char* escape_slow(std::string_view in, std::size_t i, char* p) {
  std::size_t run = 0;  // start of the pending run of bytes copied verbatim
  const auto flush = [&] {
    if (i > run) {
      std::memcpy(p, in.data() + run, i - run);
      p += i - run;
    }
  };
  while (i < in.size()) {
    // Fast path: a run of printable ASCII other than '"' and '\\' is copied as it is, eight
    // bytes at a time while they all are (most fields are all plain), then byte by byte.
    while (i + 8 <= in.size() && plain8(in.data() + i)) i += 8;
    while (i < in.size() && kPlain[static_cast<unsigned char>(in[i])]) ++i;
    if (i == in.size()) break;
    const auto c = static_cast<unsigned char>(in[i]);
    if (c >= 0x80) {
      if (const std::size_t n = utf8_sequence(in, i)) {
        i += n;
        continue;
      }
    }
    flush();
    *p++ = '\\';
    switch (c) {
      case '"': *p++ = '"'; break;
      case '\\': *p++ = '\\'; break;
      case '\b': *p++ = 'b'; break;
      case '\f': *p++ = 'f'; break;
      case '\n': *p++ = 'n'; break;
      case '\r': *p++ = 'r'; break;
      case '\t': *p++ = 't'; break;
      default:  // other control characters, invalid UTF-8 bytes
        *p++ = 'u';
        *p++ = '0';
        *p++ = '0';
        *p++ = kHex[c >> 4];
        *p++ = kHex[c & 0xF];
        break;
    }
    ++i;
    run = i;
  }
  flush();
  return p;
}

char* put(std::string_view s, char* p) {
  std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

char* put_string(std::string_view s, char* p) {
  *p++ = '"';
  p = escape_to(s, p);
  *p++ = '"';
  return p;
}

template <typename Int>
char* put_int(Int v, char* p) {
  return std::to_chars(p, p + 24, v).ptr;
}

// Seconds with microsecond precision ("0.001234"); negative or non-finite values read as 0.
char* put_seconds(double v, char* p) {
  if (!std::isfinite(v) || v < 0 || v > 1e12) v = 0;
  const auto us = static_cast<std::uint64_t>(v * 1e6 + 0.5);  // v >= 0: rounds half up, as llround
  p = std::to_chars(p, p + 24, us / 1000000).ptr;
  *p++ = '.';
  auto frac = static_cast<unsigned>(us % 1000000);
  for (int i = 5; i >= 0; --i) {
    p[i] = static_cast<char>('0' + frac % 10);
    frac /= 10;
  }
  return p + 6;
}

void put_digits(unsigned v, int width, char* dst) {
  for (int i = width - 1; i >= 0; --i) {
    dst[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
}

// "2026-11-28T08:40:01.123Z" (UTC, milliseconds; years outside 0..9999 clamp to that range).
// Lines of one millisecond share the text: the last one is kept per thread.
char* put_ts(std::chrono::system_clock::time_point tp, char* p) {
  using namespace std::chrono;
  const auto ms = floor<milliseconds>(tp);
  thread_local milliseconds::rep cached_ms = -1;
  thread_local char cached[26];
  if (ms.time_since_epoch().count() == cached_ms) return put(std::string_view(cached, 26), p);
  const auto day = floor<days>(ms);
  const year_month_day ymd{day};
  const hh_mm_ss<milliseconds> hms{ms - day};
  int y = static_cast<int>(ymd.year());
  y = y < 0 ? 0 : (y > 9999 ? 9999 : y);
  char buf[26] = "\"0000-00-00T00:00:00.000Z";
  put_digits(static_cast<unsigned>(y), 4, buf + 1);
  put_digits(static_cast<unsigned>(ymd.month()), 2, buf + 6);
  put_digits(static_cast<unsigned>(ymd.day()), 2, buf + 9);
  put_digits(static_cast<unsigned>(hms.hours().count()), 2, buf + 12);
  put_digits(static_cast<unsigned>(hms.minutes().count()), 2, buf + 15);
  put_digits(static_cast<unsigned>(hms.seconds().count()), 2, buf + 18);
  put_digits(static_cast<unsigned>(hms.subseconds().count()), 3, buf + 21);
  buf[25] = '"';
  std::memcpy(cached, buf, 26);
  cached_ms = ms.time_since_epoch().count();
  return put(std::string_view(buf, 26), p);
}

char* put_field(Field f, const AccessRecord& r, bool query, char* p) {
  switch (f) {
    case Field::ts: return put_ts(r.ts, p);
    case Field::request_id: return put_string(r.request_id, p);
    case Field::client_ip: return put_string(r.client_ip, p);
    case Field::client_port: return put_int(r.client_port, p);
    case Field::method: return put_string(r.method, p);
    case Field::scheme: return put_string(r.scheme, p);
    case Field::host: return put_string(r.host, p);
    case Field::path:
      *p++ = '"';
      p = escape_to(r.path, p);
      if (query && !r.query.empty()) {
        *p++ = '?';
        p = escape_to(r.query, p);
      }
      *p++ = '"';
      return p;
    case Field::protocol: return put_string(r.protocol, p);
    case Field::status: return put_int(r.status, p);
    case Field::bytes_received: return put_int(r.bytes_received, p);
    case Field::bytes_sent: return put_int(r.bytes_sent, p);
    case Field::duration_s: return put_seconds(r.duration_s, p);
    case Field::upstream_duration_s:
      return r.upstream_duration_s ? put_seconds(*r.upstream_duration_s, p) : put("null", p);
    case Field::route: return put_string(r.route, p);
    case Field::upstream: return put_string(r.upstream, p);
    case Field::upstream_addr: return put_string(r.upstream_addr, p);
    case Field::upstream_status: return r.upstream_status != 0 ? put_int(r.upstream_status, p) : put("null", p);
    case Field::flags: return put_string(r.flags, p);
    case Field::tls_version: return r.tls_version.empty() ? put("null", p) : put_string(r.tls_version, p);
    case Field::user_agent: return put_string(r.user_agent, p);
    case Field::referer: return put_string(r.referer, p);
  }
  return put("null", p);  // unreachable for valid enumerators; keeps the line valid JSON
}

}  // namespace

std::optional<Field> field_from_name(std::string_view name) {
  for (std::size_t i = 0; i < kFieldCount; ++i) {
    if (kFieldNames[i] == name) return static_cast<Field>(i);
  }
  return std::nullopt;
}

std::string_view field_name(Field f) {
  const auto i = static_cast<std::size_t>(f);
  return i < kFieldCount ? kFieldNames[i] : std::string_view{};
}

FieldSet FieldSet::from(const config::AccessLogSpec& spec) {
  FieldSet set;
  set.query = spec.query;
  if (spec.fields.empty()) {
    set.order.reserve(kFieldCount);
    for (std::size_t i = 0; i < kFieldCount; ++i) set.order.push_back(static_cast<Field>(i));
  } else {
    set.order.reserve(spec.fields.size());
    for (const auto& name : spec.fields) {
      if (auto f = field_from_name(name)) set.order.push_back(*f);  // validated upstream; skip unknown
    }
  }
  set.fixed_bound = 3;  // "{" (when no field), "}\n"
  for (std::size_t i = 0; i < set.order.size(); ++i) {
    std::string key(i == 0 ? "{\"" : ",\"");
    key.append(field_name(set.order[i])).append("\":");
    set.fixed_bound += key.size() + 34;  // a number, null or the timestamp; the quotes and '?' of strings
    set.keys.push_back(std::move(key));
  }
  return set;
}

void json_escape(std::string_view in, std::string& out) {
  const std::size_t start = out.size();
  out.resize(start + 6 * in.size());
  char* end = escape_to(in, out.data() + start);
  out.resize(static_cast<std::size_t>(end - out.data()));
}

std::size_t format_into(const AccessRecord& r, const FieldSet& fields, std::string& buf) {
  // Every string escaped at worst as \u00XX (6 bytes a byte), whichever fields are chosen.
  const std::size_t strings = r.request_id.size() + r.client_ip.size() + r.method.size() + r.scheme.size() +
                              r.host.size() + r.path.size() + r.query.size() + r.protocol.size() +
                              r.route.size() + r.upstream.size() + r.upstream_addr.size() + r.flags.size() +
                              r.tls_version.size() + r.user_agent.size() + r.referer.size();
  const std::size_t bound = fields.fixed_bound + 6 * strings;
  if (buf.size() < bound) buf.resize(bound);  // grows only: no fill between lines
  char* const start = buf.data();
  char* p = start;
  const bool keyed = fields.keys.size() == fields.order.size();
  for (std::size_t i = 0; i < fields.order.size(); ++i) {
    const Field f = fields.order[i];
    if (keyed) {
      p = put(fields.keys[i], p);
    } else {
      *p++ = i == 0 ? '{' : ',';
      *p++ = '"';
      p = put(field_name(f), p);
      *p++ = '"';
      *p++ = ':';
    }
    p = put_field(f, r, fields.query, p);
  }
  if (fields.order.empty()) *p++ = '{';
  *p++ = '}';
  *p++ = '\n';
  return static_cast<std::size_t>(p - start);
}

void format_line(const AccessRecord& r, const FieldSet& fields, std::string& out) {
  out.resize(format_into(r, fields, out));
}

}  // namespace rampart::observe
