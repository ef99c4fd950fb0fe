#include "snapshot/snapshot.hpp"

#include <boost/asio/ip/address.hpp>
#include <netdb.h>
#include <sys/socket.h>

#include <cstring>
#include <stdexcept>

namespace rampart::snapshot {

namespace {

// Blocking name resolution of one endpoint: IP literals directly, names via getaddrinfo
// (first IPv4 answer preferred). Issue #5 replaces this with asynchronous discovery.
bool resolve(const core::HostPort& hp, boost::asio::ip::tcp::endpoint& out, std::string& error) {
  boost::system::error_code ec;
  auto addr = boost::asio::ip::make_address(hp.host, ec);
  if (!ec) {
    out = {addr, hp.port};
    return true;
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_family = AF_UNSPEC;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(hp.host.c_str(), nullptr, &hints, &res);
  if (rc != 0 || !res) {
    error = std::string("cannot resolve '") + hp.host + "': " + ::gai_strerror(rc);
    return false;
  }
  const addrinfo* pick = res;
  for (auto* ai = res; ai; ai = ai->ai_next)
    if (ai->ai_family == AF_INET) { pick = ai; break; }
  if (pick->ai_family == AF_INET) {
    auto* sin = reinterpret_cast<const sockaddr_in*>(pick->ai_addr);
    boost::asio::ip::address_v4::bytes_type b;
    std::memcpy(b.data(), &sin->sin_addr, 4);
    out = {boost::asio::ip::address_v4(b), hp.port};
  } else {
    auto* sin6 = reinterpret_cast<const sockaddr_in6*>(pick->ai_addr);
    boost::asio::ip::address_v6::bytes_type b;
    std::memcpy(b.data(), &sin6->sin6_addr, 16);
    out = {boost::asio::ip::address_v6(b), hp.port};
  }
  ::freeaddrinfo(res);
  return true;
}

}  // namespace

bool Snapshot::is_trusted(const core::IpAddress& peer) const {
  for (const auto& c : defaults.trusted_proxies)
    if (c.contains(peer)) return true;
  return false;
}

std::shared_ptr<const Snapshot> build(const config::ConfigSpec& spec, std::uint64_t generation,
                                      std::vector<config::Diagnostic>& diagnostics, observe::Metrics* metrics) {
  auto snap = std::make_shared<Snapshot>();
  snap->generation = generation;
  snap->spec = spec;
  snap->defaults = spec.defaults;
  snap->limits.max_request_line = spec.defaults.max_request_line;
  snap->limits.max_header_bytes = spec.defaults.max_header_bytes;
  snap->limits.max_headers = spec.defaults.max_headers;
  snap->access_log_fields = observe::FieldSet::from(spec.access_log);
  if (metrics)
    for (const auto& l : spec.listeners) snap->listener_metrics[l.name] = metrics->listener_id(l.name);

  std::unordered_map<std::string, std::size_t> index;
  bool ok = true;
  for (std::size_t u = 0; u < spec.upstreams.size(); ++u) {
    const auto& us = spec.upstreams[u];
    UpstreamGroup g;
    g.name = us.name;
    g.max_idle_per_endpoint = us.max_idle_per_endpoint;
    g.idle_timeout = us.idle_timeout;
    g.max_requests_per_connection = us.max_requests_per_connection;
    if (metrics) g.metrics_id = metrics->upstream_id(us.name);
    for (std::size_t e = 0; e < us.endpoints.size(); ++e) {
      Endpoint ep;
      ep.address = us.endpoints[e];
      ep.key = us.name + "|" + ep.address.str();
      if (metrics) ep.metrics_id = metrics->endpoint_id(us.name, ep.address.str());
      std::string error;
      if (!resolve(ep.address, ep.resolved, error)) {
        diagnostics.push_back({us.mark, error, "upstreams[" + std::to_string(u) + "].endpoints[" + std::to_string(e) + "]"});
        ok = false;
        continue;
      }
      g.endpoints.push_back(std::move(ep));
    }
    index.emplace(g.name, snap->upstreams.size());
    snap->upstreams.push_back(std::move(g));
  }
  if (!ok) return nullptr;

  auto lookup = [&](const std::string& name) { return index.at(name); };
  auto decorate = [&](const config::RouteSpec& rs, route::Route& r) {
    if (metrics) r.metrics_id = metrics->route_id(r.server_name, r.name);
    r.access_log = spec.access_log.enabled && rs.access_log.value_or(true);
    r.access_log_sample = rs.access_log_sample.value_or(spec.access_log.sample);
  };
  try {
    for (const auto& l : spec.listeners) {
      // Each listener routes over the servers bound to it (a server without `listeners:` is on all).
      config::ConfigSpec filtered;
      filtered.defaults = spec.defaults;
      filtered.upstreams = spec.upstreams;
      for (const auto& s : spec.servers) {
        bool on = s.listeners.empty();
        for (const auto& n : s.listeners) on = on || n == l.name;
        if (on) filtered.servers.push_back(s);
      }
      snap->tables.emplace(l.name, route::Table::build(filtered, lookup, decorate));
    }
  } catch (const std::exception& e) {
    diagnostics.push_back({{}, e.what(), "servers"});
    return nullptr;
  }
  return snap;
}

}  // namespace rampart::snapshot
