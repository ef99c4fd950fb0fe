#include "response_plan.hpp"

#include <cstdio>

#include <charconv>

namespace rampart::upstream {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool parse_number(std::string_view s, std::uint64_t& v) {
  if (s.empty()) return false;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  return r.ec == std::errc{} && r.ptr == s.data() + s.size();
}

bool parse_flag(std::string_view s) { return !(s == "0" || s == "false" || s == "no"); }

std::optional<malformed_kind> parse_malformed(std::string_view s) {
  if (s == "cl_te") return malformed_kind::cl_te;
  if (s == "bare_lf") return malformed_kind::bare_lf;
  if (s == "obs_fold") return malformed_kind::obs_fold;
  if (s == "bad_chunk") return malformed_kind::bad_chunk;
  if (s == "dup_cl") return malformed_kind::dup_cl;
  if (s == "nul") return malformed_kind::nul;
  if (s == "short") return malformed_kind::short_body;
  return std::nullopt;
}

}  // namespace

void url_decode_append(std::string_view in, std::string& out) {
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%' && i + 2 < in.size() && hex_value(in[i + 1]) >= 0 &&
               hex_value(in[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
}

bool parse_query(std::string_view query, response_plan& plan, std::string& extra_headers,
                 std::string& error) {
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;
    const std::size_t eq = pair.find('=');
    const std::string_view key = pair.substr(0, eq);
    const std::string_view value =
        eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);

    std::uint64_t n = 0;
    auto number = [&](std::uint64_t lo, std::uint64_t hi) {
      if (!parse_number(value, n) || n < lo || n > hi) {
        error.assign("invalid value for ").append(key);
        return false;
      }
      return true;
    };

    if (key == "json") {
      if (!number(0, max_json_size)) return false;
      plan.json = n;
    } else if (key == "size") {
      if (!number(0, max_body_size)) return false;
      plan.size = n;
    } else if (key == "status") {
      if (!number(100, 999)) return false;
      plan.status = static_cast<unsigned>(n);
    } else if (key == "delay") {
      if (!number(0, 3600 * 1000)) return false;
      plan.delay_ms = n;
    } else if (key == "delay_body") {
      if (!number(0, 3600 * 1000)) return false;
      plan.delay_body_ms = n;
    } else if (key == "chunked") {
      plan.chunked = parse_flag(value);
    } else if (key == "chunk") {
      if (!number(1, max_body_size)) return false;
      plan.chunk = n;
    } else if (key == "close") {
      plan.close = parse_flag(value);
    } else if (key == "drop") {
      plan.drop = parse_flag(value);
    } else if (key == "malformed") {
      const auto kind = parse_malformed(value);
      if (!kind) {
        error = "unknown malformed kind";
        return false;
      }
      plan.malformed = *kind;
    } else if (key == "type") {
      plan.content_type.clear();
      url_decode_append(value, plan.content_type);
      for (char c : plan.content_type) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          error = "type must be printable";
          return false;
        }
      }
    } else if (key == "header" || key == "trailer") {
      std::string& lines = key == "header" ? extra_headers : plan.trailers;  // same checks for both
      const std::size_t start = lines.size();
      url_decode_append(value, lines);
      // Drop CR/LF so a parameter can never start another header line or end the head.
      std::size_t w = start;
      for (std::size_t r = start; r < lines.size(); ++r)
        if (lines[r] != '\r' && lines[r] != '\n') lines[w++] = lines[r];
      lines.resize(w);
      const std::size_t colon = lines.find(':', start);
      if (colon == std::string::npos || colon == start) {
        lines.resize(start);
        error = std::string(key) + " parameter must be Name:Value";
        return false;
      }
      // Normalise "Name:Value" / "Name: Value" to "Name: Value".
      std::size_t v = colon + 1;
      while (v < lines.size() && (lines[v] == ' ' || lines[v] == '\t')) ++v;
      lines.replace(colon + 1, v - colon - 1, " ");
      lines.append("\r\n");
    }
  }
  return true;
}

void append_json_body(std::uint64_t size, std::string& out) {
  static constexpr const char* first[] = {"ada", "grace", "linus", "ken", "barbara", "edsger", "donald", "radia",
                                          "frances", "john", "margaret", "dennis", "leslie", "tony", "alan", "niklaus"};
  static constexpr const char* cities[] = {"Lisbon", "Oslo", "Nairobi", "Lima", "Osaka", "Quebec", "Tbilisi", "Perth"};
  const std::size_t start = out.size();
  std::uint64_t x = 0x2545F4914F6CDD1DULL;  // xorshift state: deterministic, varied values
  auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  out += '[';
  char buf[512];
  for (unsigned id = 1; out.size() - start < size; ++id) {
    const std::uint64_t r = next();
    const int n = std::snprintf(
        buf, sizeof buf,
        "%s{\"id\":%u,\"name\":\"%s %c.\",\"email\":\"%s.%u@example.com\",\"city\":\"%s\",\"active\":%s,"
        "\"score\":%u.%02u,\"visits\":%u,\"token\":\"%016llx\",\"tags\":[\"t%u\",\"t%u\"]}",
        id == 1 ? "" : ",", id, first[r % 16], static_cast<char>('A' + (r >> 8) % 26), first[(r >> 12) % 16], id,
        cities[(r >> 16) % 8], (r >> 20) & 1 ? "true" : "false", static_cast<unsigned>((r >> 24) % 100),
        static_cast<unsigned>((r >> 32) % 100), static_cast<unsigned>((r >> 40) % 5000),
        static_cast<unsigned long long>(next()), static_cast<unsigned>((r >> 48) % 20),
        static_cast<unsigned>((r >> 56) % 20));
    out.append(buf, static_cast<std::size_t>(n));
  }
  out.resize(start + size);
}

}  // namespace rampart::upstream
