// Parsing of a `rate_limit:` policy body: rate (<count>/<s|m|h>), burst, key parts, status,
// dry_run, headers, max_keys.
#include "config/parse.hpp"

#include <charconv>

namespace rampart::config::detail {
namespace {

constexpr std::uint64_t kMaxCount = 1'000'000'000;  // at most one request per ns on average

// "100/s", "6000/m", "10/h" -> count and per; every error reported at the value.
void read_rate(Reader& r, const Value& v, RateLimitSpec& spec) {
  auto s = read_string(r, v);
  if (!s) return;
  const std::string& text = *s;
  const std::size_t slash = text.find('/');
  const std::string_view digits = std::string_view(text).substr(0, slash);
  std::uint64_t count = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), count);
  const bool number = !digits.empty() && ec == std::errc() && end == digits.data() + digits.size();
  if (number && slash == std::string::npos) {
    r.error(v.mark, v.path, "rate '" + text + "' needs a unit: 100/s, 6000/m or 10/h");
    return;
  }
  const std::string unit = slash == std::string::npos ? std::string() : text.substr(slash + 1);
  if (!number || (unit != "s" && unit != "m" && unit != "h")) {
    r.error(v.mark, v.path, "expected a rate like 100/s, 6000/m or 10/h (a count of requests per second, minute or hour)");
    return;
  }
  if (count == 0) {
    r.error(v.mark, v.path, "rate '" + text + "' allows nothing: the count must be at least 1");
    return;
  }
  if (count > kMaxCount) {
    r.error(v.mark, v.path, "rate count must be at most " + std::to_string(kMaxCount));
    return;
  }
  spec.count = count;
  spec.per = unit == "s" ? Duration(std::chrono::seconds(1)) : unit == "m" ? Duration(std::chrono::minutes(1)) : Duration(std::chrono::hours(1));
}

// client_ip | route | header:<name> | cookie:<name>
std::optional<RateKeyPartSpec> read_key_part(Reader& r, const Value& v) {
  auto s = read_string(r, v);
  if (!s) return std::nullopt;
  RateKeyPartSpec part;
  if (*s == "client_ip") return part;
  if (*s == "route") {
    part.kind = RateKeyPartSpec::Kind::route;
    return part;
  }
  const std::size_t colon = s->find(':');
  const std::string kind = s->substr(0, colon);
  const std::string name = colon == std::string::npos ? std::string() : s->substr(colon + 1);
  if (colon != std::string::npos && (kind == "header" || kind == "cookie")) {
    if (!is_token(name)) {
      r.error(v.mark, v.path, "bad " + kind + " name '" + name + "'");
      return std::nullopt;
    }
    part.kind = kind == "header" ? RateKeyPartSpec::Kind::header : RateKeyPartSpec::Kind::cookie;
    part.name = kind == "header" ? to_lower(name) : name;  // cookie names are case-sensitive
    return part;
  }
  std::vector<std::string> candidates{"client_ip", "route"};
  if (colon != std::string::npos) {
    candidates.push_back("header:" + name);
    candidates.push_back("cookie:" + name);
  }
  r.error(v.mark, v.path,
          "unknown key part '" + *s + "': expected client_ip, route, header:<name> or cookie:<name>" +
              did_you_mean(*s, candidates));
  return std::nullopt;
}

}  // namespace

RateLimitSpec parse_rate_limit(Reader& r, const Value& v) {
  RateLimitSpec spec;
  MapView m(r, v, {"rate", "burst", "key", "status", "dry_run", "headers", "max_keys"});
  if (!m.ok()) return spec;
  if (auto x = m.require("rate")) read_rate(r, *x, spec);
  assign(m, "burst", spec.burst, [&](const Value& x) { return read_uint(r, x, 0, kMaxCount); });
  if (auto x = m.get("key")) {
    if (auto items = read_string_or_list(r, *x)) {
      if (items->empty()) r.error(x->mark, x->path, "a key needs at least one part");
      std::vector<RateKeyPartSpec> key;
      bool ok = true;
      for (const Value& item : *items) {
        auto part = read_key_part(r, item);
        ok = ok && part.has_value();
        if (part) key.push_back(*part);
      }
      if (ok && !key.empty()) spec.key = std::move(key);
    }
  }
  assign(m, "status", spec.status, [&](const Value& x) { return read_uint(r, x, 400, 599); });
  assign(m, "dry_run", spec.dry_run, [&](const Value& x) { return read_bool(r, x); });
  assign(m, "headers", spec.headers, [&](const Value& x) { return read_bool(r, x); });
  assign(m, "max_keys", spec.max_keys, [&](const Value& x) { return read_uint(r, x, 1, 10'000'000); });
  return spec;
}

}  // namespace rampart::config::detail
