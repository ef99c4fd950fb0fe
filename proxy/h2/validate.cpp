#include "h2/validate.hpp"

#include "http/syntax.hpp"

#include <cstring>

namespace rampart::h2 {

namespace {

using http::detail::has_class;
using http::detail::is_digit;
using http::detail::is_ows;
using http::detail::is_tchar;

bool is_token(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s)
    if (!is_tchar(c)) return false;
  return true;
}

// scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )  (RFC 3986 §3.1)
bool valid_scheme(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (alpha) continue;
    if (i == 0) return false;
    if (!(is_digit(c) || c == '+' || c == '-' || c == '.')) return false;
  }
  return true;
}

// :path bytes: request-target bytes (VCHAR except '#'), non-empty.
bool valid_path_bytes(std::string_view p) noexcept {
  if (p.empty()) return false;
  return http::detail::scan_target(p.data(), p.data() + p.size()) == p.data() + p.size();
}

http::Method method_of(std::string_view m) noexcept {
  using M = http::Method;
  if (m == "GET") return M::get;
  if (m == "HEAD") return M::head;
  if (m == "POST") return M::post;
  if (m == "PUT") return M::put;
  if (m == "DELETE") return M::del;
  if (m == "CONNECT") return M::connect;
  if (m == "OPTIONS") return M::options;
  if (m == "TRACE") return M::trace;
  if (m == "PATCH") return M::patch;
  return M::other;
}

constexpr std::uint64_t kFieldOverhead = 32;  // RFC 9113 §6.5.2

}  // namespace

bool valid_field_name(std::string_view name) noexcept {
  if (name.empty()) return false;
  for (char c : name)
    if (!is_tchar(c) || (c >= 'A' && c <= 'Z')) return false;
  return true;
}

bool valid_field_value(std::string_view value) noexcept {
  if (value.empty()) return true;
  if (is_ows(value.front()) || is_ows(value.back())) return false;
  const char* end = value.data() + value.size();
  return http::detail::scan_value(value.data(), end) == end;
}

bool connection_specific(std::string_view name, std::string_view value) noexcept {
  if (name == "connection" || name == "keep-alive" || name == "proxy-connection" || name == "transfer-encoding" ||
      name == "upgrade")
    return true;
  return name == "te" && !http::iequals(value, "trailers");
}

bool valid_authority(std::string_view a) noexcept {
  if (a.empty()) return false;
  std::size_t i = 0;
  if (a[0] == '[') {  // IP-literal: hex, ':' and '.' (IPv4-embedded) inside brackets
    const std::size_t close = a.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (std::size_t k = 1; k < close; ++k) {
      const char c = a[k];
      if (!(http::detail::is_hex(c) || c == ':' || c == '.')) return false;
    }
    i = close + 1;
  } else {
    while (i < a.size() && a[i] != ':') {
      // reg-name / IPv4 bytes; '@' (userinfo) is not among them.
      if (!has_class(a[i], http::detail::k_reg_name)) return false;
      ++i;
    }
    if (i == 0) return false;
  }
  if (i == a.size()) return true;
  if (a[i] != ':') return false;
  for (++i; i < a.size(); ++i)
    if (!is_digit(a[i])) return false;
  return true;
}

void HeaderBlock::start(Kind kind) {
  kind_ = kind;
  verdict_ = Verdict::ok;
  reason_ = "";
  list_size_ = 0;
  bytes_.clear();
  fields_.clear();
  cookies_.clear();
  cookie_bytes_ = 0;
  has_method_ = has_scheme_ = has_authority_ = has_path_ = has_host_ = false;
  regular_seen_ = false;
  content_length_.reset();
}

void HeaderBlock::fail(Verdict v, const char* why) {
  if (verdict_ != Verdict::ok) return;
  verdict_ = v;
  reason_ = why;
}

HeaderBlock::Ref HeaderBlock::keep(std::string_view s) {
  const Ref r{static_cast<std::uint32_t>(bytes_.size()), static_cast<std::uint32_t>(s.size())};
  bytes_.append(s);
  return r;
}

void HeaderBlock::add(std::string_view name, std::string_view value) {
  list_size_ += name.size() + value.size() + kFieldOverhead;
  if (list_size_ > max_list_size_) fail(Verdict::too_large, "header list too large");
  if (verdict_ != Verdict::ok) return;
  if (!name.empty() && name[0] == ':')
    add_pseudo(name, value);
  else
    add_regular(name, value);
}

void HeaderBlock::add_pseudo(std::string_view name, std::string_view value) {
  if (kind_ == Kind::trailers) return fail(Verdict::malformed, "pseudo-header in trailers");
  if (regular_seen_) return fail(Verdict::malformed, "pseudo-header after regular field");
  Ref* slot = nullptr;
  bool* seen = nullptr;
  if (name == ":method") {
    if (!is_token(value)) return fail(Verdict::malformed, "invalid :method");
    slot = &method_, seen = &has_method_;
  } else if (name == ":scheme") {
    if (!valid_scheme(value)) return fail(Verdict::malformed, "invalid :scheme");
    slot = &scheme_, seen = &has_scheme_;
  } else if (name == ":authority") {
    if (!valid_authority(value)) return fail(Verdict::malformed, "invalid :authority");
    slot = &authority_, seen = &has_authority_;
  } else if (name == ":path") {
    if (!valid_path_bytes(value)) return fail(Verdict::malformed, "invalid :path");
    slot = &path_, seen = &has_path_;
  } else {
    return fail(Verdict::malformed, "unknown pseudo-header");
  }
  if (*seen) return fail(Verdict::malformed, "duplicate pseudo-header");
  *seen = true;
  *slot = keep(value);
}

void HeaderBlock::add_regular(std::string_view name, std::string_view value) {
  regular_seen_ = true;
  if (!valid_field_name(name)) return fail(Verdict::malformed, "invalid field name");
  if (!valid_field_value(value)) return fail(Verdict::malformed, "invalid field value");
  if (connection_specific(name, value)) return fail(Verdict::malformed, "connection-specific field");
  if (kind_ == Kind::trailers) return;  // validated, not kept
  if (name == "content-length") {
    if (content_length_) return fail(Verdict::malformed, "duplicate content-length");
    if (value.empty() || value.size() > 19) return fail(Verdict::malformed, "invalid content-length");
    std::uint64_t n = 0;
    for (char c : value) {
      if (!is_digit(c)) return fail(Verdict::malformed, "invalid content-length");
      n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (n > http::detail::k_max_length) return fail(Verdict::malformed, "invalid content-length");
    content_length_ = n;
  } else if (name == "host") {
    if (has_host_) return fail(Verdict::malformed, "duplicate host");
    if (!valid_authority(value)) return fail(Verdict::malformed, "invalid host");
    has_host_ = true;
    host_ = keep(value);
    return;
  } else if (name == "cookie") {
    cookies_.push_back(keep(value));
    cookie_bytes_ += value.size();
    return;
  }
  const Ref n = keep(name);
  fields_.push_back({n, keep(value)});
}

HeaderBlock::Verdict HeaderBlock::finish_trailers() { return verdict_; }

HeaderBlock::Verdict HeaderBlock::finish(Request& out) {
  if (verdict_ != Verdict::ok || kind_ != Kind::request) return verdict_;
  if (!has_method_) {
    fail(Verdict::malformed, "missing :method");
    return verdict_;
  }
  const bool connect = eq(method_, "CONNECT");
  if (connect) {
    if (has_scheme_ || has_path_) fail(Verdict::malformed, "CONNECT with :scheme or :path");
    else if (!has_authority_) fail(Verdict::malformed, "CONNECT without :authority");
    else fail(Verdict::connect, "CONNECT not supported");
    return verdict_;
  }
  if (!has_scheme_) fail(Verdict::malformed, "missing :scheme");
  else if (!has_path_) fail(Verdict::malformed, "missing :path");
  else if (!has_authority_ && !has_host_) fail(Verdict::malformed, "missing :authority and host");
  else if (has_authority_ && has_host_ && !http::iequals(view(authority_), view(host_)))
    fail(Verdict::malformed, ":authority and host differ");
  else if (view(path_)[0] != '/' && !(eq(path_, "*") && eq(method_, "OPTIONS")))
    fail(Verdict::malformed, "invalid :path form");
  if (verdict_ != Verdict::ok) return verdict_;

  // One exact-size buffer for everything the handler sees; views are taken once it is final.
  const Ref authority = has_authority_ ? authority_ : host_;
  constexpr std::string_view kCookie = "cookie";
  std::size_t total = method_.len + scheme_.len + authority.len + path_.len;
  for (const Field& f : fields_) total += f.name.len + f.value.len;
  if (!cookies_.empty()) total += kCookie.size() + cookie_bytes_ + 2 * (cookies_.size() - 1);
  out.storage.resize(total);
  char* p = out.storage.data();
  auto put = [&](std::string_view s) {
    if (!s.empty()) std::memcpy(p, s.data(), s.size());
    const std::string_view v(p, s.size());
    p += s.size();
    return v;
  };
  out.method = put(view(method_));
  out.scheme = put(view(scheme_));
  out.authority = put(view(authority));
  out.path = put(view(path_));
  out.headers.clear();
  out.headers.reserve(fields_.size() + (cookies_.empty() ? 0 : 1));
  for (const Field& f : fields_) {
    const std::string_view n = put(view(f.name));
    out.headers.push_back({n, put(view(f.value))});
  }
  if (!cookies_.empty()) {
    const std::string_view n = put(kCookie);
    char* const v = p;
    for (std::size_t i = 0; i < cookies_.size(); ++i) {
      if (i) put("; ");
      put(view(cookies_[i]));
    }
    out.headers.push_back({n, std::string_view(v, static_cast<std::size_t>(p - v))});
  }
  out.content_length = content_length_;
  return verdict_;
}

void Request::to_head(http::RequestHead& out) const {
  out.clear();
  out.method_text = method;
  out.method = method_of(method);
  out.target = path;
  const std::size_t q = path.find('?');
  out.path = path.substr(0, q);
  out.query = q == std::string_view::npos ? std::string_view{} : path.substr(q + 1);
  out.version_minor = 1;
  out.headers.assign(headers.begin(), headers.end());
  out.host = authority;
  if (end_stream) {
    out.body = http::BodyKind::none;
  } else if (content_length) {
    out.body = http::BodyKind::content_length;
    out.content_length = *content_length;
  } else {
    out.body = http::BodyKind::chunked;
  }
  for (const http::Header& h : headers)
    if (h.name == "expect" && http::iequals(h.value, "100-continue")) out.expect_continue = true;
}

}  // namespace rampart::h2
