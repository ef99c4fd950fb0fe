// Upstream state shared by every worker and kept across reloads: endpoint health (active checks
// and passive ejection) and per-pool circuit-breaker counters.
//
// Keyed by stable names (endpoint key "<pool>|<host:port>", pool name), so a reload that keeps an
// endpoint keeps its health. The registry is used on the control thread only (snapshot build);
// the states themselves are plain atomics read on the request path with relaxed loads: one
// writer each in the common case (the health checker), so no cache line bounces between workers
// while nothing changes.
#pragma once
#include "upstream/pool.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

namespace rampart::upstream {

// Nanoseconds on the steady clock (what the atomics store).
inline std::int64_t to_ns(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

enum class Health : std::uint8_t {
  healthy = 0,    // passing active checks, or not checked
  unknown = 1,    // checked, no verdict yet, configured to start without traffic
  unhealthy = 2,  // failed unhealthy_threshold checks in a row
};

struct alignas(64) EndpointState {
  // Written by the health checker (one per process).
  std::atomic<Health> health{Health::healthy};
  std::atomic<std::int64_t> healthy_since_ns{0};  // last transition to healthy (slow start), 0 = long ago
  // Passive health (outlier detection), written by the worker that saw the failure.
  std::atomic<std::uint32_t> consecutive_failures{0};  // connect failures and resets
  std::atomic<std::uint32_t> consecutive_5xx{0};
  std::atomic<std::int64_t> ejected_until_ns{0};       // 0 = not ejected
  std::atomic<std::uint32_t> ejections{0};             // consecutive ejections (grows the ejection time)
  std::atomic<std::uint64_t> ejections_total{0};
  // Probe results, written on the health checker's thread (metrics).
  std::atomic<std::uint64_t> checks_passed{0};
  std::atomic<std::uint64_t> checks_failed{0};

  bool ejected(std::int64_t now_ns) const { return ejected_until_ns.load(std::memory_order_relaxed) > now_ns; }
  // May get new requests: healthy by active checks and not ejected.
  bool available(std::int64_t now_ns) const {
    return health.load(std::memory_order_relaxed) == Health::healthy && !ejected(now_ns);
  }
};

// Process-wide counters of one pool for circuit breaking. Touched on the request path only when
// the pool configures a limit.
struct alignas(64) PoolState {
  std::atomic<std::int64_t> connections{0};  // open upstream connections, all workers
  std::atomic<std::int64_t> requests{0};     // requests in flight
  std::atomic<std::int64_t> pending{0};      // requests waiting for a connection
};

// Hands out the state objects by key; a key seen before gets the same object back.
// Control thread only.
class StateRegistry {
 public:
  // `initial` applies only to an endpoint not seen before.
  std::shared_ptr<EndpointState> endpoint(const std::string& key, Health initial) {
    auto& slot = endpoints_[key];
    if (!slot) {
      slot = std::make_shared<EndpointState>();
      slot->health.store(initial, std::memory_order_relaxed);
    }
    return slot;
  }
  std::shared_ptr<PoolState> pool(const std::string& name) {
    auto& slot = pools_[name];
    if (!slot) slot = std::make_shared<PoolState>();
    return slot;
  }
  // Forgets states nobody holds any more (endpoints removed by a reload whose snapshots are gone).
  void collect() {
    for (auto it = endpoints_.begin(); it != endpoints_.end();)
      it = it->second.use_count() == 1 ? endpoints_.erase(it) : std::next(it);
    for (auto it = pools_.begin(); it != pools_.end();)
      it = it->second.use_count() == 1 ? pools_.erase(it) : std::next(it);
  }

 private:
  std::unordered_map<std::string, std::shared_ptr<EndpointState>> endpoints_;
  std::unordered_map<std::string, std::shared_ptr<PoolState>> pools_;
};

}  // namespace rampart::upstream
