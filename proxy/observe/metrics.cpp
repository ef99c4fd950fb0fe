// The request-path side of the metrics: classification and WorkerMetrics (one worker's shard).
// Nothing here locks, allocates or issues a read-modify-write instruction.
#include "observe/metrics.hpp"

#include "observe/metrics_internal.hpp"

namespace rampart::observe {

std::size_t status_class(int status) noexcept {
  if (status >= 100 && status < 600) return static_cast<std::size_t>(status / 100 - 1);
  return kStatusClasses - 1;
}

MethodClass method_class(std::string_view method) noexcept {
  if (method == "GET") return MethodClass::get;
  if (method == "HEAD") return MethodClass::head;
  if (method == "POST") return MethodClass::post;
  if (method == "PUT") return MethodClass::put;
  if (method == "DELETE") return MethodClass::del;
  if (method == "PATCH") return MethodClass::patch;
  if (method == "OPTIONS") return MethodClass::options;
  return MethodClass::other;
}

namespace detail {

std::size_t bucket_index(double seconds) noexcept {
  std::size_t i = 0;
  while (i < kBounds.size() && seconds > kBounds[i]) ++i;
  return i;
}

}  // namespace detail

void WorkerMetrics::request(std::uint32_t route, MethodClass method, int status, double duration_s,
                            std::uint64_t bytes_received, std::uint64_t bytes_sent) {
  detail::RouteCell* c = shard_->routes.find(route);
  if (c == nullptr) return;
  auto m = static_cast<std::size_t>(method);
  if (m >= kMethodClasses) m = static_cast<std::size_t>(MethodClass::other);
  c->requests[m][status_class(status)].add(1);
  c->duration.observe(duration_s);
  c->received.add(bytes_received);
  c->sent.add(bytes_sent);
}

void WorkerMetrics::upstream_request(std::uint32_t upstream, std::uint32_t endpoint, int status, double response_s) {
  if (detail::UpstreamCell* c = shard_->upstreams.find(upstream)) {
    c->requests[status == 0 ? kStatusClasses : status_class(status)].add(1);
    if (status != 0) c->response.observe(response_s);
  }
  if (detail::EndpointCell* e = shard_->endpoints.find(endpoint)) e->requests.add(1);
}

void WorkerMetrics::upstream_connect(std::uint32_t upstream, bool ok, double connect_s) {
  detail::UpstreamCell* c = shard_->upstreams.find(upstream);
  if (c == nullptr) return;
  if (ok)
    c->connect.observe(connect_s);
  else
    c->connect_failures.add(1);
}

void WorkerMetrics::upstream_reuse(std::uint32_t upstream) {
  if (detail::UpstreamCell* c = shard_->upstreams.find(upstream)) c->reuses.add(1);
}

void WorkerMetrics::upstream_retry(std::uint32_t upstream) {
  if (detail::UpstreamCell* c = shard_->upstreams.find(upstream)) c->retries.add(1);
}

void WorkerMetrics::upstream_retry_budget_exhausted(std::uint32_t upstream) {
  if (detail::UpstreamCell* c = shard_->upstreams.find(upstream)) c->budget_exhausted.add(1);
}

void WorkerMetrics::upstream_overflow(std::uint32_t upstream, WorkerMetrics::Overflow reason) {
  if (detail::UpstreamCell* c = shard_->upstreams.find(upstream)) c->overflow[static_cast<std::size_t>(reason)].add(1);
}

void WorkerMetrics::upstream_unavailable(std::uint32_t upstream, bool panic) {
  if (detail::UpstreamCell* c = shard_->upstreams.find(upstream)) (panic ? c->unavailable_panic : c->unavailable_fail).add(1);
}

void WorkerMetrics::upstream_active(std::uint32_t upstream, int delta) {
  if (detail::UpstreamCell* c = shard_->upstreams.find(upstream)) c->active.add(delta);
}

void WorkerMetrics::upstream_idle(std::uint32_t upstream, int delta) {
  if (detail::UpstreamCell* c = shard_->upstreams.find(upstream)) c->idle.add(delta);
}

void WorkerMetrics::tls_handshake(std::uint32_t listener, bool tls13, bool resumed) {
  if (detail::ListenerCell* c = shard_->listeners.find(listener)) c->tls_handshakes[tls13][resumed].add(1);
}

void WorkerMetrics::tls_handshake_failed(std::uint32_t listener, std::size_t reason) {
  if (reason >= kTlsFailureReasonCount) reason = kTlsFailureReasonCount - 1;
  if (detail::ListenerCell* c = shard_->listeners.find(listener)) c->tls_failures[reason].add(1);
}

void WorkerMetrics::connection_opened(std::uint32_t listener) {
  detail::ListenerCell* c = shard_->listeners.find(listener);
  if (c == nullptr) return;
  c->active.add(1);
  c->total.add(1);
}

void WorkerMetrics::connection_closed(std::uint32_t listener) {
  if (detail::ListenerCell* c = shard_->listeners.find(listener)) c->active.add(-1);
}

void WorkerMetrics::connection_rejected_per_ip(std::uint32_t listener, bool table_full) {
  if (detail::ListenerCell* c = shard_->listeners.find(listener)) (table_full ? c->rejected_table_full : c->rejected_per_ip).add(1);
}

void WorkerMetrics::http2_connection(std::uint32_t listener) {
  if (detail::ListenerCell* c = shard_->listeners.find(listener)) c->http2.add(1);
}

void WorkerMetrics::http2_abusive(std::uint32_t listener, std::size_t reason) {
  if (reason >= kHttp2AbuseReasonCount) reason = kHttp2AbuseReasonCount - 1;
  if (detail::ListenerCell* c = shard_->listeners.find(listener)) c->http2_abusive[reason].add(1);
}

void WorkerMetrics::rate_limit(std::uint32_t limit, std::size_t decision) {
  if (decision >= kRateDecisionCount) return;
  if (detail::RateLimitCell* c = shard_->rate_limits.find(limit)) c->decisions[decision].add(1);
}

void WorkerMetrics::compressed(std::size_t coding, std::uint64_t in, std::uint64_t out) {
  if (coding >= kCompressionCodingCount) return;
  shard_->compressed[coding].add(1);
  shard_->compressed_in[coding].add(in);
  shard_->compressed_out[coding].add(out);
}

void WorkerMetrics::access_log_dropped(std::uint64_t lines) { shard_->access_log_dropped.add(lines); }

}  // namespace rampart::observe
