// Metrics::Impl::Collect: sums every shard per id and builds the metric families.
//
// Series policy: families with one series per id (histograms, per-upstream counters and gauges,
// per-listener and per-endpoint series) show every registered id, zero or not, so dashboards see
// a route or pool as soon as the config names it. Families that multiply an id by a class
// (requests by method and status class, upstream requests by status class) show only the
// combinations that have counted something, which keeps a scrape proportional to real traffic.
#include <cmath>
#include <limits>

#include "observe/metrics_internal.hpp"

namespace rampart::observe {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

constexpr std::array<const char*, kMethodClasses> kMethodNames = {"GET",    "HEAD",  "POST",    "PUT",
                                                                  "DELETE", "PATCH", "OPTIONS", "OTHER"};
constexpr std::array<const char*, detail::kUpstreamClasses> kClassNames = {"1xx", "2xx", "3xx",
                                                                           "4xx", "5xx", "none"};

MetricFamily family(const char* name, const char* help, MetricType type) {
  MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  return f;
}

using Labels = std::vector<ClientMetric::Label>;

void add_counter(MetricFamily& f, Labels labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  m.counter.value = value;
  f.metric.push_back(std::move(m));
}

void add_gauge(MetricFamily& f, Labels labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  m.gauge.value = value;
  f.metric.push_back(std::move(m));
}

struct HistogramSum {
  std::array<std::uint64_t, detail::kBuckets> buckets{};
  double sum = 0;

  void add(const detail::Histogram& h) {
    for (std::size_t i = 0; i < detail::kBuckets; ++i) buckets[i] += h.buckets[i].get();
    sum += h.sum.load(std::memory_order_relaxed);
  }
};

void add_histogram(MetricFamily& f, Labels labels, const HistogramSum& h) {
  ClientMetric m;
  m.label = std::move(labels);
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < detail::kBuckets; ++i) {
    cumulative += h.buckets[i];
    double bound = i < detail::kBounds.size() ? detail::kBounds[i] : std::numeric_limits<double>::infinity();
    m.histogram.bucket.push_back({cumulative, bound});
  }
  m.histogram.sample_count = cumulative;
  m.histogram.sample_sum = h.sum;
  f.metric.push_back(std::move(m));
}

struct RouteSum {
  std::array<std::array<std::uint64_t, kStatusClasses>, kMethodClasses> requests{};
  HistogramSum duration;
  std::uint64_t received = 0;
  std::uint64_t sent = 0;
};

struct UpstreamSum {
  std::array<std::uint64_t, detail::kUpstreamClasses> requests{};
  HistogramSum response;
  HistogramSum connect;
  std::uint64_t connect_failures = 0;
  std::uint64_t reuses = 0;
  std::uint64_t retries = 0;
  std::uint64_t budget_exhausted = 0;
  std::array<std::uint64_t, 3> overflow{};
  std::uint64_t unavailable_fail = 0;
  std::uint64_t unavailable_panic = 0;
  std::int64_t active = 0;
  std::int64_t idle = 0;
};

using Shards = std::vector<const detail::ShardData*>;

RouteSum sum_route(const Shards& shards, std::uint32_t id) {
  RouteSum r;
  for (const auto& s : shards) {
    const detail::RouteCell* c = s->routes.find(id);
    if (c == nullptr) continue;
    for (std::size_t m = 0; m < kMethodClasses; ++m)
      for (std::size_t k = 0; k < kStatusClasses; ++k) r.requests[m][k] += c->requests[m][k].get();
    r.duration.add(c->duration);
    r.received += c->received.get();
    r.sent += c->sent.get();
  }
  return r;
}

UpstreamSum sum_upstream(const Shards& shards, std::uint32_t id) {
  UpstreamSum u;
  for (const auto& s : shards) {
    const detail::UpstreamCell* c = s->upstreams.find(id);
    if (c == nullptr) continue;
    for (std::size_t k = 0; k < detail::kUpstreamClasses; ++k) u.requests[k] += c->requests[k].get();
    u.response.add(c->response);
    u.connect.add(c->connect);
    u.connect_failures += c->connect_failures.get();
    u.reuses += c->reuses.get();
    u.retries += c->retries.get();
    u.budget_exhausted += c->budget_exhausted.get();
    for (std::size_t k = 0; k < 3; ++k) u.overflow[k] += c->overflow[k].get();
    u.unavailable_fail += c->unavailable_fail.get();
    u.unavailable_panic += c->unavailable_panic.get();
    u.active += c->active.get();
    u.idle += c->idle.get();
  }
  return u;
}

void collect_routes(const Shards& shards, const detail::IdTable<2>& routes, std::vector<MetricFamily>& out) {
  auto requests = family("rampart_requests_total",
                         "Downstream requests that ended (any outcome), by server, route, method and status class.",
                         MetricType::Counter);
  auto duration = family("rampart_request_duration_seconds",
                         "Downstream request duration from the first request byte to the last response byte.",
                         MetricType::Histogram);
  auto received = family("rampart_received_bytes_total", "Request bytes received from downstream clients.",
                         MetricType::Counter);
  auto sent = family("rampart_sent_bytes_total", "Response bytes sent to downstream clients.", MetricType::Counter);
  for (std::uint32_t id = 0; id < routes.names.size(); ++id) {
    const auto& [server, route] = routes.names[id];
    RouteSum r = sum_route(shards, id);
    for (std::size_t m = 0; m < kMethodClasses; ++m)
      for (std::size_t k = 0; k < kStatusClasses; ++k)
        if (r.requests[m][k] != 0)
          add_counter(requests,
                      {{"server", server}, {"route", route}, {"method", kMethodNames[m]}, {"code_class", kClassNames[k]}},
                      static_cast<double>(r.requests[m][k]));
    add_histogram(duration, {{"server", server}, {"route", route}}, r.duration);
    add_counter(received, {{"server", server}, {"route", route}}, static_cast<double>(r.received));
    add_counter(sent, {{"server", server}, {"route", route}}, static_cast<double>(r.sent));
  }
  out.push_back(std::move(requests));
  out.push_back(std::move(duration));
  out.push_back(std::move(received));
  out.push_back(std::move(sent));
}

void collect_upstreams(const Shards& shards, const detail::IdTable<1>& upstreams, std::vector<MetricFamily>& out) {
  auto requests = family("rampart_upstream_requests_total",
                         "Upstream exchanges that ended, by upstream and response status class (none: no response).",
                         MetricType::Counter);
  auto response = family("rampart_upstream_response_duration_seconds",
                         "Time from sending the upstream request to the end of the upstream response.",
                         MetricType::Histogram);
  auto connect = family("rampart_upstream_connect_duration_seconds",
                        "Time to establish a new upstream connection (successful connects).", MetricType::Histogram);
  auto failures = family("rampart_upstream_connect_failures_total",
                         "Upstream connection attempts that failed or timed out.", MetricType::Counter);
  auto reuses = family("rampart_upstream_connection_reuses_total",
                       "Requests sent on a pooled (reused) upstream connection.", MetricType::Counter);
  auto retries = family("rampart_upstream_retries_total", "Upstream requests retried.", MetricType::Counter);
  auto budget = family("rampart_upstream_retry_budget_exhausted_total",
                       "Retries not made because the upstream's retry budget was spent.", MetricType::Counter);
  auto overflow = family("rampart_upstream_overflow_total",
                         "Requests answered 503 at once by circuit breaking, by the limit reached.", MetricType::Counter);
  auto unavailable = family("rampart_upstream_no_healthy_endpoint_total",
                            "Requests that found no available endpoint, by outcome (panic: sent to any endpoint; "
                            "fail: answered 503).",
                            MetricType::Counter);
  auto active = family("rampart_upstream_active_requests", "Requests in flight to the upstream.", MetricType::Gauge);
  auto idle = family("rampart_upstream_idle_connections", "Idle pooled upstream connections.", MetricType::Gauge);
  for (std::uint32_t id = 0; id < upstreams.names.size(); ++id) {
    const std::string& name = upstreams.names[id][0];
    UpstreamSum u = sum_upstream(shards, id);
    for (std::size_t k = 0; k < detail::kUpstreamClasses; ++k)
      if (u.requests[k] != 0)
        add_counter(requests, {{"upstream", name}, {"code_class", kClassNames[k]}}, static_cast<double>(u.requests[k]));
    add_histogram(response, {{"upstream", name}}, u.response);
    add_histogram(connect, {{"upstream", name}}, u.connect);
    add_counter(failures, {{"upstream", name}}, static_cast<double>(u.connect_failures));
    add_counter(reuses, {{"upstream", name}}, static_cast<double>(u.reuses));
    add_counter(retries, {{"upstream", name}}, static_cast<double>(u.retries));
    add_counter(budget, {{"upstream", name}}, static_cast<double>(u.budget_exhausted));
    static constexpr const char* kOverflowReasons[] = {"max_connections", "max_pending", "max_requests"};
    for (std::size_t k = 0; k < 3; ++k)
      add_counter(overflow, {{"upstream", name}, {"reason", kOverflowReasons[k]}}, static_cast<double>(u.overflow[k]));
    add_counter(unavailable, {{"upstream", name}, {"outcome", "panic"}}, static_cast<double>(u.unavailable_panic));
    add_counter(unavailable, {{"upstream", name}, {"outcome", "fail"}}, static_cast<double>(u.unavailable_fail));
    add_gauge(active, {{"upstream", name}}, static_cast<double>(u.active));
    add_gauge(idle, {{"upstream", name}}, static_cast<double>(u.idle));
  }
  for (auto* f : {&requests, &response, &connect, &failures, &reuses, &retries, &budget, &overflow, &unavailable,
                  &active, &idle})
    out.push_back(std::move(*f));
}

void collect_endpoints(const Shards& shards, const detail::IdTable<2>& endpoints, std::vector<MetricFamily>& out) {
  auto requests = family("rampart_upstream_endpoint_requests_total",
                         "Upstream exchanges that ended, by upstream and endpoint address.", MetricType::Counter);
  for (std::uint32_t id = 0; id < endpoints.names.size(); ++id) {
    std::uint64_t n = 0;
    for (const auto& s : shards)
      if (const detail::EndpointCell* c = s->endpoints.find(id)) n += c->requests.get();
    const auto& [upstream, endpoint] = endpoints.names[id];
    add_counter(requests, {{"upstream", upstream}, {"endpoint", endpoint}}, static_cast<double>(n));
  }
  out.push_back(std::move(requests));
}

void collect_health(const std::function<std::vector<Metrics::EndpointHealth>()>& source, std::vector<MetricFamily>& out) {
  auto healthy = family("rampart_upstream_endpoint_healthy",
                        "1 when the endpoint passes its active health checks (or has none), else 0.", MetricType::Gauge);
  auto ejected = family("rampart_upstream_endpoint_ejected",
                        "1 while passive health checking (outlier detection) keeps the endpoint out, else 0.",
                        MetricType::Gauge);
  auto ejections = family("rampart_upstream_endpoint_ejections_total",
                          "Times passive health checking ejected the endpoint.", MetricType::Counter);
  auto checks = family("rampart_upstream_health_checks_total", "Active health check probes, by result.",
                       MetricType::Counter);
  if (source) {
    for (const auto& e : source()) {
      Labels l{{"upstream", e.upstream}, {"endpoint", e.endpoint}};
      add_gauge(healthy, l, e.healthy ? 1 : 0);
      add_gauge(ejected, l, e.ejected ? 1 : 0);
      add_counter(ejections, l, static_cast<double>(e.ejections));
      Labels passed = l, failed = l;
      passed.push_back({"result", "passed"});
      failed.push_back({"result", "failed"});
      add_counter(checks, passed, static_cast<double>(e.checks_passed));
      add_counter(checks, failed, static_cast<double>(e.checks_failed));
    }
  }
  for (auto* f : {&healthy, &ejected, &ejections, &checks}) out.push_back(std::move(*f));
}

void collect_listeners(const Shards& shards, const detail::IdTable<1>& listeners, std::vector<MetricFamily>& out) {
  auto active = family("rampart_connections_active", "Open downstream connections, by listener.", MetricType::Gauge);
  auto total = family("rampart_connections_total", "Accepted downstream connections, by listener.",
                      MetricType::Counter);
  auto handshakes = family("rampart_tls_handshakes_total",
                           "Completed TLS handshakes, by listener, protocol version and session resumption.",
                           MetricType::Counter);
  auto failures = family("rampart_tls_handshake_failures_total", "Failed TLS handshakes, by listener and reason.",
                         MetricType::Counter);
  auto rejected = family("rampart_connections_rejected_total",
                         "Downstream connections closed at accept, by listener and reason.", MetricType::Counter);
  auto h2 = family("rampart_http2_connections_total", "Downstream connections that spoke HTTP/2, by listener.",
                   MetricType::Counter);
  auto h2_abusive = family("rampart_http2_abusive_connections_total",
                           "HTTP/2 connections closed for breaking a protocol or abuse bound, by listener and reason.",
                           MetricType::Counter);
  for (std::uint32_t id = 0; id < listeners.names.size(); ++id) {
    std::int64_t open = 0;
    std::uint64_t h2_total = 0;
    std::array<std::uint64_t, kHttp2AbuseReasonCount> h2_bad{};
    std::uint64_t accepted = 0;
    std::array<std::array<std::uint64_t, 2>, 2> done{};
    std::array<std::uint64_t, kTlsFailureReasonCount> failed{};
    std::uint64_t per_ip = 0, table_full = 0;
    for (const auto& s : shards) {
      if (const detail::ListenerCell* c = s->listeners.find(id)) {
        per_ip += c->rejected_per_ip.get();
        h2_total += c->http2.get();
        for (std::size_t r = 0; r < kHttp2AbuseReasonCount; ++r) h2_bad[r] += c->http2_abusive[r].get();
        table_full += c->rejected_table_full.get();
        open += c->active.get();
        accepted += c->total.get();
        for (std::size_t v = 0; v < 2; ++v)
          for (std::size_t r = 0; r < 2; ++r) done[v][r] += c->tls_handshakes[v][r].get();
        for (std::size_t r = 0; r < kTlsFailureReasonCount; ++r) failed[r] += c->tls_failures[r].get();
      }
    }
    const std::string& name = listeners.names[id][0];
    add_gauge(active, {{"listener", name}}, static_cast<double>(open));
    add_counter(total, {{"listener", name}}, static_cast<double>(accepted));
    add_counter(rejected, {{"listener", name}, {"reason", "per_ip_limit"}}, static_cast<double>(per_ip));
    add_counter(rejected, {{"listener", name}, {"reason", "per_ip_table_full"}}, static_cast<double>(table_full));
    add_counter(h2, {{"listener", name}}, static_cast<double>(h2_total));
    for (std::size_t r = 0; r < kHttp2AbuseReasonCount; ++r)
      add_counter(h2_abusive, {{"listener", name}, {"reason", kHttp2AbuseReasons[r]}}, static_cast<double>(h2_bad[r]));
    std::uint64_t any = 0;
    for (const auto& v : done) any += v[0] + v[1];
    for (std::uint64_t f : failed) any += f;
    if (any == 0) continue;  // a plain-HTTP listener (or no handshake yet): no TLS series
    for (std::size_t v = 0; v < 2; ++v)
      for (std::size_t r = 0; r < 2; ++r)
        add_counter(handshakes, {{"listener", name}, {"version", v ? "TLSv1.3" : "TLSv1.2"}, {"resumed", r ? "true" : "false"}},
                    static_cast<double>(done[v][r]));
    for (std::size_t r = 0; r < kTlsFailureReasonCount; ++r)
      add_counter(failures, {{"listener", name}, {"reason", kTlsFailureReasons[r]}}, static_cast<double>(failed[r]));
  }
  out.push_back(std::move(active));
  out.push_back(std::move(total));
  out.push_back(std::move(handshakes));
  out.push_back(std::move(failures));
  out.push_back(std::move(rejected));
  out.push_back(std::move(h2));
  out.push_back(std::move(h2_abusive));
}

void collect_rate_limits(const Shards& shards, const detail::IdTable<1>& limits, std::vector<MetricFamily>& out) {
  auto decisions = family("rampart_rate_limit_decisions_total", "Rate limit decisions, by policy and decision.",
                          MetricType::Counter);
  for (std::uint32_t id = 0; id < limits.names.size(); ++id) {
    std::array<std::uint64_t, kRateDecisionCount> n{};
    for (const auto& s : shards)
      if (const detail::RateLimitCell* c = s->rate_limits.find(id))
        for (std::size_t d = 0; d < kRateDecisionCount; ++d) n[d] += c->decisions[d].get();
    for (std::size_t d = 0; d < kRateDecisionCount; ++d)
      add_counter(decisions, {{"policy", limits.names[id][0]}, {"decision", kRateDecisions[d]}},
                  static_cast<double>(n[d]));
  }
  out.push_back(std::move(decisions));
}

void collect_compression(const Shards& shards, std::vector<MetricFamily>& out) {
  auto responses = family("rampart_compression_responses_total", "Response bodies compressed, by coding.",
                          MetricType::Counter);
  auto in = family("rampart_compression_input_bytes_total", "Response body bytes before compression, by coding.",
                   MetricType::Counter);
  auto outb = family("rampart_compression_output_bytes_total", "Response body bytes after compression, by coding.",
                     MetricType::Counter);
  for (std::size_t c = 0; c < kCompressionCodingCount; ++c) {
    std::uint64_t n = 0, bi = 0, bo = 0;
    for (const auto& s : shards) {
      n += s->compressed[c].get();
      bi += s->compressed_in[c].get();
      bo += s->compressed_out[c].get();
    }
    add_counter(responses, {{"coding", kCompressionCodings[c]}}, static_cast<double>(n));
    add_counter(in, {{"coding", kCompressionCodings[c]}}, static_cast<double>(bi));
    add_counter(outb, {{"coding", kCompressionCodings[c]}}, static_cast<double>(bo));
  }
  out.push_back(std::move(responses));
  out.push_back(std::move(in));
  out.push_back(std::move(outb));
}

}  // namespace

std::vector<MetricFamily> Metrics::Impl::Collect() const {
  std::vector<MetricFamily> out;
  Shards shards;
  for (const auto& s : this->shards) shards.push_back(s.get());
  {
    std::lock_guard lock(names_mu);
    collect_routes(shards, routes, out);
    collect_upstreams(shards, upstreams, out);
    collect_endpoints(shards, endpoints, out);
    collect_listeners(shards, listeners, out);
    collect_health(endpoint_health, out);
    collect_rate_limits(shards, rate_limits, out);
    auto overflow = family("rampart_metrics_label_overflow_total",
                           "Names mapped to the shared \"<overflow>\" series because an id table was full.",
                           MetricType::Counter);
    add_counter(overflow, {{"table", "route"}}, static_cast<double>(routes.overflowed));
    add_counter(overflow, {{"table", "upstream"}}, static_cast<double>(upstreams.overflowed));
    add_counter(overflow, {{"table", "endpoint"}}, static_cast<double>(endpoints.overflowed));
    add_counter(overflow, {{"table", "listener"}}, static_cast<double>(listeners.overflowed));
    add_counter(overflow, {{"table", "rate_limit"}}, static_cast<double>(rate_limits.overflowed));
    out.push_back(std::move(overflow));
  }

  collect_compression(shards, out);

  std::uint64_t dropped = 0;
  for (const auto& s : shards) dropped += s->access_log_dropped.get();
  auto log = family("rampart_access_log_dropped_lines_total",
                    "Access log lines dropped because the sink could not keep up.", MetricType::Counter);
  add_counter(log, {}, static_cast<double>(dropped));
  out.push_back(std::move(log));

  auto reloads = family("rampart_config_reloads_total", "Configuration reloads, by result.", MetricType::Counter);
  add_counter(reloads, {{"result", "success"}}, static_cast<double>(reload_success.get()));
  add_counter(reloads, {{"result", "failure"}}, static_cast<double>(reload_failure.get()));
  out.push_back(std::move(reloads));

  auto last = family("rampart_config_last_reload_success_timestamp_seconds",
                     "Unix time of the last successful configuration load (0: none yet).", MetricType::Gauge);
  add_gauge(last, {}, last_success_s.load(std::memory_order_relaxed));
  out.push_back(std::move(last));

  auto gen = family("rampart_config_generation", "Generation number of the configuration in use.", MetricType::Gauge);
  add_gauge(gen, {}, static_cast<double>(generation.load(std::memory_order_relaxed)));
  out.push_back(std::move(gen));

  auto drain = family("rampart_draining", "1 while shutting down (readiness fails), else 0.", MetricType::Gauge);
  add_gauge(drain, {}, draining.load(std::memory_order_relaxed) ? 1 : 0);
  out.push_back(std::move(drain));

  auto build = family("rampart_build_info", "Build information; the value is always 1.", MetricType::Gauge);
  add_gauge(build, {{"version", version}}, 1);
  out.push_back(std::move(build));

  auto workers = family("rampart_workers", "Worker threads.", MetricType::Gauge);
  add_gauge(workers, {}, static_cast<double>(shards.size()));
  out.push_back(std::move(workers));
  return out;
}

}  // namespace rampart::observe
