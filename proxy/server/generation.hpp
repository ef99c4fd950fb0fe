// A worker's handle on one snapshot: the snapshot plus the per-worker state that belongs to that
// generation (round-robin cursors). Reference-counted without atomics: created, copied and
// released only on its worker's thread, so an exchange pins its generation for the cost of an
// integer increment — no shared cache line between workers.
#pragma once
#include "snapshot/snapshot.hpp"

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace rampart::server {

struct Generation {
  // `seed` differs per worker, so workers start their rotations on different endpoints.
  Generation(std::shared_ptr<const snapshot::Snapshot> s, observe::AccessLogShard* log, std::uint64_t seed)
      : snap(std::move(s)), access_log(log) {
    lb.reserve(snap->upstreams.size());
    for (const auto& g : snap->upstreams) lb.emplace_back(*g.balancer, seed);
  }
  std::shared_ptr<const snapshot::Snapshot> snap;
  std::vector<upstream::BalancerState> lb;  // per upstream group: this worker's balancing state
  observe::AccessLogShard* access_log = nullptr;  // this worker's access-log writer; null when off
  std::uint32_t refs = 0;
};

class GenerationRef {
 public:
  GenerationRef() = default;
  explicit GenerationRef(Generation* g) : g_(g) { if (g_) ++g_->refs; }
  GenerationRef(const GenerationRef& o) : g_(o.g_) { if (g_) ++g_->refs; }
  GenerationRef(GenerationRef&& o) noexcept : g_(std::exchange(o.g_, nullptr)) {}
  GenerationRef& operator=(GenerationRef o) noexcept { std::swap(g_, o.g_); return *this; }
  ~GenerationRef() { if (g_ && --g_->refs == 0) delete g_; }
  Generation* operator->() const { return g_; }
  Generation& operator*() const { return *g_; }
  explicit operator bool() const { return g_ != nullptr; }

 private:
  Generation* g_ = nullptr;
};

}  // namespace rampart::server
