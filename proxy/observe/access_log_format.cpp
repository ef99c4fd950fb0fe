// Access-log line formatting: field names, the compiled field selection, JSON escaping and one
// line per record. No allocation beyond growing the caller's string.
#include "observe/access_log.hpp"

#include <array>
#include <charconv>
#include <cmath>

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

void append_u00(unsigned char c, std::string& out) {
  const char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
  out.append(esc, sizeof esc);
}

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

void append_string(std::string_view s, std::string& out) {
  out.push_back('"');
  json_escape(s, out);
  out.push_back('"');
}

template <typename Int>
void append_int(Int v, std::string& out) {
  char buf[24];
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, res.ptr);
}

// Seconds with microsecond precision ("0.001234"); negative or non-finite values read as 0.
void append_seconds(double v, std::string& out) {
  if (!std::isfinite(v) || v < 0) v = 0;
  char buf[48];
  const auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 6);
  if (res.ec != std::errc{}) {
    out.append("0.000000");
    return;
  }
  out.append(buf, res.ptr);
}

void append_digits(unsigned v, int width, char* dst) {
  for (int i = width - 1; i >= 0; --i) {
    dst[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
}

// "2026-11-28T08:40:01.123Z" (UTC, milliseconds; years outside 0..9999 clamp to that range).
void append_ts(std::chrono::system_clock::time_point tp, std::string& out) {
  using namespace std::chrono;
  const auto ms = floor<milliseconds>(tp);
  const auto day = floor<days>(ms);
  const year_month_day ymd{day};
  const hh_mm_ss<milliseconds> hms{ms - day};
  int y = static_cast<int>(ymd.year());
  y = y < 0 ? 0 : (y > 9999 ? 9999 : y);
  char buf[26] = "0000-00-00T00:00:00.000Z\"";
  append_digits(static_cast<unsigned>(y), 4, buf);
  append_digits(static_cast<unsigned>(ymd.month()), 2, buf + 5);
  append_digits(static_cast<unsigned>(ymd.day()), 2, buf + 8);
  append_digits(static_cast<unsigned>(hms.hours().count()), 2, buf + 11);
  append_digits(static_cast<unsigned>(hms.minutes().count()), 2, buf + 14);
  append_digits(static_cast<unsigned>(hms.seconds().count()), 2, buf + 17);
  append_digits(static_cast<unsigned>(hms.subseconds().count()), 3, buf + 20);
  out.push_back('"');
  out.append(buf, 25);  // the date-time, 'Z' and the closing quote
}

void append_field(Field f, const AccessRecord& r, bool query, std::string& out) {
  switch (f) {
    case Field::ts: return append_ts(r.ts, out);
    case Field::request_id: return append_string(r.request_id, out);
    case Field::client_ip: return append_string(r.client_ip, out);
    case Field::client_port: return append_int(r.client_port, out);
    case Field::method: return append_string(r.method, out);
    case Field::scheme: return append_string(r.scheme, out);
    case Field::host: return append_string(r.host, out);
    case Field::path:
      out.push_back('"');
      json_escape(r.path, out);
      if (query && !r.query.empty()) {
        out.push_back('?');
        json_escape(r.query, out);
      }
      out.push_back('"');
      return;
    case Field::protocol: return append_string(r.protocol, out);
    case Field::status: return append_int(r.status, out);
    case Field::bytes_received: return append_int(r.bytes_received, out);
    case Field::bytes_sent: return append_int(r.bytes_sent, out);
    case Field::duration_s: return append_seconds(r.duration_s, out);
    case Field::upstream_duration_s:
      if (r.upstream_duration_s) return append_seconds(*r.upstream_duration_s, out);
      out.append("null");
      return;
    case Field::route: return append_string(r.route, out);
    case Field::upstream: return append_string(r.upstream, out);
    case Field::upstream_addr: return append_string(r.upstream_addr, out);
    case Field::upstream_status:
      if (r.upstream_status != 0) return append_int(r.upstream_status, out);
      out.append("null");
      return;
    case Field::flags: return append_string(r.flags, out);
    case Field::tls_version:
      if (!r.tls_version.empty()) return append_string(r.tls_version, out);
      out.append("null");
      return;
    case Field::user_agent: return append_string(r.user_agent, out);
    case Field::referer: return append_string(r.referer, out);
  }
  out.append("null");  // unreachable for valid enumerators; keeps the line valid JSON
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
    return set;
  }
  set.order.reserve(spec.fields.size());
  for (const auto& name : spec.fields) {
    if (auto f = field_from_name(name)) set.order.push_back(*f);  // validated upstream; skip unknown
  }
  return set;
}

void json_escape(std::string_view in, std::string& out) {
  std::size_t i = 0;
  std::size_t run = 0;  // start of the pending run of bytes copied verbatim
  const auto flush = [&] {
    if (i > run) out.append(in.data() + run, i - run);
  };
  while (i < in.size()) {
    const auto c = static_cast<unsigned char>(in[i]);
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      ++i;
      continue;
    }
    if (c >= 0x80) {
      if (const std::size_t n = utf8_sequence(in, i)) {
        i += n;
        continue;
      }
    }
    flush();
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\b': out.append("\\b"); break;
      case '\f': out.append("\\f"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\t': out.append("\\t"); break;
      default: append_u00(c, out); break;  // other control characters, invalid UTF-8 bytes
    }
    ++i;
    run = i;
  }
  flush();
}

void format_line(const AccessRecord& r, const FieldSet& fields, std::string& out) {
  out.clear();
  out.push_back('{');
  bool first = true;
  for (const Field f : fields.order) {
    if (!first) out.push_back(',');
    first = false;
    out.push_back('"');
    out.append(field_name(f));
    out.append("\":");
    append_field(f, r, fields.query, out);
  }
  out.append("}\n");
}

}  // namespace rampart::observe
