// Prometheus metrics with per-worker shards: the request path writes only its own worker's
// shard (plain loads and stores on memory no other thread writes: no lock, no shared atomic,
// no read-modify-write instruction); a scrape sums every shard (prometheus-cpp's Collectable +
// TextSerializer). Label values are names from the config (server, route, upstream, listener,
// endpoint address), a status class or a method class: never anything taken from a request.
//
// Identities are stable across reloads: the control thread asks for an id per name tuple when it
// builds a snapshot (grow-only tables), so a counter keeps counting when a reload keeps its route.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace rampart::observe {

enum class MethodClass : std::uint8_t { get, head, post, put, del, patch, options, other };
constexpr std::size_t kMethodClasses = 8;
// 1xx..5xx -> 0..4; anything else -> 4 (5xx)
constexpr std::size_t kStatusClasses = 5;
std::size_t status_class(int status) noexcept;
MethodClass method_class(std::string_view method) noexcept;

class WorkerMetrics;

class Metrics {
 public:
  // `workers` shards are created up front. `version` goes into rampart_build_info.
  Metrics(unsigned workers, std::string version);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // --- Control thread (snapshot build). Ids are small dense integers, stable for the process. --
  std::uint32_t route_id(std::string_view server, std::string_view route);  // id 0 = "no route"
  std::uint32_t upstream_id(std::string_view upstream);
  std::uint32_t endpoint_id(std::string_view upstream, std::string_view address);
  std::uint32_t listener_id(std::string_view listener);

  // --- Control thread events. ------------------------------------------------------------------
  void reload_result(bool ok, std::uint64_t generation);  // also sets the last-success timestamp on ok
  // The start-up config was loaded (generation and timestamp as on a successful reload, but not
  // counted as a reload). reload_result(false, ...) leaves the generation as it was.
  void config_loaded(std::uint64_t generation);
  void set_draining(bool draining);

  // --- Any thread. -------------------------------------------------------------------------------
  WorkerMetrics& worker(unsigned index);
  // The whole exposition in Prometheus text format 0.0.4 (what GET /metrics returns).
  std::string render() const;
  // Gauges of one upstream summed over the workers (for GET /upstreams).
  struct UpstreamGauges {
    std::int64_t active_requests = 0;
    std::int64_t idle_connections = 0;
  };
  UpstreamGauges upstream_gauges(std::uint32_t upstream) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One worker's shard. Every method: that worker's thread only.
class WorkerMetrics {
 public:
  // A downstream request ended (any outcome, including local responses and errors).
  // `route` is a route_id (0 when no route matched). Durations in seconds.
  void request(std::uint32_t route, MethodClass method, int status, double duration_s, std::uint64_t bytes_received,
               std::uint64_t bytes_sent);
  // An upstream exchange ended: status 0 = no response (connect failure, reset, timeout).
  // `response_s` goes into the response-duration histogram only when there was a response.
  void upstream_request(std::uint32_t upstream, std::uint32_t endpoint, int status, double response_s);
  // A new upstream connection was attempted; `ok` false = connect failure/timeout (counted as a
  // failure; only successful connects go into the connect-duration histogram).
  void upstream_connect(std::uint32_t upstream, bool ok, double connect_s);
  // A pooled connection was reused for a request.
  void upstream_reuse(std::uint32_t upstream);
  void upstream_retry(std::uint32_t upstream);
  // Gauges owned by this worker (summed over workers at scrape time).
  void upstream_active(std::uint32_t upstream, int delta);  // requests in flight to the upstream
  void upstream_idle(std::uint32_t upstream, int delta);    // idle pooled connections
  void connection_opened(std::uint32_t listener);           // accepted downstream connection
  void connection_closed(std::uint32_t listener);
  void access_log_dropped(std::uint64_t lines);

 private:
  friend class Metrics;
  struct Shard;
  explicit WorkerMetrics(Shard* shard) : shard_(shard) {}
  Shard* shard_;
};

}  // namespace rampart::observe
