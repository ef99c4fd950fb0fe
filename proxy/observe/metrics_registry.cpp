// Metrics: shards, id tables, control-thread events and the text exposition.
#include <prometheus/text_serializer.h>

#include <cassert>
#include <chrono>
#include <sstream>

#include "observe/metrics.hpp"
#include "observe/metrics_internal.hpp"

namespace rampart::observe {

Metrics::Impl::Impl(unsigned workers, std::string v) : version(std::move(v)) {
  shards.reserve(workers);
  for (unsigned i = 0; i < workers; ++i) shards.push_back(std::make_unique<WorkerMetrics::Shard>());
  // Route id 0: no route matched. Registered under its own labels so that a config naming a
  // server and route "-" shares the series instead of duplicating it.
  routes.get({detail::kNoRouteName, detail::kNoRouteName}, [&](std::uint32_t id) {
    for (auto& s : shards) s->routes.ensure(id);
  });
}

Metrics::Metrics(unsigned workers, std::string version)
    : impl_(std::make_unique<Impl>(workers, std::move(version))) {
  impl_->handles.reserve(workers);
  for (auto& s : impl_->shards) impl_->handles.push_back(WorkerMetrics(s.get()));
}

Metrics::~Metrics() = default;

std::uint32_t Metrics::route_id(std::string_view server, std::string_view route) {
  std::lock_guard lock(impl_->names_mu);
  return impl_->routes.get({std::string(server), std::string(route)}, [&](std::uint32_t id) {
    for (auto& s : impl_->shards) s->routes.ensure(id);
  });
}

std::uint32_t Metrics::upstream_id(std::string_view upstream) {
  std::lock_guard lock(impl_->names_mu);
  return impl_->upstreams.get({std::string(upstream)}, [&](std::uint32_t id) {
    for (auto& s : impl_->shards) s->upstreams.ensure(id);
  });
}

std::uint32_t Metrics::endpoint_id(std::string_view upstream, std::string_view address) {
  std::lock_guard lock(impl_->names_mu);
  return impl_->endpoints.get({std::string(upstream), std::string(address)}, [&](std::uint32_t id) {
    for (auto& s : impl_->shards) s->endpoints.ensure(id);
  });
}

std::uint32_t Metrics::rate_limit_id(std::string_view policy) {
  std::lock_guard lock(impl_->names_mu);
  return impl_->rate_limits.get({std::string(policy)}, [&](std::uint32_t id) {
    for (auto& s : impl_->shards) s->rate_limits.ensure(id);
  });
}

std::uint32_t Metrics::listener_id(std::string_view listener) {
  std::lock_guard lock(impl_->names_mu);
  return impl_->listeners.get({std::string(listener)}, [&](std::uint32_t id) {
    for (auto& s : impl_->shards) s->listeners.ensure(id);
  });
}

namespace {

double now_unix_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

}  // namespace

void Metrics::reload_result(bool ok, std::uint64_t generation) {
  if (!ok) {
    impl_->reload_failure.add(1);
    return;
  }
  impl_->reload_success.add(1);
  config_loaded(generation);
}

void Metrics::config_loaded(std::uint64_t generation) {
  impl_->generation.store(generation, std::memory_order_relaxed);
  impl_->last_success_s.store(now_unix_seconds(), std::memory_order_relaxed);
}

void Metrics::set_draining(bool draining) { impl_->draining.store(draining, std::memory_order_relaxed); }

WorkerMetrics& Metrics::worker(unsigned index) {
  assert(index < impl_->handles.size());
  return impl_->handles[index];
}

std::string Metrics::render() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, impl_->Collect());
  return std::move(out).str();
}

void Metrics::set_endpoint_health_source(std::function<std::vector<EndpointHealth>()> source) {
  std::lock_guard lock(impl_->names_mu);
  impl_->endpoint_health = std::move(source);
}

Metrics::UpstreamGauges Metrics::upstream_gauges(std::uint32_t upstream) const {
  UpstreamGauges g;
  std::lock_guard lock(impl_->names_mu);
  for (const auto& shard : impl_->shards) {
    if (const detail::UpstreamCell* c = shard->upstreams.find(upstream)) {
      g.active_requests += c->active.get();
      g.idle_connections += c->idle.get();
    }
  }
  return g;
}

}  // namespace rampart::observe
