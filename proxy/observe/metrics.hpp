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
#include <functional>
#include <vector>
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

// Label values of rampart_tls_handshake_failures_total{reason}, in tls::HandshakeFailure order.
inline constexpr const char* kTlsFailureReasons[] = {"timeout",          "closed",           "http_request",
                                                     "protocol_version", "no_shared_cipher", "client_certificate",
                                                     "other"};
constexpr std::size_t kTlsFailureReasonCount = sizeof(kTlsFailureReasons) / sizeof(kTlsFailureReasons[0]);
// Why an HTTP/2 connection was closed as abusive (h2::Abuse without `none`, same order).
inline constexpr const char* kHttp2AbuseReasons[] = {"rapid_reset",           "stream_rate",   "continuation_flood",
                                                     "header_list_too_large", "control_flood", "protocol_error"};
constexpr std::size_t kHttp2AbuseReasonCount = sizeof(kHttp2AbuseReasons) / sizeof(kHttp2AbuseReasons[0]);

// Label values of rampart_rate_limit_decisions_total{decision}, in policy::RateDecision order.
inline constexpr const char* kRateDecisions[] = {"allowed", "limited", "dry_run_limited", "over_key_bound"};
constexpr std::size_t kRateDecisionCount = sizeof(kRateDecisions) / sizeof(kRateDecisions[0]);
// Label values of rampart_compression_*{coding}, in http::Coding order minus identity.
inline constexpr const char* kCompressionCodings[] = {"gzip", "br"};
constexpr std::size_t kCompressionCodingCount = sizeof(kCompressionCodings) / sizeof(kCompressionCodings[0]);

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
  std::uint32_t rate_limit_id(std::string_view policy);

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

  // Endpoint health as the shared upstream state says at scrape time. The control thread sets
  // the source once; it is called on the scraping thread and must be thread-safe.
  struct EndpointHealth {
    std::string upstream;
    std::string endpoint;
    bool healthy = true;            // active checks pass (or none configured)
    bool ejected = false;           // passive health: ejected now
    std::uint64_t ejections = 0;    // ejections so far
    std::uint64_t checks_passed = 0;
    std::uint64_t checks_failed = 0;
  };
  void set_endpoint_health_source(std::function<std::vector<EndpointHealth>()> source);

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
  // A retry was wanted but the pool's retry budget was spent.
  void upstream_retry_budget_exhausted(std::uint32_t upstream);
  // Circuit breaking turned a request away (503 at once).
  enum class Overflow : std::uint8_t { max_connections, max_pending, max_requests };
  void upstream_overflow(std::uint32_t upstream, Overflow reason);
  // No endpoint was available: `panic` true = spread over all endpoints anyway, false = 503.
  void upstream_unavailable(std::uint32_t upstream, bool panic);
  // Gauges owned by this worker (summed over workers at scrape time).
  void upstream_active(std::uint32_t upstream, int delta);  // requests in flight to the upstream
  void upstream_idle(std::uint32_t upstream, int delta);    // idle pooled connections
  // TLS handshakes on a listener: completed (by version and whether the session was resumed), and
  // failed by reason (an index into kTlsFailureReasons).
  void tls_handshake(std::uint32_t listener, bool tls13, bool resumed);
  void tls_handshake_failed(std::uint32_t listener, std::size_t reason);
  void connection_opened(std::uint32_t listener);           // accepted downstream connection
  void connection_closed(std::uint32_t listener);
  // A connection closed at accept because its client IP holds too many on the listener
  // (`table_full`: the per-IP table had no room for one more address).
  void connection_rejected_per_ip(std::uint32_t listener, bool table_full = false);
  void http2_connection(std::uint32_t listener);  // a connection that speaks HTTP/2
  void http2_abusive(std::uint32_t listener, std::size_t reason);  // closed: kHttp2AbuseReasons[reason]
  // A rate limit decided (`decision` indexes kRateDecisions).
  void rate_limit(std::uint32_t limit, std::size_t decision);
  // A response body compressed (`coding` indexes kCompressionCodings): bytes before and after.
  void compressed(std::size_t coding, std::uint64_t in, std::uint64_t out);
  void access_log_dropped(std::uint64_t lines);

 private:
  friend class Metrics;
  struct Shard;
  explicit WorkerMetrics(Shard* shard) : shard_(shard) {}
  Shard* shard_;
};

}  // namespace rampart::observe
