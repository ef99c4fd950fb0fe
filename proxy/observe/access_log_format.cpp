// Access-log line formatting: field names, the compiled field selection, JSON escaping and one
// line per record. No allocation beyond growing the caller's string.
#include "observe/access_log.hpp"

#include <array>
#include <utility>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

// True when all eight bytes of `w` are printable ASCII other than '"' and '\\' (SWAR: a byte
// is flagged when it is below 0x20, has its top bit set, or equals either character).
bool plain_word(std::uint64_t w) {
  constexpr std::uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
  const auto zero_byte = [&](std::uint64_t v) { return (v - ones) & ~v & high; };
  const std::uint64_t below_space = (w - ones * 0x20) & ~w & high;  // bytes < 0x20 (top bit clear)
  const std::uint64_t special = zero_byte(w ^ (ones * '"')) | zero_byte(w ^ (ones * '\\'));
  return ((w & high) | below_space | special) == 0;
}

std::uint64_t load8(const char* p) {
  std::uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}

void store8(char* p, std::uint64_t w) { std::memcpy(p, &w, 8); }

// From in[i], the first byte that may need escaping, written at `p`; in[0, i) is written already
// (and plain).
char* escape_slow(std::string_view in, std::size_t i, char* p) {
  std::size_t run = i;  // start of the pending run of bytes copied verbatim
  const auto flush = [&] {
    if (i > run) {
      std::memcpy(p, in.data() + run, i - run);
      p += i - run;
    }
  };
  while (i < in.size()) {
    // A run of printable ASCII other than '"' and '\\' is copied as it is: found eight bytes at a
    // time while they all are, then byte by byte.
    while (i + 8 <= in.size() && plain_word(load8(in.data() + i))) i += 8;
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

// Sixteen bytes, checked together: true when all are printable ASCII other than '"' and '\\'.
#if defined(__SSE2__)
struct Block {
  __m128i v;
};
Block block_load(const char* p) { return {_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))}; }
Block block_of(std::uint64_t lo, std::uint64_t hi) {
  return {_mm_set_epi64x(static_cast<long long>(hi), static_cast<long long>(lo))};
}
void block_store(char* p, Block b) { _mm_storeu_si128(reinterpret_cast<__m128i*>(p), b.v); }
bool plain_block(Block b) {
  // As signed bytes, both the control characters and every byte >= 0x80 are below 0x20.
  const __m128i low = _mm_cmplt_epi8(b.v, _mm_set1_epi8(0x20));
  const __m128i quote = _mm_cmpeq_epi8(b.v, _mm_set1_epi8('"'));
  const __m128i backslash = _mm_cmpeq_epi8(b.v, _mm_set1_epi8('\\'));
  return _mm_movemask_epi8(_mm_or_si128(low, _mm_or_si128(quote, backslash))) == 0;
}
#else
struct Block {
  std::uint64_t lo, hi;
};
Block block_load(const char* p) { return {load8(p), load8(p + 8)}; }
Block block_of(std::uint64_t lo, std::uint64_t hi) { return {lo, hi}; }
void block_store(char* p, Block b) {
  store8(p, b.lo);
  store8(p + 8, b.hi);
}
bool plain_block(Block b) { return plain_word(b.lo) && plain_word(b.hi); }
#endif

// The line is written through a raw pointer into a buffer sized for the worst case first (every
// string byte escaped as \u00XX): one bound computation and no capacity check per character.
//
// Most values need no escaping at all, so the common case copies while it checks, with no call:
// sixteen bytes loaded, checked and stored at a time, and a string's last partial block read as
// the sixteen bytes ending at its end (overlapping bytes already checked and written; never
// outside the string). Strings of 4 to 15 bytes are two overlapping words checked as one block.
// Anything that needs escaping hands over to escape_slow at the first byte not yet written.
char* escape_to(std::string_view in, char* p) {
  const char* s = in.data();
  const std::size_t n = in.size();
  if (n >= 16) {
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
      const Block b = block_load(s + i);
      if (!plain_block(b)) return escape_slow(in, i, p + i);
      block_store(p + i, b);
    }
    if (i < n) {
      const Block b = block_load(s + n - 16);
      if (!plain_block(b)) return escape_slow(in, i, p + i);
      block_store(p + n - 16, b);
    }
    return p + n;
  }
  if (n >= 8) {
    const std::uint64_t a = load8(s), b = load8(s + n - 8);
    if (!plain_block(block_of(a, b))) return escape_slow(in, 0, p);
    store8(p, a);
    store8(p + n - 8, b);
    return p + n;
  }
  if (n >= 4) {
    std::uint32_t a, b;
    std::memcpy(&a, s, 4);
    std::memcpy(&b, s + n - 4, 4);
    if (!plain_word(a | std::uint64_t{b} << 32)) return escape_slow(in, 0, p);
    std::memcpy(p, &a, 4);
    std::memcpy(p + n - 4, &b, 4);
    return p + n;
  }
  for (std::size_t i = 0; i < n; ++i) {
    const char c = s[i];
    if (!kPlain[static_cast<unsigned char>(c)]) return escape_slow(in, i, p + i);
    p[i] = c;
  }
  return p + n;
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

constexpr char kPairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

// Seconds with microsecond precision ("0.001234"); negative or non-finite values read as 0.
char* put_seconds(double v, char* p) {
  if (!std::isfinite(v) || v < 0 || v > 1e12) v = 0;
  const auto us = static_cast<std::uint64_t>(v * 1e6 + 0.5);  // v >= 0: rounds half up, as llround
  const std::uint64_t whole = us / 1000000;
  if (whole < 10) *p++ = static_cast<char>('0' + whole);  // nearly always
  else p = std::to_chars(p, p + 24, whole).ptr;
  auto frac = static_cast<unsigned>(us % 1000000);
  *p = '.';
  for (int i = 5; i > 0; i -= 2) {  // three digit pairs, from the right
    std::memcpy(p + i, kPairs + 2 * (frac % 100), 2);
    frac /= 100;
  }
  return p + 7;
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

// Inlined everywhere: with a constant field (format_all) the switch folds away.
[[gnu::always_inline]] inline char* put_field(Field f, const AccessRecord& r, bool query, char* p) {
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

// A field's key as written, with what comes before it ("{\"ts\":", ",\"status\":"), built at
// compile time.
struct KeyText {
  std::array<char, 32> text{};
  std::size_t size = 0;
};
constexpr KeyText key_text(std::size_t index) {
  KeyText k;
  const auto add = [&](std::string_view part) {
    for (char c : part) k.text[k.size++] = c;
  };
  add(index == 0 ? "{\"" : ",\"");
  add(kFieldNames[index]);
  add("\":");
  return k;
}

template <std::size_t I>
char* put_keyed(const AccessRecord& r, bool query, char* p) {
  static constexpr KeyText k = key_text(I);
  std::memcpy(p, k.text.data(), k.size);  // a constant size: immediate stores
  return put_field(static_cast<Field>(I), r, query, p + k.size);
}

// The default line (every field, in the default order) written straight through: no per-field
// dispatch, no key table.
template <std::size_t... I>
char* format_all(const AccessRecord& r, bool query, char* p, std::index_sequence<I...>) {
  ((p = put_keyed<I>(r, query, p)), ...);
  return p;
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
  set.all_in_order = set.order.size() == kFieldCount;
  for (std::size_t i = 0; set.all_in_order && i < kFieldCount; ++i)
    set.all_in_order = set.order[i] == static_cast<Field>(i);
  set.fixed_bound = 3 + 32;  // "{" (when no field), "}\n"; a key block's bytes past the last key
  for (std::size_t i = 0; i < set.order.size(); ++i) {
    std::string key(i == 0 ? "{\"" : ",\"");
    key.append(field_name(set.order[i])).append("\":");
    FieldSet::Key k;
    static_assert(sizeof k.text > sizeof ",\"upstream_duration_s\":");  // the longest key
    std::memcpy(k.text.data(), key.data(), key.size());
    k.size = static_cast<std::uint8_t>(key.size());
    set.fixed_bound += key.size() + 34;  // a number, null or the timestamp; the quotes and '?' of strings
    set.keys.push_back(k);
  }
  return set;
}

void json_escape(std::string_view in, std::string& out) {
  const std::size_t start = out.size();
  out.resize(start + 6 * in.size());
  char* end = escape_to(in, out.data() + start);
  out.resize(static_cast<std::size_t>(end - out.data()));
}

std::size_t line_bound(const AccessRecord& r, const FieldSet& fields) {
  // Every string escaped at worst as \u00XX (6 bytes a byte), whichever fields are chosen.
  const std::size_t strings = r.request_id.size() + r.client_ip.size() + r.method.size() + r.scheme.size() +
                              r.host.size() + r.path.size() + r.query.size() + r.protocol.size() +
                              r.route.size() + r.upstream.size() + r.upstream_addr.size() + r.flags.size() +
                              r.tls_version.size() + r.user_agent.size() + r.referer.size();
  // A FieldSet not built by from() has no bound of its own: a key is at most 23 bytes.
  const std::size_t fixed = fields.keys.size() == fields.order.size() && fields.fixed_bound != 0
                                ? fields.fixed_bound
                                : 3 + 32 + fields.order.size() * (23 + 34);
  return fixed + 6 * strings;
}

char* format_to(const AccessRecord& r, const FieldSet& fields, char* p) {
  if (fields.all_in_order) {
    p = format_all(r, fields.query, p, std::make_index_sequence<kFieldCount>{});
    *p++ = '}';
    *p++ = '\n';
    return p;
  }
  // Held in locals: the line's stores go through a char*, which may alias anything, and would
  // otherwise reload the vectors' bounds after every byte written.
  const Field* const order = fields.order.data();
  const std::size_t count = fields.order.size();
  const FieldSet::Key* const keys = fields.keys.data();
  const bool keyed = fields.keys.size() == count;
  const bool query = fields.query;
  for (std::size_t i = 0; i < count; ++i) {
    const Field f = order[i];
    if (keyed) {
      const FieldSet::Key& k = keys[i];
      std::memcpy(p, k.text.data(), sizeof k.text);  // whole block: two vector moves, no call
      p += k.size;
    } else {
      *p++ = i == 0 ? '{' : ',';
      *p++ = '"';
      p = put(field_name(f), p);
      *p++ = '"';
      *p++ = ':';
    }
    p = put_field(f, r, query, p);
  }
  if (count == 0) *p++ = '{';
  *p++ = '}';
  *p++ = '\n';
  return p;
}

std::size_t format_into(const AccessRecord& r, const FieldSet& fields, std::string& buf) {
  const std::size_t bound = line_bound(r, fields);
  if (buf.size() < bound) buf.resize(bound);  // grows only: no fill between lines
  return static_cast<std::size_t>(format_to(r, fields, buf.data()) - buf.data());
}

void format_line(const AccessRecord& r, const FieldSet& fields, std::string& out) {
  out.resize(format_into(r, fields, out));
}

}  // namespace rampart::observe
