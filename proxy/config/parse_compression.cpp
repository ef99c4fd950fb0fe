// The body of a `compression:` policy: `true` for every default, or
//   {algorithms: [br, gzip], gzip_level: 1..9, brotli_level: 0..11, min_length: <size>,
//    content_types: [type/subtype | type/*, ...]}
#include "config/parse.hpp"

#include <algorithm>

namespace rampart::config::detail {
namespace {

const std::vector<std::string>& algorithm_names() {
  static const std::vector<std::string> names{"br", "gzip"};
  return names;
}

// Responses this large and more are the norm; the bound only catches typos like "10g".
constexpr std::uint64_t kMaxMinLength = std::uint64_t{1} << 30;

// "type/subtype" with both parts HTTP tokens, or "type/*"; no parameters.
bool valid_media_type(std::string_view s) {
  const auto slash = s.find('/');
  if (slash == std::string_view::npos) return false;
  const std::string_view type = s.substr(0, slash);
  const std::string_view subtype = s.substr(slash + 1);
  return is_token(type) && type != "*" && (subtype == "*" || is_token(subtype)) &&
         type.find('*') == std::string_view::npos && (subtype == "*" || subtype.find('*') == std::string_view::npos);
}

void read_algorithms(Reader& r, const Value& v, CompressionSpec& c) {
  auto items = read_string_or_list(r, v);
  if (!items) return;
  std::vector<std::string> out;
  for (const Value& item : *items) {
    auto s = read_nonempty_string(r, item);
    if (!s) continue;
    const std::string name = to_lower(*s);
    if (std::find(algorithm_names().begin(), algorithm_names().end(), name) == algorithm_names().end()) {
      r.error(item.mark, item.path,
              "unknown algorithm '" + *s + "'" + did_you_mean(name, algorithm_names()) + ": expected br or gzip");
      continue;
    }
    if (std::find(out.begin(), out.end(), name) != out.end()) {
      r.error(item.mark, item.path, "algorithm '" + name + "' is listed twice");
      continue;
    }
    out.push_back(name);
  }
  if (items->empty()) r.error(v.mark, v.path, "algorithms must list at least one of br, gzip");
  else if (!out.empty()) c.algorithms = std::move(out);
}

void read_content_types(Reader& r, const Value& v, CompressionSpec& c) {
  auto items = read_string_or_list(r, v);
  if (!items) return;
  std::vector<std::string> out;
  for (const Value& item : *items) {
    auto s = read_nonempty_string(r, item);
    if (!s) continue;
    const std::string type = to_lower(*s);
    if (!valid_media_type(type)) {
      r.error(item.mark, item.path,
              "bad media type '" + *s + "' (expected type/subtype like text/html, or type/* like text/*, without parameters)");
      continue;
    }
    if (std::find(out.begin(), out.end(), type) != out.end()) {
      r.error(item.mark, item.path, "media type '" + type + "' is listed twice");
      continue;
    }
    out.push_back(type);
  }
  if (items->empty()) r.error(v.mark, v.path, "content_types must list at least one media type");
  else if (!out.empty()) c.content_types = std::move(out);
}

}  // namespace

CompressionSpec parse_compression(Reader& r, const Value& v) {
  CompressionSpec c;
  bool is_map = false;
  if (auto on = read_switch(r, v, is_map)) {
    if (!*on)
      r.error(v.mark, v.path,
              "compression: false turns nothing on: leave the policy out, or list it in a route's without");
    return c;
  }
  if (!is_map) return c;
  MapView m(r, v, {"algorithms", "gzip_level", "brotli_level", "min_length", "content_types"});
  if (!m.ok()) return c;
  if (auto x = m.get("algorithms")) read_algorithms(r, *x, c);
  assign(m, "gzip_level", c.gzip_level, [&](const Value& x) { return read_uint(r, x, 1, 9); });
  assign(m, "brotli_level", c.brotli_level, [&](const Value& x) { return read_uint(r, x, 0, 11); });
  assign(m, "min_length", c.min_length, [&](const Value& x) { return read_size(r, x, kMaxMinLength); });
  if (auto x = m.get("content_types")) read_content_types(r, *x, c);
  return c;
}

}  // namespace rampart::config::detail
