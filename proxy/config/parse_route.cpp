// Route parsing: path match, method/header conditions, the one action, header edits, limits.
#include "config/parse.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <regex>
#include <tuple>

namespace rampart::config::detail {
namespace {

bool compiles(Reader& r, const Value& v, const std::string& pattern) {
  try {
    std::regex re(pattern, std::regex::ECMAScript);
    return true;
  } catch (const std::regex_error& e) {
    r.error(v.mark, v.path, "invalid regex '" + pattern + "': " + e.what());
    return false;
  }
}

std::optional<std::string> read_header_name(Reader& r, const Value& v) {
  auto s = read_string(r, v);
  if (!s) return std::nullopt;
  if (!is_token(*s)) {
    r.error(v.mark, v.path, "invalid header name '" + *s + "'");
    return std::nullopt;
  }
  return to_lower(*s);
}

std::optional<std::string> read_header_value(Reader& r, const Value& v) {
  auto s = read_string(r, v);
  if (s && has_ctl_breaks(*s)) {
    r.error(v.mark, v.path, "header value must not contain CR, LF or NUL");
    return std::nullopt;
  }
  return s;
}

// A path for prefix/exact matching or redirect targets: starts with '/', no whitespace.
std::optional<std::string> read_path(Reader& r, const Value& v) {
  auto s = read_string(r, v);
  if (!s) return std::nullopt;
  if (s->empty() || s->front() != '/') {
    r.error(v.mark, v.path, "path must start with '/'");
    return std::nullopt;
  }
  if (s->find_first_of(std::string_view(" \t\r\n\0", 5)) != std::string::npos) {
    r.error(v.mark, v.path, "path must not contain whitespace or NUL");
    return std::nullopt;
  }
  return s;
}

HeaderOps parse_header_ops(Reader& r, const Value& v) {
  HeaderOps ops;
  MapView m(r, v, {"set", "add", "remove"});
  if (!m.ok()) return ops;
  auto read_pairs = [&](std::string_view key, std::vector<std::pair<std::string, std::string>>& out) {
    auto pairs_value = m.get(key);
    if (!pairs_value) return;
    MapView pairs(r, *pairs_value, {});
    for (const MapView::Entry& e : pairs.entries()) {
      auto name = read_header_name(r, Value{YAML::Node(e.key), e.key_mark, e.value.path});
      auto value = read_header_value(r, e.value);
      if (!name || !value) continue;
      const bool repeated = std::any_of(out.begin(), out.end(), [&](const auto& p) { return p.first == *name; });
      if (repeated) {
        r.error(e.key_mark, e.value.path, "header '" + *name + "' is listed twice");
        continue;
      }
      out.emplace_back(*name, *value);
    }
  };
  read_pairs("set", ops.set);
  read_pairs("add", ops.add);
  if (auto remove = m.get("remove")) {
    if (auto items = read_list(r, *remove)) {
      for (const Value& item : *items) {
        if (auto name = read_header_name(r, item)) ops.remove.push_back(*name);
      }
    }
  }
  return ops;
}

std::optional<HeaderMatchSpec> parse_header_match(Reader& r, const Value& v) {
  MapView m(r, v, {"name", "value", "regex", "present", "absent"});
  if (!m.ok()) return std::nullopt;
  HeaderMatchSpec spec;
  bool ok = true;
  if (auto name = m.require("name")) {
    if (auto n = read_header_name(r, *name)) spec.name = *n; else ok = false;
  } else {
    ok = false;
  }
  int conditions = 0;
  if (auto value = m.get("value")) {
    ++conditions;
    spec.kind = HeaderMatchSpec::Kind::exact;
    if (auto s = read_header_value(r, *value)) spec.value = *s; else ok = false;
  }
  if (auto regex = m.get("regex")) {
    ++conditions;
    spec.kind = HeaderMatchSpec::Kind::regex;
    if (auto s = read_string(r, *regex); s && compiles(r, *regex, *s)) spec.value = *s; else ok = false;
  }
  for (const auto& [key, kind, inverse] :
       {std::tuple{"present", HeaderMatchSpec::Kind::present, HeaderMatchSpec::Kind::absent},
        std::tuple{"absent", HeaderMatchSpec::Kind::absent, HeaderMatchSpec::Kind::present}}) {
    if (auto flag = m.get(key)) {
      ++conditions;
      if (auto b = read_bool(r, *flag)) spec.kind = *b ? kind : inverse; else ok = false;
    }
  }
  if (conditions != 1) {
    r.error(v.mark, v.path, "a header match needs exactly one of value, regex, present or absent");
    ok = false;
  }
  return ok ? std::optional(spec) : std::nullopt;
}

// "example.org", "example.org:8443", "[::1]:8443": letters, digits and . - _ : [ ].
bool valid_redirect_host(std::string_view host) {
  if (host.empty()) return false;
  return std::all_of(host.begin(), host.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::string_view(".-_:[]").find(c) != std::string_view::npos;
  });
}

RedirectSpec parse_redirect(Reader& r, const Value& v) {
  RedirectSpec spec;
  MapView m(r, v, {"status", "scheme", "host", "path", "prefix", "strip_query"});
  if (!m.ok()) return spec;
  if (auto status = m.get("status")) {
    if (auto n = read_uint(r, *status, 0, UINT32_MAX)) {
      if (*n == 301 || *n == 302 || *n == 303 || *n == 307 || *n == 308) {
        spec.status = static_cast<int>(*n);
      } else {
        r.error(status->mark, status->path, "redirect status must be 301, 302, 303, 307 or 308");
      }
    }
  }
  if (auto scheme = m.get("scheme")) {
    if (auto s = read_string(r, *scheme)) {
      if (*s == "http" || *s == "https") spec.scheme = *s;
      else r.error(scheme->mark, scheme->path, "scheme must be http or https");
    }
  }
  if (auto host = m.get("host")) {
    if (auto s = read_string(r, *host)) {
      if (valid_redirect_host(*s)) spec.host = to_lower(*s);
      else r.error(host->mark, host->path, "expected a host like example.org or example.org:8443");
    }
  }
  if (auto path = m.get("path")) spec.path = read_path(r, *path);
  // `prefix` applies to prefix routes only and `path` wins when both are given (see
  // docs/config.md); both may be written so that one redirect block can be shared.
  if (auto prefix = m.get("prefix")) spec.prefix = read_path(r, *prefix);
  assign(m, "strip_query", spec.strip_query, [&](const Value& x) { return read_bool(r, x); });
  if (!m.has("scheme") && !m.has("host") && !m.has("path") && !m.has("prefix") && !m.has("strip_query")) {
    r.error(v.mark, v.path, "redirect must change at least one of scheme, host, path, prefix or strip_query");
  }
  return spec;
}

RespondSpec parse_respond(Reader& r, const Value& v) {
  RespondSpec spec;
  MapView m(r, v, {"status", "body", "content_type"});
  if (!m.ok()) return spec;
  if (auto status = m.get("status")) {
    if (auto n = read_uint(r, *status, 0, UINT32_MAX)) {
      if (*n >= 100 && *n <= 599) spec.status = static_cast<int>(*n);
      else r.error(status->mark, status->path, "respond status must be between 100 and 599");
    }
  }
  assign(m, "body", spec.body, [&](const Value& x) { return read_string(r, x); });
  assign(m, "content_type", spec.content_type, [&](const Value& x) { return read_header_value(r, x); });
  return spec;
}

}  // namespace

RouteSpec parse_route(Reader& r, const Value& v, std::size_t route_index, Xref& x) {
  RouteSpec route;
  route.name = "route-" + std::to_string(route_index);
  route.mark = r.mark(v.mark);
  MapView m(r, v,
            {"name", "path", "match", "methods", "headers", "upstream", "redirect", "respond", "rewrite_prefix",
             "request_headers", "response_headers", "max_body_size", "connect_timeout", "read_timeout",
             "send_timeout", "access_log", "retry", "policies", "without"});
  if (!m.ok()) return route;
  assign(m, "name", route.name, [&](const Value& x) { return read_nonempty_string(r, x); });

  if (auto match = m.get("match")) {
    if (auto s = read_string(r, *match)) {
      if (*s == "prefix") route.match = PathMatch::prefix;
      else if (*s == "exact") route.match = PathMatch::exact;
      else if (*s == "regex") route.match = PathMatch::regex;
      else r.error(match->mark, match->path, "expected one of prefix, exact, regex" + did_you_mean(*s, {"prefix", "exact", "regex"}));
    }
  }
  if (auto path = m.get("path")) {
    if (route.match == PathMatch::regex) {
      if (auto s = read_nonempty_string(r, *path); s && compiles(r, *path, *s)) route.path = *s;
    } else if (auto s = read_path(r, *path)) {
      route.path = *s;
    }
  } else if (route.match == PathMatch::regex) {
    m.require("path");
  }

  if (auto methods = m.get("methods")) {
    if (auto items = read_list(r, *methods)) {
      for (const Value& item : *items) {
        auto s = read_string(r, item);
        if (!s) continue;
        if (!is_token(*s)) {
          r.error(item.mark, item.path, "bad HTTP method '" + *s + "'");
          continue;
        }
        route.methods.push_back(to_upper(*s));
      }
    }
  }
  if (auto headers = m.get("headers")) {
    if (auto items = read_list(r, *headers)) {
      for (const Value& item : *items) {
        if (auto h = parse_header_match(r, item)) route.headers.push_back(std::move(*h));
      }
    }
  }

  std::vector<std::string> actions;
  if (auto upstream = m.get("upstream")) {
    actions.push_back("upstream");
    if (auto s = read_nonempty_string(r, *upstream)) {
      route.upstream = *s;
      x.route_upstreams.push_back(Site{*s, r.mark(upstream->mark), upstream->path});
    }
  }
  if (auto redirect = m.get("redirect")) {
    actions.push_back("redirect");
    route.redirect = parse_redirect(r, *redirect);
  }
  if (auto respond = m.get("respond")) {
    actions.push_back("respond");
    route.respond = parse_respond(r, *respond);
  }
  if (actions.empty()) {
    r.error(v.mark, v.path, "route needs one action: upstream, redirect or respond");
  } else if (actions.size() > 1) {
    std::string list;
    for (const std::string& a : actions) list += (list.empty() ? "" : ", ") + a;
    r.error(v.mark, v.path, "route has several actions (" + list + "); it needs exactly one");
  }

  if (auto rewrite = m.get("rewrite_prefix")) {
    if (!m.has("upstream") || route.match != PathMatch::prefix) {
      r.error(rewrite->mark, rewrite->path, "rewrite_prefix needs a proxy route (upstream) with match: prefix");
    } else if (auto s = read_path(r, *rewrite)) {
      route.rewrite_prefix = *s;
    }
  }
  if (auto ops = m.get("request_headers")) route.request_headers = parse_header_ops(r, *ops);
  if (auto ops = m.get("response_headers")) route.response_headers = parse_header_ops(r, *ops);

  auto duration = [&](const Value& x) { return read_duration(r, x); };
  assign(m, "max_body_size", route.limits.max_body_size, [&](const Value& x) { return read_size(r, x, UINT64_MAX); });
  assign(m, "connect_timeout", route.limits.connect_timeout, duration);
  assign(m, "read_timeout", route.limits.read_timeout, duration);
  assign(m, "send_timeout", route.limits.send_timeout, duration);
  if (auto log = m.get("access_log")) parse_route_access_log(r, *log, route);
  if (auto p = m.get("policies")) route.policies = parse_policy_names(r, *p, x);
  if (auto p = m.get("without")) route.without = parse_policy_names(r, *p, x);
  if (auto retry = m.get("retry")) {
    if (!m.has("upstream")) r.error(retry->mark, retry->path, "retry needs a proxy route (upstream)");
    else route.retry = parse_retry(r, *retry);
  }
  return route;
}

}  // namespace rampart::config::detail
