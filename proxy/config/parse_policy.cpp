// Parsing of the top-level `policies:` (security_headers, cache_control) and of the policy name
// lists of servers and routes.
#include "config/parse.hpp"

#include <algorithm>
#include <charconv>
#include <regex>

namespace rampart::config::detail {
namespace {

bool printable_value(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); });
}

// "value" or {value, mode: set | default}; `mode` is the default mode.
std::optional<HeaderValueSpec> read_header_value(Reader& r, const Value& v) {
  HeaderValueSpec h;
  std::optional<Value> text = v;
  if (v.node.IsDefined() && v.node.IsMap()) {
    MapView m(r, v, {"value", "mode"});
    if (!m.ok()) return std::nullopt;
    text = m.require("value");
    if (auto mode = m.get("mode")) {
      if (auto s = read_choice(r, *mode, {"set", "default"})) h.mode = *s == "set" ? HeaderValueSpec::Mode::set : HeaderValueSpec::Mode::set_default;
    }
    if (!text) return std::nullopt;
  }
  auto s = read_nonempty_string(r, *text);
  if (!s) return std::nullopt;
  if (!printable_value(*s)) {
    r.error(text->mark, text->path, "header values must be printable, on one line");
    return std::nullopt;
  }
  h.value = *s;
  return h;
}

// `hsts: true` (a year, includeSubDomains) or {max_age, include_subdomains, preload}.
std::optional<std::string> read_hsts(Reader& r, const Value& v) {
  bool is_map = false;
  std::uint64_t max_age = 31536000;
  bool subdomains = true, preload = false;
  if (auto on = read_switch(r, v, is_map)) {
    if (!*on) return std::nullopt;
  } else if (is_map) {
    MapView m(r, v, {"max_age", "include_subdomains", "preload"});
    if (!m.ok()) return std::nullopt;
    if (auto x = m.get("max_age")) {
      if (auto d = read_duration(r, *x)) max_age = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(*d).count());
    }
    assign(m, "include_subdomains", subdomains, [&](const Value& x) { return read_bool(r, x); });
    assign(m, "preload", preload, [&](const Value& x) { return read_bool(r, x); });
    if (preload && (!subdomains || max_age < 31536000))
      r.error(v.mark, v.path, "hsts preload needs include_subdomains and a max_age of at least a year");
  } else {
    return std::nullopt;
  }
  std::string out = "max-age=" + std::to_string(max_age);
  if (subdomains) out += "; includeSubDomains";
  if (preload) out += "; preload";
  return out;
}

SecurityHeadersSpec parse_security_headers(Reader& r, const Value& v) {
  SecurityHeadersSpec s;
  static const std::vector<std::pair<std::string, std::string>> keys = {
      {"content_security_policy", "content-security-policy"},
      {"content_security_policy_report_only", "content-security-policy-report-only"},
      {"x_frame_options", "x-frame-options"},
      {"x_content_type_options", "x-content-type-options"},
      {"referrer_policy", "referrer-policy"},
      {"permissions_policy", "permissions-policy"},
      {"cross_origin_opener_policy", "cross-origin-opener-policy"},
      {"cross_origin_embedder_policy", "cross-origin-embedder-policy"},
      {"cross_origin_resource_policy", "cross-origin-resource-policy"},
  };
  MapView m(r, v,
            {"hsts", "content_security_policy", "content_security_policy_report_only", "x_frame_options",
             "x_content_type_options", "referrer_policy", "permissions_policy", "cross_origin_opener_policy",
             "cross_origin_embedder_policy", "cross_origin_resource_policy", "remove"});
  if (!m.ok()) return s;
  if (auto x = m.get("hsts")) s.hsts = read_hsts(r, *x);
  for (const auto& [key, header] : keys) {
    if (auto x = m.get(key)) {
      if (auto h = read_header_value(r, *x)) s.headers.emplace_back(header, *h);
    }
  }
  if (auto x = m.get("remove")) {
    if (auto items = read_string_or_list(r, *x)) {
      for (const Value& item : *items) {
        auto name = read_nonempty_string(r, item);
        if (!name) continue;
        if (!is_token(*name)) r.error(item.mark, item.path, "bad header name '" + *name + "'");
        else s.remove.push_back(to_lower(*name));
      }
    }
  }
  return s;
}

CacheRuleSpec parse_cache_rule(Reader& r, const Value& v) {
  CacheRuleSpec rule;
  rule.mark = r.mark(v.mark);
  MapView m(r, v, {"path", "path_prefix", "extensions", "content_types", "statuses", "value", "vary", "strip_set_cookie"});
  if (!m.ok()) return rule;
  if (auto x = m.get("path")) {
    if (auto s = read_nonempty_string(r, *x)) {
      try {
        std::regex re(*s, std::regex::ECMAScript);
        rule.path_regex = *s;
      } catch (const std::regex_error& e) {
        r.error(x->mark, x->path, std::string("bad regex: ") + e.what());
      }
    }
  }
  if (auto x = m.get("path_prefix")) {
    if (auto s = read_nonempty_string(r, *x)) {
      if (s->front() == '/') rule.path_prefix = *s;
      else r.error(x->mark, x->path, "a path prefix starts with '/'");
    }
  }
  if (auto x = m.get("extensions")) {
    if (auto items = read_string_or_list(r, *x)) {
      for (const Value& item : *items) {
        if (auto s = read_nonempty_string(r, item)) rule.extensions.push_back(to_lower(s->front() == '.' ? s->substr(1) : *s));
      }
    }
  }
  if (auto x = m.get("content_types")) {
    if (auto items = read_string_or_list(r, *x)) {
      for (const Value& item : *items) {
        if (auto s = read_nonempty_string(r, item)) rule.content_types.push_back(to_lower(*s));
      }
    }
  }
  if (auto x = m.get("statuses")) {
    if (auto items = read_string_or_list(r, *x)) {
      rule.statuses.clear();
      for (const Value& item : *items) {
        if (auto n = read_uint(r, item, 100, 599)) rule.statuses.push_back(static_cast<int>(*n));
      }
    }
  }
  if (auto x = m.require("value")) {
    if (auto h = read_header_value(r, *x)) rule.cache_control = *h;
  }
  if (auto x = m.get("vary")) {
    if (auto items = read_string_or_list(r, *x)) {
      for (const Value& item : *items) {
        auto s = read_nonempty_string(r, item);
        if (s && is_token(*s)) rule.vary.push_back(*s);
        else if (s) r.error(item.mark, item.path, "bad header name '" + *s + "'");
      }
    }
  }
  assign(m, "strip_set_cookie", rule.strip_set_cookie, [&](const Value& x) { return read_bool(r, x); });
  return rule;
}

CacheControlSpec parse_cache_control(Reader& r, const Value& v) {
  CacheControlSpec c;
  MapView m(r, v, {"preset", "rules"});
  if (!m.ok()) return c;
  if (auto x = m.get("preset")) {
    if (auto s = read_choice(r, *x, {"spa"})) c.preset = *s;
  }
  if (auto x = m.get("rules")) {
    if (auto items = read_list(r, *x)) {
      for (const Value& item : *items) c.rules.push_back(parse_cache_rule(r, item));
    }
  }
  if (!c.preset && c.rules.empty()) r.error(v.mark, v.path, "cache_control needs rules or a preset");
  return c;
}

CorsSpec parse_cors(Reader& r, const Value& v) {
  CorsSpec c;
  MapView m(r, v, {"allow_origins", "allow_methods", "allow_headers", "expose_headers", "allow_credentials", "max_age"});
  if (!m.ok()) return c;
  if (auto x = m.require("allow_origins")) {
    if (auto items = read_string_or_list(r, *x)) {
      for (const Value& item : *items) {
        auto s = read_nonempty_string(r, item);
        if (!s) continue;
        if (*s == "*") {
          c.any_origin = true;
          continue;
        }
        const auto scheme = s->find("://");
        const bool ok = (s->starts_with("http://") || s->starts_with("https://")) && scheme != std::string::npos &&
                        s->size() > scheme + 3 && s->back() != '/' &&
                        s->find('/', scheme + 3) == std::string::npos && s->find('*', scheme + 4) == std::string::npos;
        if (!ok) r.error(item.mark, item.path, "expected an origin like https://app.example.com or https://*.example.com, or \"*\"");
        else c.origins.push_back(to_lower(*s));
      }
    }
  }
  auto tokens = [&](const char* key, std::vector<std::string>& out, bool upper) {
    if (auto x = m.get(key)) {
      if (auto items = read_string_or_list(r, *x)) {
        out.clear();
        for (const Value& item : *items) {
          auto s = read_nonempty_string(r, item);
          if (!s) continue;
          if (*s != "*" && !is_token(*s)) r.error(item.mark, item.path, "bad token '" + *s + "'");
          else out.push_back(upper ? to_upper(*s) : *s);
        }
      }
    }
  };
  tokens("allow_methods", c.methods, true);
  tokens("allow_headers", c.headers, false);
  tokens("expose_headers", c.expose_headers, false);
  assign(m, "allow_credentials", c.credentials, [&](const Value& x) { return read_bool(r, x); });
  assign(m, "max_age", c.max_age, [&](const Value& x) { return read_duration(r, x); });
  if (c.credentials && c.any_origin)
    r.error(v.mark, v.path, "allow_origins \"*\" cannot go with allow_credentials (browsers refuse it): list the origins");
  if (c.credentials && std::find(c.headers.begin(), c.headers.end(), "*") != c.headers.end())
    r.error(v.mark, v.path, "allow_headers \"*\" cannot go with allow_credentials: list the headers");
  return c;
}

AccessSpec parse_access(Reader& r, const Value& v) {
  AccessSpec a;
  MapView m(r, v, {"allow", "deny", "methods", "deny_paths", "deny_status"});
  if (!m.ok()) return a;
  auto cidrs = [&](const char* key, std::vector<core::Cidr>& out) {
    if (auto x = m.get(key)) {
      if (auto items = read_string_or_list(r, *x)) {
        for (const Value& item : *items) {
          auto s = read_string(r, item);
          if (!s) continue;
          if (auto c = core::parse_cidr(*s)) out.push_back(*c);
          else r.error(item.mark, item.path, "bad CIDR '" + *s + "' (expected like 10.0.0.0/8 or fd00::/8)");
        }
      }
    }
  };
  cidrs("allow", a.allow);
  cidrs("deny", a.deny);
  if (auto x = m.get("methods")) {
    if (auto items = read_string_or_list(r, *x)) {
      for (const Value& item : *items) {
        auto s = read_nonempty_string(r, item);
        if (s && is_token(*s)) a.methods.push_back(to_upper(*s));
        else if (s) r.error(item.mark, item.path, "bad HTTP method '" + *s + "'");
      }
    }
  }
  if (auto x = m.get("deny_paths")) {
    if (auto items = read_string_or_list(r, *x)) {
      for (const Value& item : *items) {
        auto s = read_nonempty_string(r, item);
        if (!s) continue;
        if (s->front() != '/' || s->find_first_of("?#%") != std::string::npos)
          r.error(item.mark, item.path, "expected a plain path like /.git (no query, no percent-encoding)");
        else
          a.deny_paths.push_back(s->size() > 1 && s->back() == '/' ? s->substr(0, s->size() - 1) : *s);
      }
    }
  }
  if (auto x = m.get("deny_status")) {
    if (auto n = read_uint(r, *x, 403, 404)) a.deny_status = static_cast<int>(*n);
  }
  if (a.allow.empty() && a.deny.empty() && a.methods.empty() && a.deny_paths.empty())
    r.error(v.mark, v.path, "access needs at least one of allow, deny, methods, deny_paths");
  return a;
}

}  // namespace

PolicySpec parse_policy(Reader& r, const Value& v, Xref& x) {
  PolicySpec p;
  p.mark = r.mark(v.mark);
  MapView m(r, v, {"name", "security_headers", "cache_control", "cors", "access", "rate_limit", "compression"});
  if (!m.ok()) {
    x.policy_names.push_back(Site{});
    return p;
  }
  if (auto name = read_name(r, m, x.policy_names)) p.name = *name;
  std::vector<std::string> kinds;
  if (auto s = m.get("security_headers")) {
    kinds.push_back("security_headers");
    p.security_headers = parse_security_headers(r, *s);
  }
  if (auto c = m.get("cache_control")) {
    kinds.push_back("cache_control");
    p.cache_control = parse_cache_control(r, *c);
  }
  if (auto c = m.get("cors")) {
    kinds.push_back("cors");
    p.cors = parse_cors(r, *c);
  }
  if (auto a = m.get("access")) {
    kinds.push_back("access");
    p.access = parse_access(r, *a);
  }
  if (auto l = m.get("rate_limit")) {
    kinds.push_back("rate_limit");
    p.rate_limit = parse_rate_limit(r, *l);
  }
  if (auto c = m.get("compression")) {
    kinds.push_back("compression");
    p.compression = parse_compression(r, *c);
  }
  if (kinds.size() != 1)
    r.error(v.mark, v.path,
            "a policy needs exactly one kind: security_headers, cache_control, cors, access, rate_limit or compression");
  return p;
}

std::vector<std::string> parse_policy_names(Reader& r, const Value& v, Xref& x) {
  std::vector<std::string> out;
  auto items = read_string_or_list(r, v);
  if (!items) return out;
  for (const Value& item : *items) {
    auto s = read_nonempty_string(r, item);
    if (!s) continue;
    if (std::find(out.begin(), out.end(), *s) != out.end()) {
      r.error(item.mark, item.path, "policy '" + *s + "' is listed twice");
      continue;
    }
    out.push_back(*s);
    x.policy_refs.push_back(Site{*s, r.mark(item.mark), item.path});
  }
  return out;
}

}  // namespace rampart::config::detail
