// Parsing of listeners, upstreams, servers and the defaults block.
#include "config/parse.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>

namespace rampart::config::detail {
namespace {

// "example.com", "*.example.com" or "*"; letters, digits, '-', '_' in dot-separated labels.
bool valid_server_host(std::string_view host) {
  if (host == "*") return true;
  if (host.starts_with("*.")) host.remove_prefix(2);
  if (host.empty() || host.size() > 253) return false;
  std::size_t label = 0;
  for (char c : host) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
    } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') {
      if (++label > 63) return false;
    } else {
      return false;
    }
  }
  return label != 0;
}

constexpr std::uint64_t u32_max = UINT32_MAX;

}  // namespace

std::optional<std::string> read_name(Reader& r, const MapView& m, std::vector<Site>& sites) {
  std::optional<std::string> name;
  if (auto v = m.require("name")) {
    name = read_nonempty_string(r, *v);
    if (name) sites.push_back(Site{*name, r.mark(v->mark), v->path});
  }
  if (!name) sites.push_back(Site{});  // keep the table parallel to the spec list
  return name;
}

ListenerSpec parse_listener(Reader& r, const Value& v, Xref& x) {
  ListenerSpec spec;
  spec.mark = r.mark(v.mark);
  MapView m(r, v, {"name", "address", "tls", "redirect_https", "max_connections_per_ip", "h2c", "http2"});
  if (!m.ok()) {
    x.listener_names.push_back(Site{});
    x.listener_addresses.push_back(Site{});
    return spec;
  }
  if (auto name = read_name(r, m, x.listener_names)) spec.name = *name;
  Site address_site;
  if (auto address = m.require("address")) {
    if (auto s = read_string(r, *address)) {
      std::string why;
      if (auto hp = core::parse_host_port(*s, /*allow_port_zero=*/true, why)) {
        spec.address = *hp;
        address_site = Site{hp->str(), r.mark(address->mark), address->path};
      } else {
        r.error(address->mark, address->path, "bad address '" + *s + "': " + why);
      }
    }
  }
  x.listener_addresses.push_back(std::move(address_site));
  if (auto tls = m.get("tls")) spec.tls = parse_tls(r, *tls);
  if (auto redirect = m.get("redirect_https")) {
    if (spec.tls) {
      r.error(redirect->mark, redirect->path, "redirect_https is for plain-HTTP listeners (this one has tls)");
    } else if (redirect->node.IsScalar() && (redirect->node.Scalar() == "true" || redirect->node.Scalar() == "false")) {
      spec.redirect_https_port = redirect->node.Scalar() == "true" ? 443 : 0;
    } else if (auto port = read_uint(r, *redirect, 1, 65535)) {
      spec.redirect_https_port = static_cast<std::uint16_t>(*port);
    }
  }
  if (auto per_ip = m.get("max_connections_per_ip")) {
    if (auto n = read_uint(r, *per_ip, 1, 1000000)) spec.max_connections_per_ip = static_cast<std::uint32_t>(*n);
  }
  if (auto h2c = m.get("h2c")) {
    if (auto on = read_bool(r, *h2c)) {
      if (*on && spec.tls)
        r.error(h2c->mark, h2c->path, "h2c is for plain-HTTP listeners (on TLS listeners offer h2 with tls.alpn)");
      else if (*on && spec.redirect_https_port)
        r.error(h2c->mark, h2c->path, "h2c cannot be combined with redirect_https");
      else
        spec.h2c = *on;
    }
  }
  if (auto h2 = m.get("http2")) {
    MapView hm(r, *h2, {"max_concurrent_streams", "initial_window_size", "connection_window_size",
                        "max_header_list_size", "max_resets_per_second", "max_streams_per_second"});
    if (hm.ok()) {
      Http2Spec& o = spec.http2;
      auto u32 = [](std::uint64_t n) { return static_cast<std::uint32_t>(n); };
      if (auto x = hm.get("max_concurrent_streams"))
        if (auto n = read_uint(r, *x, 1, 100000)) o.max_concurrent_streams = u32(*n);
      // Windows: at least the RFC's default frame size, at most 2^31-1 (RFC 9113 6.9.1).
      if (auto x = hm.get("initial_window_size"))
        if (auto n = read_size(r, *x, 0x7fffffff)) {
          if (*n < 16384) r.error(x->mark, x->path, "initial_window_size must be at least 16k");
          else o.initial_window_size = u32(*n);
        }
      if (auto x = hm.get("connection_window_size"))
        if (auto n = read_size(r, *x, 0x7fffffff)) {
          if (*n < 65535) r.error(x->mark, x->path, "connection_window_size must be at least 65535");
          else o.connection_window_size = u32(*n);
        }
      if (auto x = hm.get("max_header_list_size"))
        if (auto n = read_size(r, *x, 16 * 1024 * 1024)) {
          if (*n < 4096) r.error(x->mark, x->path, "max_header_list_size must be at least 4k");
          else o.max_header_list_size = u32(*n);
        }
      if (auto x = hm.get("max_resets_per_second"))
        if (auto n = read_uint(r, *x, 1, 1000000)) o.max_resets_per_second = u32(*n);
      if (auto x = hm.get("max_streams_per_second"))
        if (auto n = read_uint(r, *x, 1, 1000000)) o.max_streams_per_second = u32(*n);
    }
  }
  return spec;
}

ServerSpec parse_server(Reader& r, const Value& v, std::size_t index, Xref& x) {
  ServerSpec spec;
  spec.mark = r.mark(v.mark);
  MapView m(r, v, {"name", "hosts", "listeners", "routes", "policies"});
  if (!m.ok()) {
    x.server_names.push_back(Site{});
    return spec;
  }
  if (auto name = read_name(r, m, x.server_names)) spec.name = *name;

  if (auto hosts = m.require("hosts")) {
    if (auto items = read_list(r, *hosts)) {
      if (items->empty()) r.error(hosts->mark, hosts->path, "server has no hosts (use \"*\" for the default server)");
      for (const Value& item : *items) {
        auto s = read_string(r, item);
        if (!s) continue;
        const std::string host = to_lower(*s);
        if (!valid_server_host(host)) {
          r.error(item.mark, item.path, "expected a host name like example.com, *.example.com or *");
          continue;
        }
        if (std::find(spec.hosts.begin(), spec.hosts.end(), host) != spec.hosts.end()) {
          r.error(item.mark, item.path, "host '" + host + "' is listed twice");
          continue;
        }
        spec.hosts.push_back(host);
        x.hosts.push_back(Xref::ServerRef{index, Site{host, r.mark(item.mark), item.path}});
      }
    }
  }
  if (auto listeners = m.get("listeners")) {
    if (auto items = read_list(r, *listeners)) {
      for (const Value& item : *items) {
        if (auto s = read_nonempty_string(r, item)) {
          spec.listeners.push_back(*s);
          x.server_listeners.push_back(Xref::ServerRef{index, Site{*s, r.mark(item.mark), item.path}});
        }
      }
    }
  }
  if (auto p = m.get("policies")) spec.policies = parse_policy_names(r, *p, x);
  if (auto routes = m.require("routes")) {
    if (auto items = read_list(r, *routes)) {
      if (items->empty()) r.error(routes->mark, routes->path, "server has no routes");
      std::vector<Site> names;
      for (std::size_t i = 0; i < items->size(); ++i) {
        const Value& item = (*items)[i];
        RouteSpec route = parse_route(r, item, i, x);
        const auto first = std::find_if(names.begin(), names.end(), [&](const Site& s) { return s.text == route.name; });
        if (first != names.end()) {
          r.error(route.mark, item.path,
                  "duplicate route name '" + route.name + "' in server '" + spec.name + "' (first at " +
                      format_mark(first->mark) + ")");
        }
        names.push_back(Site{route.name, route.mark, item.path});
        spec.routes.push_back(std::move(route));
      }
    }
  }
  return spec;
}

DefaultsSpec parse_defaults(Reader& r, const Value& v) {
  DefaultsSpec spec;
  MapView m(r, v,
            {"connect_timeout", "read_timeout", "send_timeout", "client_header_timeout", "client_body_timeout",
             "keepalive_timeout", "keepalive_requests", "max_body_size", "max_request_line", "max_header_bytes",
             "max_headers", "trusted_proxies"});
  if (!m.ok()) return spec;
  auto duration = [&](const Value& x) { return read_duration(r, x); };
  assign(m, "connect_timeout", spec.connect_timeout, duration);
  assign(m, "read_timeout", spec.read_timeout, duration);
  assign(m, "send_timeout", spec.send_timeout, duration);
  assign(m, "client_header_timeout", spec.client_header_timeout, duration);
  assign(m, "client_body_timeout", spec.client_body_timeout, duration);
  assign(m, "keepalive_timeout", spec.keepalive_timeout, duration);
  assign(m, "keepalive_requests", spec.keepalive_requests, [&](const Value& x) { return read_uint(r, x, 0, u32_max); });
  assign(m, "max_body_size", spec.max_body_size, [&](const Value& x) { return read_size(r, x, UINT64_MAX); });
  assign(m, "max_request_line", spec.max_request_line, [&](const Value& x) { return read_size(r, x, u32_max); });
  assign(m, "max_header_bytes", spec.max_header_bytes, [&](const Value& x) { return read_size(r, x, u32_max); });
  assign(m, "max_headers", spec.max_headers, [&](const Value& x) { return read_uint(r, x, 1, u32_max); });
  if (auto proxies = m.get("trusted_proxies")) {
    if (auto items = read_list(r, *proxies)) {
      for (const Value& item : *items) {
        auto s = read_string(r, item);
        if (!s) continue;
        if (auto cidr = core::parse_cidr(*s)) spec.trusted_proxies.push_back(*cidr);
        else r.error(item.mark, item.path, "bad CIDR '" + *s + "' (expected like 10.0.0.0/8 or fd00::/8)");
      }
    }
  }
  return spec;
}

}  // namespace rampart::config::detail
