#include "upstream/balancer.hpp"

#include "upstream/state.hpp"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstring>
#include <limits>
#include <numeric>
#include <stdexcept>

namespace rampart::upstream {

namespace {

// A bijective 64-bit mixer (xor-shift / odd multiply rounds): distinct inputs stay distinct and
// each input bit flips about half of the output bits.
inline std::uint64_t mix64(std::uint64_t x) {
  x ^= x >> 31;
  x *= 0x7fb5d329728ea185ULL;
  x ^= x >> 27;
  x *= 0x81dadef4bc2dd44dULL;
  x ^= x >> 33;
  return x;
}

// Up to 8 bytes as a little-endian integer (byte k in bits 8k..8k+7) on any host, so hash values
// (and Maglev tables) are the same everywhere.
inline std::uint64_t load_le(const char* p, std::size_t n) {
  std::uint64_t v = 0;
  std::memcpy(&v, p, n);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}

constexpr std::uint32_t no_endpoint = 0xffffffffU;

}  // namespace

std::uint64_t hash_key(std::string_view key) {
  // Each 8-byte block is folded into the state through a bijection, so two keys of one length
  // that differ in one block never collide at that step; the length goes into the final round.
  std::uint64_t h = 0x6a09e667f3bcc908ULL;
  const char* p = key.data();
  std::size_t n = key.size();
  for (; n >= 8; p += 8, n -= 8) h = mix64(h ^ load_le(p, 8));
  if (n != 0) h = mix64(h ^ load_le(p, n) ^ 0x9e3779b97f4a7c15ULL);
  return mix64(h ^ (static_cast<std::uint64_t>(key.size()) * 0xbb67ae8584caa73bULL));
}

Balancer::Balancer(const config::LoadBalanceSpec& spec, std::vector<std::uint32_t> weights, std::vector<std::string> keys)
    : spec_(spec), weights_(std::move(weights)), keys_(std::move(keys)) {
  if (weights_.size() != keys_.size())
    throw std::invalid_argument("balancer: " + std::to_string(weights_.size()) + " weights for " +
                                std::to_string(keys_.size()) + " endpoints");
  if (weights_.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()))
    throw std::invalid_argument("balancer: too many endpoints");
  for (std::size_t i = 0; i < weights_.size(); ++i)
    if (weights_[i] < 1 || weights_[i] > 1000)
      throw std::invalid_argument("balancer: weight " + std::to_string(weights_[i]) + " of '" + keys_[i] +
                                  "' is outside 1..1000");
  if (spec_.policy == config::LoadBalanceSpec::Policy::hash) {
    build_maglev();
  } else if (spec_.slow_start && spec_.slow_start->count() > 0) {
    slow_start_ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(*spec_.slow_start).count();
  }
}

std::int64_t Balancer::ramp(std::int64_t w, std::int64_t elapsed_ns) const {
  if (elapsed_ns >= slow_start_ns_) return w;
  double share = elapsed_ns <= 0 ? 0.0 : static_cast<double>(elapsed_ns) / static_cast<double>(slow_start_ns_);
  if (share < 0.1) share = 0.1;
  return static_cast<std::int64_t>(static_cast<double>(w) * share);
}

// Maglev (Eisenbud et al., NSDI 2016), weighted: endpoints take turns filling the table, each
// claiming the next free slot of its own permutation (offset + j * skip) mod M. Per round every
// endpoint earns its weight in credit and claims one slot once its credit reaches max_weight (then
// pays max_weight), so an endpoint with the largest weight claims one slot every round and the
// others in proportion. Turns go in key order, which makes the table a function of the
// (key, weight) set alone.
void Balancer::build_maglev() {
  const std::size_t n = weights_.size();
  if (n == 0) return;
  struct Entry {
    std::uint32_t index;
    std::uint32_t skip;
    std::uint32_t next;     // next slot of this endpoint's permutation to try
    std::int64_t credit;
  };
  std::vector<Entry> entries;
  entries.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    std::uint64_t h = upstream::hash_key(keys_[i]);
    auto offset = static_cast<std::uint32_t>((h & 0xffffffffU) % maglev_size);
    auto skip = static_cast<std::uint32_t>((h >> 32) % (maglev_size - 1) + 1);
    entries.push_back({i, skip, offset, 0});
  }
  std::sort(entries.begin(), entries.end(), [&](const Entry& a, const Entry& b) {
    int c = keys_[a.index].compare(keys_[b.index]);
    return c != 0 ? c < 0 : weights_[a.index] < weights_[b.index];
  });
  const std::int64_t max_weight = *std::max_element(weights_.begin(), weights_.end());
  // Full credit up front: every endpoint claims a slot in the first round (given n <= M).
  for (auto& e : entries) e.credit = max_weight - weights_[e.index];

  table_.assign(maglev_size, no_endpoint);
  std::uint32_t filled = 0;
  while (filled < maglev_size) {
    for (auto& e : entries) {
      e.credit += weights_[e.index];
      if (e.credit < max_weight) continue;
      e.credit -= max_weight;
      std::uint32_t slot = e.next;
      while (table_[slot] != no_endpoint) {
        slot += e.skip;
        if (slot >= maglev_size) slot -= maglev_size;
      }
      table_[slot] = e.index;
      e.next = slot + e.skip;
      if (e.next >= maglev_size) e.next -= maglev_size;
      if (++filled == maglev_size) break;
    }
  }
}

BalancerState::BalancerState(const Balancer& b, std::uint64_t seed)
    : current_(b.size(), 0),
      active_(b.size(), 0),
      scratch_(b.size(), 0),
      cumulative_(b.size(), 0),
      mask_(b.policy() == config::LoadBalanceSpec::Policy::hash ? b.size() : 0, 0),
      rng_(mix64(seed ^ 0x3c6ef372fe94f82bULL)),
      rr_offset_(b.size() == 0 ? 0 : static_cast<std::uint32_t>(seed % b.size())) {}

// splitmix64: a Weyl sequence through a bijective mixer.
std::uint64_t BalancerState::next_random() {
  rng_ += 0x9e3779b97f4a7c15ULL;
  std::uint64_t z = rng_;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

namespace {

struct Candidates {
  std::span<const EndpointState* const> states;
  const PickInput& in;

  bool operator()(std::size_t i) const {
    for (std::uint32_t x : in.excluded)
      if (x == i) return false;
    return in.ignore_health || states[i]->available(in.now_ns);
  }
};

inline std::int64_t weight_of(const Balancer& b, std::span<const EndpointState* const> states, std::size_t i,
                              std::int64_t now_ns) {
  if (!b.slow_start()) return std::int64_t{b.weight(i)} * Balancer::weight_scale;
  return b.effective_weight(i, states[i]->healthy_since_ns.load(std::memory_order_relaxed), now_ns);
}

}  // namespace

int pick(const Balancer& b, BalancerState& st, std::span<const EndpointState* const> states, const PickInput& in) {
  using Policy = config::LoadBalanceSpec::Policy;
  const std::size_t n = b.size();
  const Candidates is_candidate{states, in};
  if (n <= 1) return n == 1 && is_candidate(0) ? 0 : -1;

  switch (b.policy()) {
    case Policy::round_robin: {
      // nginx's smooth weighted round robin. Candidates are visited from rr_offset_ on, so ties
      // (all of them at the start, with equal weights) go to this worker's own first endpoint.
      int best = -1;
      std::int64_t best_current = 0;
      std::int64_t total = 0;
      std::size_t i = st.rr_offset_;
      for (std::size_t k = 0; k < n; ++k, ++i) {
        if (i == n) i = 0;
        if (!is_candidate(i)) continue;
        std::int64_t w = weight_of(b, states, i, in.now_ns);
        std::int64_t c = st.current_[i] += w;
        total += w;
        if (best < 0 || c > best_current) {
          best = static_cast<int>(i);
          best_current = c;
        }
      }
      if (best >= 0) st.current_[static_cast<std::size_t>(best)] -= total;
      return best;
    }

    case Policy::least_request: {
      // Two distinct candidates, uniformly. Rejection sampling over all endpoints first (O(1)
      // while most are candidates), then a scan when that keeps missing.
      std::size_t a = n, c = n;
      for (int t = 0; t < 4 && a == n; ++t) {
        std::size_t x = st.below(n);
        if (is_candidate(x)) a = x;
      }
      for (int t = 0; t < 4 && a != n && c == n; ++t) {
        std::size_t x = st.below(n);
        if (x != a && is_candidate(x)) c = x;
      }
      if (c == n) {
        std::size_t count = 0;
        for (std::size_t i = 0; i < n; ++i)
          if (is_candidate(i)) st.scratch_[count++] = static_cast<std::uint32_t>(i);
        if (count == 0) return -1;
        if (count == 1) return static_cast<int>(st.scratch_[0]);
        std::size_t ia = st.below(count), ic = st.below(count - 1);
        if (ic >= ia) ++ic;
        a = st.scratch_[ia];
        c = st.scratch_[ic];
      }
      // Lower (active + 1) / weight wins; compared as cross products. Ties keep `a` (random).
      std::uint64_t load_a = (std::uint64_t{st.active_[a]} + 1) * static_cast<std::uint64_t>(weight_of(b, states, c, in.now_ns));
      std::uint64_t load_c = (std::uint64_t{st.active_[c]} + 1) * static_cast<std::uint64_t>(weight_of(b, states, a, in.now_ns));
      return static_cast<int>(load_c < load_a ? c : a);
    }

    case Policy::random: {
      std::size_t count = 0;
      std::int64_t total = 0;
      for (std::size_t i = 0; i < n; ++i) {
        if (!is_candidate(i)) continue;
        total += weight_of(b, states, i, in.now_ns);
        st.scratch_[count] = static_cast<std::uint32_t>(i);
        st.cumulative_[count++] = total;
      }
      if (count == 0) return -1;
      auto r = static_cast<std::int64_t>(st.below(static_cast<std::uint64_t>(total)));
      auto it = std::upper_bound(st.cumulative_.begin(), st.cumulative_.begin() + static_cast<std::ptrdiff_t>(count), r);
      return static_cast<int>(st.scratch_[static_cast<std::size_t>(it - st.cumulative_.begin())]);
    }

    case Policy::hash: {
      const auto table = b.table();
      std::uint32_t slot = static_cast<std::uint32_t>(in.hash % Balancer::maglev_size);
      std::uint32_t first = table[slot];
      if (is_candidate(first)) return static_cast<int>(first);
      // Walk the table from there. Flags first: one availability read per endpoint, and a
      // bounded walk (every endpoint owns a slot when n <= M, so a candidate is always reached).
      std::size_t count = 0;
      for (std::size_t i = 0; i < n; ++i) count += st.mask_[i] = is_candidate(i) ? 1 : 0;
      if (count == 0) return -1;
      for (std::uint32_t step = 1; step < Balancer::maglev_size; ++step) {
        if (++slot == Balancer::maglev_size) slot = 0;
        if (st.mask_[table[slot]]) return static_cast<int>(table[slot]);
      }
      // More endpoints than slots and none of the candidates owns one: the hash chooses.
      std::size_t nth = in.hash % count;
      for (std::size_t i = 0; i < n; ++i)
        if (st.mask_[i] && nth-- == 0) return static_cast<int>(i);
      return -1;
    }
  }
  return -1;
}

}  // namespace rampart::upstream
