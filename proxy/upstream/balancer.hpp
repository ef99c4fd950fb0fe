// Load-balancing algorithms of an upstream pool: smooth weighted round robin, least request (power
// of two choices), weighted random and consistent hashing (Maglev). Pure: no I/O, no clock, no
// globals; the caller passes the time, the endpoints' shared states and the request's hash.
//
// Two halves:
// - Balancer: immutable, one per pool per config snapshot. Built on the control thread (it may
//   throw there), then shared read-only by every worker.
// - BalancerState: mutable, one per worker per pool (in the worker's per-generation state). Used
//   by that worker's thread only: no atomics, no locks.
//
// pick() allocates nothing: every buffer it needs is sized when the BalancerState is built.
#pragma once
#include "config/spec.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rampart::upstream {

struct EndpointState;  // upstream/state.hpp

// 64-bit hash of a key (header value, cookie, client IP text, path, endpoint key). Every input
// bit affects every output bit (avalanche); the same on every host, process and release; not
// cryptographic (a client choosing its own key can choose its endpoint anyway).
std::uint64_t hash_key(std::string_view key);

class Balancer {
 public:
  // Slots of the Maglev table (prime, so every skip generates a full permutation).
  static constexpr std::uint32_t maglev_size = 65537;
  // Effective weights are weight * weight_scale, scaled down during slow start.
  static constexpr std::int64_t weight_scale = 1000;

  // weights[i] in 1..1000 for endpoint i; keys[i] a stable identity of endpoint i
  // ("<pool>|<host:port>"). For the hash policy the Maglev table is built from the keys, so the
  // table depends on the set of (key, weight) pairs only, not on their order, and a key keeps its
  // endpoint across rebuilds that keep that endpoint (Maglev: about 1/N of keys move when one of
  // N endpoints is added or removed). Throws std::invalid_argument when the sizes differ or a
  // weight is outside 1..1000. Control thread only; a hash table takes about 1 ms to build (20 ms
  // for 1000 endpoints of very uneven weights).
  Balancer(const config::LoadBalanceSpec& spec, std::vector<std::uint32_t> weights, std::vector<std::string> keys);

  config::LoadBalanceSpec::Policy policy() const { return spec_.policy; }
  // What to hash for the hash policy (the caller hashes it with upstream::hash_key()).
  const config::HashKeySpec& hash_key() const { return spec_.hash_key; }
  std::size_t size() const { return weights_.size(); }
  std::uint32_t weight(std::size_t i) const { return weights_[i]; }
  const std::string& key(std::size_t i) const { return keys_[i]; }

  // Endpoint index per Maglev slot; empty unless policy() is hash.
  std::span<const std::uint32_t> table() const { return table_; }

  // weight(i) * weight_scale, ramped by slow start: times max(0.1, elapsed / window) while
  // healthy_since_ns != 0 and now_ns - healthy_since_ns < window. Never ramped for the hash
  // policy (its table is fixed) or without slow_start.
  std::int64_t effective_weight(std::size_t i, std::int64_t healthy_since_ns, std::int64_t now_ns) const {
    std::int64_t w = std::int64_t{weights_[i]} * weight_scale;
    if (slow_start_ns_ == 0 || healthy_since_ns == 0) return w;
    return ramp(w, now_ns - healthy_since_ns);
  }
  bool slow_start() const { return slow_start_ns_ != 0; }

 private:
  std::int64_t ramp(std::int64_t w, std::int64_t elapsed_ns) const;
  void build_maglev();

  config::LoadBalanceSpec spec_;
  std::vector<std::uint32_t> weights_;
  std::vector<std::string> keys_;
  std::int64_t slow_start_ns_ = 0;  // 0: no slow start (or hash policy)
  std::vector<std::uint32_t> table_;
};

struct PickInput {
  std::int64_t now_ns = 0;                  // steady-clock ns (upstream::to_ns)
  std::uint64_t hash = 0;                   // policy hash: hash_key() of the request's key
  std::span<const std::uint32_t> excluded;  // endpoint indexes already tried by this request (retries)
  bool ignore_health = false;               // panic mode: every endpoint is a candidate
};

// One worker's view of one pool. Sized for `b` at construction; use it only with that Balancer.
// One thread only.
struct BalancerState {
  // `seed` must differ per worker: it seeds the random choices, and round robin starts at
  // endpoint seed % size() (pass the worker index for an even spread of first picks).
  BalancerState(const Balancer& b, std::uint64_t seed);

  // least_request bookkeeping: call on_start(i) when a request is sent to endpoint i and
  // on_finish(i) exactly once when it ends (any outcome). Unmatched on_finish is ignored.
  void on_start(std::size_t i) { ++active_[i]; }
  void on_finish(std::size_t i) {
    if (active_[i] != 0) --active_[i];
  }
  std::uint32_t active(std::size_t i) const { return active_[i]; }

 private:
  friend int pick(const Balancer&, BalancerState&, std::span<const EndpointState* const>, const PickInput&);
  std::uint64_t next_random();
  std::uint64_t below(std::uint64_t n) { return static_cast<std::uint64_t>((static_cast<unsigned __int128>(next_random()) * n) >> 64); }

  std::vector<std::int64_t> current_;    // round robin: nginx's current_weight per endpoint
  std::vector<std::uint32_t> active_;    // least_request: requests in flight from this worker
  std::vector<std::uint32_t> scratch_;   // candidate indexes (random, least_request fallback)
  std::vector<std::int64_t> cumulative_; // random: running sum of candidates' weights
  std::vector<std::uint8_t> mask_;       // hash: candidate flags for the table walk
  std::uint64_t rng_;
  std::uint32_t rr_offset_;
};

// Chooses an endpoint for one attempt of a request. A candidate is an endpoint not in
// `in.excluded` and, unless in.ignore_health, states[i]->available(in.now_ns). Returns the
// candidate's index, or -1 when there is none. states.size() == b.size(); st built for b.
// Worker thread of `st`; no allocation.
//
// round_robin: smooth weighted round robin over the candidates (equal weights rotate exactly).
// least_request: two distinct random candidates, the one with the lower (active + 1) / weight.
// random: weighted random candidate.
// hash: table[in.hash % maglev_size]; if that endpoint is not a candidate, the next slots in
//   table order until one is, so the keys of endpoints that stay candidates never move.
int pick(const Balancer& b, BalancerState& st, std::span<const EndpointState* const> states, const PickInput& in);

}  // namespace rampart::upstream
