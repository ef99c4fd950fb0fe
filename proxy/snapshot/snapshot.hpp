// The compiled, immutable configuration that request code runs on. Built once per (re)load on
// the control thread, then shared read-only by every worker; each exchange holds the snapshot it
// started with, so a reload never changes a request in flight.
#pragma once
#include "core/conn_limit.hpp"
#include "config/spec.hpp"
#include "http/parser.hpp"
#include "observe/access_log.hpp"
#include "observe/metrics.hpp"
#include "route/table.hpp"
#include "tls/client.hpp"
#include "tls/context.hpp"
#include "upstream/balancer.hpp"
#include "upstream/state.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace rampart::snapshot {

struct Endpoint {
  std::string key;                        // stable across reloads (pool identity, health state, idle connections):
                                          // "<pool>|<host:port>", "<pool>|<name:port>@<ip>" for a discovered address;
                                          // a TLS pool's keys end in "|" + ClientContext::key_suffix() (server
                                          // name and TLS settings), so TLS and plain connections never mix
  std::string label;                      // "host:port" or "name:port@ip" (metrics, admin, access log)
  core::HostPort address;                 // as configured
  boost::asio::ip::tcp::endpoint resolved;
  std::uint32_t weight = 1;
  std::uint32_t metrics_id = 0;
  std::shared_ptr<upstream::EndpointState> state;  // shared by all workers, kept across reloads
};

struct UpstreamGroup {
  std::string name;
  std::vector<Endpoint> endpoints;
  std::vector<const upstream::EndpointState*> states;  // parallel to endpoints (Balancer::pick's view)
  std::shared_ptr<const upstream::Balancer> balancer;
  config::OutlierSpec outlier;
  bool panic = true;
  bool health_checked = false;
  config::CircuitSpec circuit;
  std::shared_ptr<upstream::PoolState> pool_state;     // circuit-breaker counters, process-wide
  config::RetryBudgetSpec retry_budget;
  std::uint32_t max_idle_per_endpoint = 320;
  core::Duration idle_timeout{};
  std::uint32_t max_requests_per_connection = 10000;
  std::optional<core::Duration> max_connection_lifetime;
  std::uint32_t metrics_id = 0;
  std::shared_ptr<const tls::ClientContext> tls;  // TLS pools only: connections and health checks use it
  bool h2 = false;                    // protocol h2: requests multiplexed over the worker's HTTP/2 connections
  std::uint32_t h2_max_streams = 100;
};

// Addresses of a DNS name as discovery last saw them (empty: none known). Used by build() for
// endpoints given by name; without it, names are resolved with the blocking system resolver.
using NameLookup = std::function<std::vector<boost::asio::ip::address>(const config::UpstreamSpec& pool,
                                                                       const std::string& host)>;

struct Snapshot {
  std::uint64_t generation = 0;
  config::ConfigSpec spec;                          // what it was built from (dump, listener diff)
  std::unordered_map<std::string, std::shared_ptr<const route::Table>> tables;  // listener name -> routes
  std::vector<UpstreamGroup> upstreams;             // route::Route::upstream indexes this
  http::Limits limits;                              // request head limits
  config::DefaultsSpec defaults;                    // timeouts and limits not per route
  observe::FieldSet access_log_fields;              // what an access-log line holds
  std::unordered_map<std::string, std::uint32_t> listener_metrics;  // listener name -> metrics id
  std::unordered_map<std::string, std::shared_ptr<const tls::ServerContext>> tls;  // TLS listeners only
  std::unordered_map<std::string, std::uint16_t> redirect_https;                  // listener -> https port
  // Listeners with max_connections_per_ip: one limiter shared by every worker, kept across
  // reloads while the listener's limit stays the same (connections open across a reload stay counted).
  std::unordered_map<std::string, std::shared_ptr<core::ConnectionLimiter>> connection_limits;
  std::unordered_map<std::string, std::shared_ptr<const policy::Chain>> server_policies;  // server name -> chain
  std::unordered_map<std::string, const config::ListenerSpec*> listener_specs;  // into spec.listeners

  const policy::Chain* policies_of(const std::string* server) const {
    if (!server) return nullptr;
    auto it = server_policies.find(*server);
    return it == server_policies.end() ? nullptr : it->second.get();
  }

  const tls::ServerContext* tls_for(const std::string& listener) const {
    auto it = tls.find(listener);
    return it == tls.end() ? nullptr : it->second.get();
  }

  const config::ListenerSpec* listener(const std::string& name) const {
    auto it = listener_specs.find(name);
    return it == listener_specs.end() ? nullptr : it->second;
  }

  const route::Table* table_for(const std::string& listener) const {
    auto it = tables.find(listener);
    return it == tables.end() ? nullptr : it->second.get();
  }
  bool is_trusted(const core::IpAddress& peer) const;
};

// Compiles a validated spec (control thread only).
// `metrics` (may be null, e.g. for `rampart check`) hands out the metric ids of routes, upstreams,
// endpoints and listeners. `states` (may be null: fresh states) keeps endpoint health and pool
// counters across reloads. `lookup` gives the addresses of endpoints named by DNS; when empty,
// names are resolved with the blocking system resolver, and an unresolvable name is an error.
// With `lookup`, a name without addresses leaves its pool without that endpoint (discovery keeps
// trying). `tickets` (may be null: fresh keys) keeps each TLS listener's session-ticket keys across
// reloads. TLS certificates are read and checked here. Returns nullptr and appends diagnostics on
// failure.
std::shared_ptr<const Snapshot> build(const config::ConfigSpec& spec, std::uint64_t generation,
                                      std::vector<config::Diagnostic>& diagnostics,
                                      observe::Metrics* metrics = nullptr, upstream::StateRegistry* states = nullptr,
                                      const NameLookup& lookup = {}, tls::TicketRegistry* tickets = nullptr);

}  // namespace rampart::snapshot
