#include "policy/compression.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>

namespace rampart::policy {
namespace {

bool is_ows(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

// RFC 9110 tchar.
bool is_tchar(char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// A qvalue ("0", "0.5", "1.000"; at most three decimals, never above 1) in thousandths, or -1.
int parse_qvalue(std::string_view s) {
  if (s.empty() || (s[0] != '0' && s[0] != '1')) return -1;
  const bool one = s[0] == '1';
  int q = one ? 1000 : 0;
  if (s.size() == 1) return q;
  if (s[1] != '.' || s.size() > 5) return -1;
  int scale = 100;
  for (char c : s.substr(2)) {
    if (c < '0' || c > '9') return -1;
    if (one && c != '0') return -1;
    q += (c - '0') * scale;
    scale /= 10;
  }
  return q;
}

// What one Accept-Encoding member names.
enum class Member : std::uint8_t { other, identity, gzip, br, any };

Member member_name(std::string_view name) {
  if (http::iequals(name, "gzip") || http::iequals(name, "x-gzip")) return Member::gzip;
  if (http::iequals(name, "br")) return Member::br;
  if (http::iequals(name, "identity")) return Member::identity;
  if (name == "*") return Member::any;
  return Member::other;
}

// One list member: "coding" [ OWS ";" OWS "q=" qvalue ]. Its weight in thousandths, or -1 when the
// member is malformed (the caller ignores it).
int member_weight(std::string_view member, std::string_view& name) {
  std::size_t i = 0;
  while (i < member.size() && is_tchar(member[i])) ++i;
  name = member.substr(0, i);
  if (name.empty()) return -1;
  std::string_view rest = trim(member.substr(i));
  if (rest.empty()) return 1000;
  if (rest.front() != ';') return -1;
  rest = trim(rest.substr(1));
  if (rest.size() < 2 || http::ascii_lower(rest[0]) != 'q' || rest[1] != '=') return -1;
  return parse_qvalue(rest.substr(2));
}

int coding_index(http::Coding c) { return static_cast<int>(c); }

// Whether a Cache-Control value has the no-transform directive.
bool has_no_transform(std::string_view cache_control) {
  while (!cache_control.empty()) {
    const auto comma = cache_control.find(',');
    std::string_view directive = cache_control.substr(0, comma);
    cache_control = comma == std::string_view::npos ? std::string_view{} : cache_control.substr(comma + 1);
    directive = trim(directive.substr(0, directive.find('=')));
    if (http::iequals(directive, "no-transform")) return true;
  }
  return false;
}

bool status_compressible(int status) {
  return (status >= 200 && status <= 203) || (status >= 400 && status <= 599);
}

bool is_etagc(unsigned char c) { return c == 0x21 || (c >= 0x23 && c != 0x7f); }

bool opaque_tag(std::string_view s) {
  return s.size() >= 2 && s.front() == '"' && s.back() == '"' &&
         std::all_of(s.begin() + 1, s.end() - 1, [](char c) { return is_etagc(static_cast<unsigned char>(c)); });
}

}  // namespace

http::Coding negotiate(std::string_view accept_encoding, std::span<const http::Coding> offered) noexcept {
  // Weights in thousandths, -1 = not listed; indexed by http::Coding.
  std::array<int, 3> listed{-1, -1, -1};
  int any = -1;
  while (!accept_encoding.empty()) {
    const auto comma = accept_encoding.find(',');
    const std::string_view member = trim(accept_encoding.substr(0, comma));
    accept_encoding = comma == std::string_view::npos ? std::string_view{} : accept_encoding.substr(comma + 1);
    if (member.empty()) continue;
    std::string_view name;
    const int q = member_weight(member, name);
    if (q < 0) continue;
    int* slot = nullptr;
    switch (member_name(name)) {
      case Member::identity:
        slot = &listed[coding_index(http::Coding::identity)];
        break;
      case Member::gzip:
        slot = &listed[coding_index(http::Coding::gzip)];
        break;
      case Member::br:
        slot = &listed[coding_index(http::Coding::br)];
        break;
      case Member::any:
        slot = &any;
        break;
      case Member::other:
        break;
    }
    if (slot) *slot = std::max(*slot, q);
  }
  auto weight = [&](http::Coding c) { return listed[coding_index(c)] >= 0 ? listed[coding_index(c)] : any; };

  http::Coding best = http::Coding::identity;
  int best_q = 0;
  for (http::Coding c : offered) {
    if (c == http::Coding::identity) continue;
    const int q = weight(c);
    if (q > best_q) {
      best = c;
      best_q = q;
    }
  }
  if (best != http::Coding::identity && weight(http::Coding::identity) > best_q) return http::Coding::identity;
  return best;
}

Compression::Compression(config::CompressionSpec spec) : spec_(std::move(spec)) {
  for (const std::string& a : spec_.algorithms) {
    http::Coding c;
    if (a == "gzip") c = http::Coding::gzip;
    else if (a == "br") c = http::Coding::br;
    else throw std::invalid_argument("compression: unknown algorithm '" + a + "'");
    if (std::find(offered_.begin(), offered_.end(), c) == offered_.end()) offered_.push_back(c);
  }
  if (spec_.gzip_level < 1 || spec_.gzip_level > 9) throw std::invalid_argument("compression: gzip_level must be 1..9");
  if (spec_.brotli_level < 0 || spec_.brotli_level > 11)
    throw std::invalid_argument("compression: brotli_level must be 0..11");
  for (const std::string& t : spec_.content_types) {
    if (t.size() > 2 && t.ends_with("/*")) type_prefixes_.push_back(t.substr(0, t.size() - 1));
  }
}

bool Compression::media_type_allowed(std::string_view type) const noexcept {
  if (type.empty()) return false;
  for (const std::string& t : spec_.content_types)
    if (t == type) return true;
  for (const std::string& p : type_prefixes_)
    if (type.size() > p.size() && type.starts_with(p)) return true;
  return false;
}

Compression::Decision Compression::decide(const Input& in) const noexcept {
  Decision d;
  if (!status_compressible(in.status)) return d;
  if (!media_type_allowed(in.media_type)) return d;
  const std::string_view encoding = trim(in.content_encoding);
  if (!encoding.empty() && !http::iequals(encoding, "identity")) return d;
  if (in.has_content_range) return d;
  if (has_no_transform(in.cache_control)) return d;
  if (in.content_length && (*in.content_length == 0 || *in.content_length < spec_.min_length)) return d;
  // Whether to compress now depends on Accept-Encoding alone: caches must key on it.
  d.vary = true;
  d.coding = negotiate(in.accept_encoding, offered());
  d.level = d.coding == http::Coding::gzip ? spec_.gzip_level : d.coding == http::Coding::br ? spec_.brotli_level : 0;
  return d;
}

std::string Compression::weak_etag(std::string_view etag) {
  etag = trim(etag);
  if (etag.starts_with("W/") && opaque_tag(etag.substr(2))) return std::string(etag);
  if (opaque_tag(etag)) {
    std::string out;
    out.reserve(etag.size() + 2);
    out += "W/";
    out += etag;
    return out;
  }
  return {};
}

}  // namespace rampart::policy
