#include "snapshot/snapshot.hpp"

#include "policy/rate_limit.hpp"

#include <boost/asio/ip/address.hpp>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <mutex>
#include <unordered_map>
#include <cstring>
#include <stdexcept>

namespace rampart::snapshot {

namespace {

// The process-wide limiter of a listener: the same object for every snapshot while the limit is
// unchanged, so connections accepted before a reload are released into the table that counted them.
std::shared_ptr<core::ConnectionLimiter> connection_limiter(const std::string& listener, std::uint32_t per_ip) {
  static std::mutex mu;
  static std::unordered_map<std::string, std::weak_ptr<core::ConnectionLimiter>> live;
  const std::string key = listener + "|" + std::to_string(per_ip);
  std::lock_guard lock(mu);
  if (auto existing = live[key].lock()) return existing;
  auto fresh = std::make_shared<core::ConnectionLimiter>(per_ip);
  live[key] = fresh;
  return fresh;
}

// Blocking name resolution (getaddrinfo) of a name: its IPv4 addresses, or its IPv6 ones when it
// has none. Used when no discovery is running (rampart check).
std::vector<boost::asio::ip::address> resolve_blocking(const std::string& host, std::string& error) {
  std::vector<boost::asio::ip::address> v4, v6;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_family = AF_UNSPEC;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0 || !res) {
    error = std::string("cannot resolve '") + host + "': " + ::gai_strerror(rc);
    return {};
  }
  for (auto* ai = res; ai; ai = ai->ai_next) {
    if (ai->ai_family == AF_INET) {
      auto* sin = reinterpret_cast<const sockaddr_in*>(ai->ai_addr);
      boost::asio::ip::address_v4::bytes_type b;
      std::memcpy(b.data(), &sin->sin_addr, 4);
      boost::asio::ip::address a = boost::asio::ip::address_v4(b);
      if (std::find(v4.begin(), v4.end(), a) == v4.end()) v4.push_back(a);
    } else if (ai->ai_family == AF_INET6) {
      auto* sin6 = reinterpret_cast<const sockaddr_in6*>(ai->ai_addr);
      boost::asio::ip::address_v6::bytes_type b;
      std::memcpy(b.data(), &sin6->sin6_addr, 16);
      boost::asio::ip::address a = boost::asio::ip::address_v6(b);
      if (std::find(v6.begin(), v6.end(), a) == v6.end()) v6.push_back(a);
    }
  }
  ::freeaddrinfo(res);
  return v4.empty() ? v6 : v4;
}

}  // namespace

bool Snapshot::is_trusted(const core::IpAddress& peer) const {
  for (const auto& c : defaults.trusted_proxies)
    if (c.contains(peer)) return true;
  return false;
}

std::shared_ptr<const Snapshot> build(const config::ConfigSpec& spec, std::uint64_t generation,
                                      std::vector<config::Diagnostic>& diagnostics, observe::Metrics* metrics,
                                      upstream::StateRegistry* states, const NameLookup& lookup,
                                      tls::TicketRegistry* tickets) {
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

  bool ok = true;
  tls::TicketRegistry scratch_tickets;  // fresh keys when the caller keeps none
  if (!tickets) tickets = &scratch_tickets;
  for (std::size_t i = 0; i < spec.listeners.size(); ++i) {
    const auto& l = spec.listeners[i];
    if (l.redirect_https_port) snap->redirect_https[l.name] = l.redirect_https_port;
    snap->listener_specs[l.name] = &snap->spec.listeners[i];
    if (l.max_connections_per_ip) snap->connection_limits[l.name] = connection_limiter(l.name, l.max_connections_per_ip);
    if (!l.tls) continue;
    auto ctx = tls::ServerContext::build(*l.tls, i, tickets->for_listener(l.name), diagnostics);
    if (!ctx) {
      ok = false;
      continue;
    }
    snap->tls[l.name] = std::move(ctx);
  }

  std::unordered_map<std::string, std::size_t> index;
  upstream::StateRegistry scratch_states;  // fresh states when the caller keeps none
  if (!states) states = &scratch_states;
  for (std::size_t u = 0; u < spec.upstreams.size(); ++u) {
    const auto& us = spec.upstreams[u];
    UpstreamGroup g;
    g.name = us.name;
    g.outlier = us.outlier;
    g.panic = us.panic;
    g.health_checked = us.health_check.has_value();
    g.circuit = us.circuit;
    g.pool_state = states->pool(us.name);
    g.retry_budget = us.retry_budget;
    g.max_idle_per_endpoint = us.max_idle_per_endpoint;
    g.idle_timeout = us.idle_timeout;
    g.max_requests_per_connection = us.max_requests_per_connection;
    g.max_connection_lifetime = us.max_connection_lifetime;
    g.h2 = us.protocol == "h2";
    g.h2_max_streams = us.h2_max_streams;
    if (metrics) g.metrics_id = metrics->upstream_id(us.name);
    if (us.tls) {
      g.tls = tls::ClientContext::build(*us.tls, u, diagnostics);
      if (!g.tls) ok = false;
    }
    const auto initial = us.health_check && !us.health_check->start_healthy ? upstream::Health::unknown
                                                                             : upstream::Health::healthy;
    auto add = [&](const config::EndpointSpec& es, const boost::asio::ip::address& ip, bool named) {
      Endpoint ep;
      ep.address = es.address;
      ep.weight = es.weight;
      ep.resolved = {ip, es.address.port};
      ep.label = named ? es.address.str() + "@" + ip.to_string() : es.address.str();
      ep.key = us.name + "|" + ep.label;
      if (g.tls) ep.key += "|" + g.tls->key_suffix();
      if (g.h2) ep.key += "|h2";
      if (metrics) ep.metrics_id = metrics->endpoint_id(us.name, ep.label);
      ep.state = states->endpoint(ep.key, initial);
      g.endpoints.push_back(std::move(ep));
    };
    for (std::size_t e = 0; e < us.endpoints.size(); ++e) {
      const auto& es = us.endpoints[e];
      boost::system::error_code ec;
      auto literal = boost::asio::ip::make_address(es.address.host, ec);
      if (!ec) {
        add(es, literal, false);
        continue;
      }
      std::string error;
      auto addresses = lookup ? lookup(us, es.address.host) : resolve_blocking(es.address.host, error);
      if (addresses.empty() && !lookup) {
        diagnostics.push_back({us.mark, error, "upstreams[" + std::to_string(u) + "].endpoints[" + std::to_string(e) + "]"});
        ok = false;
        continue;
      }
      for (const auto& ip : addresses) add(es, ip, true);
    }
    std::vector<std::uint32_t> weights;
    std::vector<std::string> keys;
    for (const auto& ep : g.endpoints) {
      weights.push_back(ep.weight);
      keys.push_back(ep.key);
      g.states.push_back(ep.state.get());
    }
    g.balancer = std::make_shared<const upstream::Balancer>(us.balance, std::move(weights), std::move(keys));
    index.emplace(g.name, snap->upstreams.size());
    snap->upstreams.push_back(std::move(g));
  }
  if (!ok) return nullptr;

  auto upstream_index = [&](const std::string& name) { return index.at(name); };

  // Policies: built once per snapshot by name; a server's chain, and each route's (the server's,
  // minus `without` and minus kinds the route brings itself, then the route's own). Rate limits
  // stack instead: a route's own limits add to its server's.
  std::unordered_map<std::string, std::shared_ptr<const policy::Policy>> policies;
  std::unordered_map<std::string, std::string> kind_of;
  try {
    for (const auto& p : spec.policies) {
      // A rate limit counts its decisions under its own name; the others need no metrics id.
      if (p.rate_limit)
        policies[p.name] = std::make_shared<policy::RateLimit>(p.name, *p.rate_limit,
                                                               metrics ? metrics->rate_limit_id(p.name) : 0);
      else
        policies[p.name] = policy::build(p);
      kind_of[p.name] = p.kind();
    }
  } catch (const std::exception& e) {
    diagnostics.push_back({{}, e.what(), "policies"});
    return nullptr;
  }
  std::unordered_map<std::string, const config::ServerSpec*> server_spec;
  for (const auto& s : spec.servers) {
    server_spec[s.name] = &s;
    auto chain = std::make_shared<policy::Chain>();
    for (const auto& n : s.policies) chain->add(policies.at(n));
    snap->server_policies[s.name] = std::move(chain);
  }
  auto route_chain = [&](const config::RouteSpec& rs, const std::string& server) {
    auto chain = std::make_shared<policy::Chain>();
    auto it = server_spec.find(server);
    if (it != server_spec.end()) {
      for (const auto& n : it->second->policies) {
        if (std::find(rs.without.begin(), rs.without.end(), n) != rs.without.end()) continue;
        const bool replaced =
            kind_of.at(n) != "rate_limit" &&
            std::any_of(rs.policies.begin(), rs.policies.end(),
                        [&](const std::string& own) { return kind_of.at(own) == kind_of.at(n); });
        if (!replaced) chain->add(policies.at(n));
      }
    }
    for (const auto& n : rs.policies) chain->add(policies.at(n));
    return chain;
  };
  auto decorate = [&](const config::RouteSpec& rs, route::Route& r) {
    r.policies = route_chain(rs, r.server_name);
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
      snap->tables.emplace(l.name, route::Table::build(filtered, upstream_index, decorate));
    }
  } catch (const std::exception& e) {
    diagnostics.push_back({{}, e.what(), "servers"});
    return nullptr;
  }
  return snap;
}

}  // namespace rampart::snapshot
