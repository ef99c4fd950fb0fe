// Table: building the match table from the config spec, and matching a request against it.
#include "route/table.hpp"

#include <algorithm>
#include <stdexcept>

namespace rampart::route {

namespace {

std::string lower_copy(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = http::ascii_lower(c);
  return out;
}

// Host names from config: lower-case, one trailing dot removed.
std::string normalize_config_host(std::string_view h) {
  if (h.size() > 1 && h.back() == '.') h.remove_suffix(1);
  return lower_copy(h);
}

std::regex compile(const std::string& pattern, const std::string& what) {
  try {
    return std::regex(pattern, std::regex::ECMAScript | std::regex::optimize);
  } catch (const std::regex_error& e) {
    throw std::runtime_error(what + ": invalid regex '" + pattern + "': " + e.what());
  }
}

// The Host value without ":port" and without a trailing dot. "[::1]:8080" -> "[::1]"; a bare
// IPv6 address (several colons, no brackets; not valid in Host) is left as it is.
std::string_view strip_host(std::string_view h) noexcept {
  if (!h.empty() && h.front() == '[') {
    auto close = h.find(']');
    if (close != std::string_view::npos) h = h.substr(0, close + 1);
  } else {
    auto colon = h.find(':');
    if (colon != std::string_view::npos && h.find(':', colon + 1) == std::string_view::npos) h = h.substr(0, colon);
  }
  if (!h.empty() && h.back() == '.') h.remove_suffix(1);
  return h;
}

bool path_matches(const Route& r, std::string_view path) {
  switch (r.match) {
    case config::PathMatch::prefix: return path.starts_with(r.path);
    case config::PathMatch::exact: return path == r.path;
    case config::PathMatch::regex: return std::regex_match(path.begin(), path.end(), *r.path_re);
  }
  return false;
}

bool method_matches(const Route& r, std::string_view method) noexcept {
  if (r.methods.empty()) return true;
  return std::any_of(r.methods.begin(), r.methods.end(), [&](const std::string& m) { return m == method; });
}

bool header_matches(const HeaderMatch& m, const std::vector<http::Header>& headers) {
  using Kind = config::HeaderMatchSpec::Kind;
  bool present = false;
  for (const auto& h : headers) {
    if (!http::iequals(h.name, m.name)) continue;
    present = true;
    switch (m.kind) {
      case Kind::exact:
        if (h.value == m.value) return true;
        break;
      case Kind::regex:
        if (std::regex_match(h.value.begin(), h.value.end(), *m.re)) return true;
        break;
      case Kind::present: return true;
      case Kind::absent: return false;
    }
  }
  return m.kind == Kind::absent && !present;
}

const config::UpstreamSpec* find_upstream(const config::ConfigSpec& spec, const std::string& name) {
  for (const auto& u : spec.upstreams)
    if (u.name == name) return &u;
  return nullptr;
}

Route build_route(const config::ConfigSpec& spec, const config::ServerSpec& server, const config::RouteSpec& rs,
                  const std::function<std::size_t(const std::string&)>& upstream_index) {
  Route r;
  r.name = rs.name;
  r.server_name = server.name;
  r.path = rs.path;
  r.match = rs.match;
  const std::string what = "server '" + server.name + "' route '" + rs.name + "'";
  if (rs.match == config::PathMatch::regex) r.path_re = compile(rs.path, what + " path");
  r.methods = rs.methods;
  for (const auto& hs : rs.headers) {
    HeaderMatch hm{lower_copy(hs.name), hs.kind, hs.value, std::nullopt};
    if (hs.kind == config::HeaderMatchSpec::Kind::regex) hm.re = compile(hs.value, what + " header '" + hs.name + "'");
    r.headers.push_back(std::move(hm));
  }
  if (rs.upstream) {
    r.action = Action::proxy;
    r.upstream = upstream_index(*rs.upstream);
  } else if (rs.redirect) {
    r.action = Action::redirect;
    r.redirect = *rs.redirect;
  } else if (rs.respond) {
    r.action = Action::respond;
    r.respond = *rs.respond;
  }
  r.rewrite_prefix = rs.rewrite_prefix;
  r.request_headers = rs.request_headers;
  r.response_headers = rs.response_headers;

  const auto& d = spec.defaults;
  r.max_body_size = rs.limits.max_body_size.value_or(d.max_body_size);
  r.read_timeout = rs.limits.read_timeout.value_or(d.read_timeout);
  r.retry = rs.retry;
  r.send_timeout = rs.limits.send_timeout.value_or(d.send_timeout);
  r.connect_timeout = d.connect_timeout;
  if (rs.limits.connect_timeout) {
    r.connect_timeout = *rs.limits.connect_timeout;
  } else if (rs.upstream) {
    const auto* up = find_upstream(spec, *rs.upstream);
    if (up && up->connect_timeout) r.connect_timeout = *up->connect_timeout;
  }
  return r;
}

}  // namespace

std::shared_ptr<const Table> Table::build(const config::ConfigSpec& spec,
                                          const std::function<std::size_t(const std::string&)>& upstream_index,
                                          const std::function<void(const config::RouteSpec&, Route&)>& decorate) {
  auto table = std::make_shared<Table>();
  bool have_default = false;
  for (std::size_t i = 0; i < spec.servers.size(); ++i) {
    const auto& ss = spec.servers[i];
    Server server;
    server.name = ss.name;
    server.routes.reserve(ss.routes.size());
    for (const auto& rs : ss.routes) {
      server.routes.push_back(build_route(spec, ss, rs, upstream_index));
      if (decorate) decorate(rs, server.routes.back());
    }
    table->servers_.push_back(std::move(server));

    for (const auto& raw : ss.hosts) {
      if (raw == "*") {
        if (!have_default) table->default_ = i;
        have_default = true;
      } else if (raw.starts_with("*.")) {
        table->wildcards_.emplace_back(normalize_config_host(std::string_view(raw).substr(1)), i);
      } else {
        table->exact_.emplace(normalize_config_host(raw), i);  // first server listing a name wins
      }
    }
  }
  // Longest suffix first; equal lengths keep config order (stable).
  std::stable_sort(table->wildcards_.begin(), table->wildcards_.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  return table;
}

const Table::Server* Table::find_server(std::string_view raw_host) const {
  if (servers_.empty()) return nullptr;
  std::string_view host = strip_host(raw_host);
  if (!host.empty()) {
    // Names longer than 255 bytes are not valid DNS names and cannot be listed exactly.
    constexpr std::size_t max_name = 255;
    if (host.size() <= max_name && !exact_.empty()) {
      char buf[max_name];
      for (std::size_t i = 0; i < host.size(); ++i) buf[i] = http::ascii_lower(host[i]);
      auto it = exact_.find(std::string_view(buf, host.size()));
      if (it != exact_.end()) return &servers_[it->second];
    }
    for (const auto& [suffix, index] : wildcards_) {
      if (host.size() > suffix.size() && http::iequals(host.substr(host.size() - suffix.size()), suffix))
        return &servers_[index];
    }
  }
  return &servers_[default_];
}

Match Table::match(std::string_view host, std::string_view path, std::string_view method,
                   const std::vector<http::Header>& headers) const {
  const Server* server = find_server(host);
  if (!server) return {};
  for (const auto& r : server->routes) {
    if (!path_matches(r, path) || !method_matches(r, method)) continue;
    bool all = std::all_of(r.headers.begin(), r.headers.end(),
                           [&](const HeaderMatch& m) { return header_matches(m, headers); });
    if (all) return Match{&r, &server->name};
  }
  return Match{nullptr, &server->name};
}

}  // namespace rampart::route
