// The compiled, immutable configuration that request code runs on. Built once per (re)load on
// the control thread, then shared read-only by every worker; each exchange holds the snapshot it
// started with, so a reload never changes a request in flight.
#pragma once
#include "config/spec.hpp"
#include "http/parser.hpp"
#include "observe/access_log.hpp"
#include "observe/metrics.hpp"
#include "route/table.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace rampart::snapshot {

struct Endpoint {
  std::string key;                        // "<pool>|<host:port>": stable across reloads (pool identity)
  core::HostPort address;                 // as configured
  boost::asio::ip::tcp::endpoint resolved;  // resolved at build time
  std::uint32_t metrics_id = 0;
};

struct UpstreamGroup {
  std::string name;
  std::vector<Endpoint> endpoints;
  std::uint32_t max_idle_per_endpoint = 320;
  core::Duration idle_timeout{};
  std::uint32_t max_requests_per_connection = 10000;
  std::uint32_t metrics_id = 0;
};

struct Snapshot {
  std::uint64_t generation = 0;
  config::ConfigSpec spec;                          // what it was built from (dump, listener diff)
  std::unordered_map<std::string, std::shared_ptr<const route::Table>> tables;  // listener name -> routes
  std::vector<UpstreamGroup> upstreams;             // route::Route::upstream indexes this
  http::Limits limits;                              // request head limits
  config::DefaultsSpec defaults;                    // timeouts and limits not per route
  observe::FieldSet access_log_fields;              // what an access-log line holds
  std::unordered_map<std::string, std::uint32_t> listener_metrics;  // listener name -> metrics id

  const route::Table* table_for(const std::string& listener) const {
    auto it = tables.find(listener);
    return it == tables.end() ? nullptr : it->second.get();
  }
  bool is_trusted(const core::IpAddress& peer) const;
};

// Compiles a validated spec. Resolves endpoint host names (blocking: control thread only).
// `metrics` (may be null, e.g. for `rampart check`) hands out the metric ids of routes, upstreams,
// endpoints and listeners. Returns nullptr and appends diagnostics on failure (unresolvable
// endpoint, bad regex).
std::shared_ptr<const Snapshot> build(const config::ConfigSpec& spec, std::uint64_t generation,
                                      std::vector<config::Diagnostic>& diagnostics,
                                      observe::Metrics* metrics = nullptr);

}  // namespace rampart::snapshot
