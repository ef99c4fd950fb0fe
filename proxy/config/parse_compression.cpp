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

// A list of distinct strings, lower-cased: `bad` says what is wrong with an item ("" when
// nothing is), `noun` names an item in the "listed twice" error, `empty` is the error for [].
// nullopt when nothing valid remains (the errors say why).
template <class Bad>
std::optional<std::vector<std::string>> read_distinct(Reader& r, const Value& v, const std::string& noun,
                                                      const std::string& empty, Bad&& bad) {
  auto items = read_string_or_list(r, v);
  if (!items) return std::nullopt;
  std::vector<std::string> out;
  for (const Value& item : *items) {
    auto s = read_nonempty_string(r, item);
    if (!s) continue;
    const std::string lower = to_lower(*s);
    if (const std::string why = bad(lower, *s); !why.empty()) {
      r.error(item.mark, item.path, why);
      continue;
    }
    if (std::find(out.begin(), out.end(), lower) != out.end()) {
      r.error(item.mark, item.path, noun + " '" + lower + "' is listed twice");
      continue;
    }
    out.push_back(lower);
  }
  if (items->empty()) r.error(v.mark, v.path, empty);
  if (out.empty()) return std::nullopt;
  return out;
}

void read_algorithms(Reader& r, const Value& v, CompressionSpec& c) {
  auto names = read_distinct(r, v, "algorithm", "algorithms must list at least one of br, gzip",
                             [](const std::string& name, const std::string& raw) -> std::string {
                               const auto& known = algorithm_names();
                               if (std::find(known.begin(), known.end(), name) != known.end()) return {};
                               return "unknown algorithm '" + raw + "'" + did_you_mean(name, known) +
                                      ": expected br or gzip";
                             });
  if (names) c.algorithms = std::move(*names);
}

void read_content_types(Reader& r, const Value& v, CompressionSpec& c) {
  auto types = read_distinct(r, v, "media type", "content_types must list at least one media type",
                             [](const std::string& type, const std::string& raw) -> std::string {
                               if (valid_media_type(type)) return {};
                               return "bad media type '" + raw +
                                      "' (expected type/subtype like text/html, or type/* like text/*, without "
                                      "parameters)";
                             });
  if (types) c.content_types = std::move(*types);
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
