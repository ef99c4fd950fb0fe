#include "upstream/balancer.hpp"
#include "upstream/state.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

using namespace rampart;
using namespace rampart::upstream;
using namespace std::chrono_literals;
using Policy = config::LoadBalanceSpec::Policy;

namespace {

constexpr std::int64_t now = 1'000'000'000'000;  // an arbitrary steady-clock instant (1000 s)
constexpr std::int64_t sec = 1'000'000'000;

// Endpoint states owned by the test; view() is what pick() takes.
struct Endpoints {
  explicit Endpoints(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      owned.push_back(std::make_unique<EndpointState>());
      ptrs.push_back(owned.back().get());
    }
  }
  EndpointState& operator[](std::size_t i) { return *owned[i]; }
  std::span<const EndpointState* const> view() const { return ptrs; }

  std::vector<std::unique_ptr<EndpointState>> owned;
  std::vector<const EndpointState*> ptrs;
};

std::string endpoint_key(std::size_t i) { return "pool|10.0.0." + std::to_string(i + 1) + ":8080"; }

Balancer make(Policy policy, std::vector<std::uint32_t> weights, std::optional<config::Duration> slow_start = {}) {
  config::LoadBalanceSpec spec;
  spec.policy = policy;
  spec.slow_start = slow_start;
  std::vector<std::string> keys;
  for (std::size_t i = 0; i < weights.size(); ++i) keys.push_back(endpoint_key(i));
  return Balancer(spec, std::move(weights), std::move(keys));
}

Balancer make_hash(std::vector<std::uint32_t> weights, std::vector<std::string> keys) {
  config::LoadBalanceSpec spec;
  spec.policy = Policy::hash;
  return Balancer(spec, std::move(weights), std::move(keys));
}

std::vector<std::uint32_t> equal(std::size_t n) { return std::vector<std::uint32_t>(n, 1); }

int pick_at(const Balancer& b, BalancerState& st, const Endpoints& eps, std::uint64_t hash = 0,
            std::span<const std::uint32_t> excluded = {}, bool ignore_health = false) {
  PickInput in;
  in.now_ns = now;
  in.hash = hash;
  in.excluded = excluded;
  in.ignore_health = ignore_health;
  return pick(b, st, eps.view(), in);
}

std::vector<int> sequence(const Balancer& b, BalancerState& st, const Endpoints& eps, std::size_t n) {
  std::vector<int> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back(pick_at(b, st, eps));
  return out;
}

// Endpoint key chosen for each request hash, so balancers over different endpoint sets compare.
std::vector<std::string> assign(const Balancer& b, const Endpoints& eps, std::size_t requests) {
  BalancerState st(b, 0);
  std::vector<std::string> out;
  out.reserve(requests);
  for (std::size_t k = 0; k < requests; ++k) {
    int i = pick_at(b, st, eps, hash_key("client-" + std::to_string(k)));
    out.push_back(i < 0 ? std::string() : b.key(static_cast<std::size_t>(i)));
  }
  return out;
}

std::vector<std::string> keys_of(std::size_t n) {
  std::vector<std::string> keys;
  for (std::size_t i = 0; i < n; ++i) keys.push_back(endpoint_key(i));
  return keys;
}

}  // namespace

// ---- construction ----------------------------------------------------------------------------

TEST_CASE("balancer rejects mismatched sizes and weights outside 1..1000") {
  config::LoadBalanceSpec spec;
  CHECK_THROWS_AS(Balancer(spec, {1, 1}, {"a"}), std::invalid_argument);
  CHECK_THROWS_AS(Balancer(spec, {0}, {"a"}), std::invalid_argument);
  CHECK_THROWS_AS(Balancer(spec, {1001}, {"a"}), std::invalid_argument);
  CHECK_NOTHROW(Balancer(spec, {1, 1000}, {"a", "b"}));
}

TEST_CASE("every policy returns -1 for an empty pool and handles a single endpoint") {
  for (Policy p : {Policy::round_robin, Policy::least_request, Policy::random, Policy::hash}) {
    Balancer empty = make(p, {});
    BalancerState st0(empty, 1);
    Endpoints none(0);
    CHECK(pick_at(empty, st0, none, 42) == -1);

    Balancer one = make(p, {3});
    BalancerState st1(one, 1);
    Endpoints eps(1);
    CHECK(pick_at(one, st1, eps, 42) == 0);
    eps[0].health = Health::unhealthy;
    CHECK(pick_at(one, st1, eps, 42) == -1);
    CHECK(pick_at(one, st1, eps, 42, {}, true) == 0);
    std::array<std::uint32_t, 1> ex{0};
    CHECK(pick_at(one, st1, eps, 42, ex, true) == -1);
  }
}

// ---- round robin -----------------------------------------------------------------------------

TEST_CASE("round robin rotates exactly over equal weights, starting at seed % size") {
  Balancer b = make(Policy::round_robin, equal(4));
  Endpoints eps(4);
  BalancerState w0(b, 0);
  CHECK(sequence(b, w0, eps, 10) == std::vector<int>{0, 1, 2, 3, 0, 1, 2, 3, 0, 1});
  BalancerState w2(b, 2);
  CHECK(sequence(b, w2, eps, 6) == std::vector<int>{2, 3, 0, 1, 2, 3});
  BalancerState w7(b, 7);
  CHECK(sequence(b, w7, eps, 5) == std::vector<int>{3, 0, 1, 2, 3});

  // Four workers seeded with their index start on four different endpoints.
  std::set<int> firsts;
  for (std::uint64_t w = 0; w < 4; ++w) {
    BalancerState st(b, w);
    firsts.insert(pick_at(b, st, eps));
  }
  CHECK(firsts.size() == 4);
}

TEST_CASE("round robin with weights 5:1:1 follows nginx's smooth sequence") {
  Balancer b = make(Policy::round_robin, {5, 1, 1});
  Endpoints eps(3);
  BalancerState st(b, 0);
  const std::string period = "aabacaa";
  std::string got;
  for (int i = 0; i < 700; ++i) got += static_cast<char>('a' + pick_at(b, st, eps));
  std::string want;
  for (int i = 0; i < 100; ++i) want += period;
  CHECK(got == want);

  // Exact proportions for other weights too: one full period of 3+7+11 picks.
  Balancer b2 = make(Policy::round_robin, {3, 7, 11});
  BalancerState st2(b2, 1);
  std::array<int, 3> counts{};
  for (int i = 0; i < 21 * 50; ++i) ++counts[static_cast<std::size_t>(pick_at(b2, st2, eps))];
  CHECK(counts == std::array<int, 3>{150, 350, 550});
}

TEST_CASE("round robin skips unhealthy, ejected and excluded endpoints and returns -1 when none is left") {
  Balancer b = make(Policy::round_robin, equal(4));
  Endpoints eps(4);
  BalancerState st(b, 0);
  eps[1].health = Health::unhealthy;
  eps[2].ejected_until_ns = now + 1;
  CHECK(sequence(b, st, eps, 6) == std::vector<int>{0, 3, 0, 3, 0, 3});

  std::array<std::uint32_t, 1> ex0{0};
  for (int i = 0; i < 5; ++i) CHECK(pick_at(b, st, eps, 0, ex0) == 3);

  eps[2].ejected_until_ns = now;  // the ejection ended
  std::set<int> seen;
  for (int i = 0; i < 6; ++i) seen.insert(pick_at(b, st, eps));
  CHECK(seen == std::set<int>{0, 2, 3});

  eps[3].health = Health::unknown;  // checked, no verdict yet: no traffic
  for (int i = 0; i < 6; ++i) CHECK(pick_at(b, st, eps) != 3);

  std::array<std::uint32_t, 2> ex02{0, 2};
  CHECK(pick_at(b, st, eps, 0, ex02) == -1);

  // Panic mode: health is ignored, exclusions are not.
  std::array<int, 4> counts{};
  for (int i = 0; i < 40; ++i) ++counts[static_cast<std::size_t>(pick_at(b, st, eps, 0, {}, true))];
  CHECK(counts == std::array<int, 4>{10, 10, 10, 10});
  std::array<std::uint32_t, 4> all{0, 1, 2, 3};
  CHECK(pick_at(b, st, eps, 0, all, true) == -1);
}

// ---- least request ---------------------------------------------------------------------------

TEST_CASE("least request prefers the endpoint with fewer active requests") {
  Balancer b = make(Policy::least_request, equal(3));
  Endpoints eps(3);
  BalancerState st(b, 9);
  for (int i = 0; i < 5; ++i) st.on_start(0);
  CHECK(st.active(0) == 5);
  std::array<int, 3> counts{};
  for (int i = 0; i < 3000; ++i) ++counts[static_cast<std::size_t>(pick_at(b, st, eps))];
  // Two distinct choices out of three always include endpoint 1 or 2, and either beats 0.
  CHECK(counts[0] == 0);
  CHECK(counts[1] > 1200);
  CHECK(counts[2] > 1200);

  // With two endpoints both are compared every time: the idle one always wins.
  Balancer b2 = make(Policy::least_request, equal(2));
  BalancerState st2(b2, 3);
  st2.on_start(1);
  for (int i = 0; i < 50; ++i) CHECK(pick_at(b2, st2, eps) == 0);
  st2.on_finish(1);
  st2.on_finish(1);  // unmatched: ignored
  CHECK(st2.active(1) == 0);
  st2.on_start(0);
  for (int i = 0; i < 50; ++i) CHECK(pick_at(b2, st2, eps) == 1);
}

TEST_CASE("least request spreads evenly over equal endpoints") {
  Balancer b = make(Policy::least_request, equal(10));
  Endpoints eps(10);
  BalancerState st(b, 5);
  // Requests that never finish: power of two choices keeps the in-flight counts close together.
  for (int i = 0; i < 10000; ++i) st.on_start(static_cast<std::size_t>(pick_at(b, st, eps)));
  std::uint32_t lo = 100000, hi = 0;
  for (std::size_t i = 0; i < 10; ++i) {
    lo = std::min(lo, st.active(i));
    hi = std::max(hi, st.active(i));
  }
  CHECK(hi - lo <= 4);

  // Requests that finish at once: all loads equal, so the choice is uniform.
  BalancerState idle(b, 6);
  std::array<int, 10> counts{};
  for (int i = 0; i < 100000; ++i) ++counts[static_cast<std::size_t>(pick_at(b, idle, eps))];
  for (int c : counts) CHECK(std::abs(c - 10000) < 500);
}

TEST_CASE("least request honours weights and skips non-candidates") {
  Balancer b = make(Policy::least_request, {2, 1, 1});
  Endpoints eps(3);
  BalancerState st(b, 11);
  for (int i = 0; i < 4000; ++i) st.on_start(static_cast<std::size_t>(pick_at(b, st, eps)));
  CHECK(std::abs(static_cast<int>(st.active(0)) - 2000) < 100);
  CHECK(std::abs(static_cast<int>(st.active(1)) - 1000) < 100);
  CHECK(std::abs(static_cast<int>(st.active(2)) - 1000) < 100);

  Balancer b4 = make(Policy::least_request, equal(4));
  Endpoints eps4(4);
  BalancerState st4(b4, 12);
  eps4[0].health = Health::unhealthy;
  eps4[1].ejected_until_ns = now + sec;
  std::array<std::uint32_t, 1> ex{2};
  for (int i = 0; i < 200; ++i) CHECK(pick_at(b4, st4, eps4, 0, ex) == 3);
  std::array<std::uint32_t, 2> ex23{2, 3};
  CHECK(pick_at(b4, st4, eps4, 0, ex23) == -1);
  std::set<int> seen;
  for (int i = 0; i < 200; ++i) seen.insert(pick_at(b4, st4, eps4, 0, ex23, true));
  CHECK(seen == std::set<int>{0, 1});
}

// ---- random ----------------------------------------------------------------------------------

TEST_CASE("random picks in proportion to weight among candidates") {
  Balancer b = make(Policy::random, {1, 2, 3, 4});
  Endpoints eps(4);
  BalancerState st(b, 77);
  std::array<int, 4> counts{};
  const int n = 100000;
  for (int i = 0; i < n; ++i) ++counts[static_cast<std::size_t>(pick_at(b, st, eps))];
  for (std::size_t i = 0; i < 4; ++i) {
    double expected = n * (i + 1) / 10.0;
    CHECK(std::abs(counts[i] - expected) < expected * 0.05);
  }

  eps[3].health = Health::unhealthy;  // the rest share 1:2:3
  counts = {};
  for (int i = 0; i < 60000; ++i) ++counts[static_cast<std::size_t>(pick_at(b, st, eps))];
  CHECK(counts[3] == 0);
  for (std::size_t i = 0; i < 3; ++i) {
    double expected = 60000 * (i + 1) / 6.0;
    CHECK(std::abs(counts[i] - expected) < expected * 0.05);
  }
  std::array<std::uint32_t, 3> ex{0, 1, 2};
  CHECK(pick_at(b, st, eps, 0, ex) == -1);

  // Workers with different seeds draw different sequences.
  BalancerState a(b, 1), c(b, 2);
  CHECK(sequence(b, a, eps, 32) != sequence(b, c, eps, 32));
}

// ---- hash (Maglev) ---------------------------------------------------------------------------

TEST_CASE("maglev spreads keys evenly over equal endpoints") {
  Balancer b = make(Policy::hash, equal(10));
  REQUIRE(b.table().size() == Balancer::maglev_size);
  std::array<int, 10> slots{};
  for (std::uint32_t e : b.table()) ++slots[e];
  for (int s : slots) CHECK(std::abs(s - 6553) <= 1);  // 65537 slots over 10 endpoints

  Endpoints eps(10);
  BalancerState st(b, 0);
  std::array<int, 10> counts{};
  for (int k = 0; k < 100000; ++k)
    ++counts[static_cast<std::size_t>(pick_at(b, st, eps, hash_key("client-" + std::to_string(k))))];
  for (int c : counts) CHECK(std::abs(c - 10000) <= 500);
}

TEST_CASE("maglev honours weights") {
  Balancer b = make(Policy::hash, {1, 2, 3, 4});
  std::array<int, 4> slots{};
  for (std::uint32_t e : b.table()) ++slots[e];
  for (std::size_t i = 0; i < 4; ++i) {
    double expected = Balancer::maglev_size * (i + 1) / 10.0;
    CHECK(std::abs(slots[i] - expected) < expected * 0.01);
  }
}

TEST_CASE("maglev moves few keys when an endpoint is removed or added") {
  const std::size_t requests = 100000;
  Endpoints eps(11);
  Balancer ten = make_hash(equal(10), keys_of(10));
  auto before = assign(ten, eps, requests);

  SECTION("removing one of ten") {
    auto keys = keys_of(10);
    const std::string removed = keys[4];
    keys.erase(keys.begin() + 4);
    Balancer nine = make_hash(equal(9), keys);
    auto after = assign(nine, eps, requests);
    std::size_t moved = 0, on_removed = 0;
    for (std::size_t k = 0; k < requests; ++k) {
      if (before[k] == removed) ++on_removed;
      if (before[k] != after[k]) ++moved;
      CHECK(after[k] != removed);
    }
    CHECK(on_removed > 0);
    CHECK(moved >= on_removed);
    CHECK(static_cast<double>(moved) / requests <= 1.3 / 10);
    std::printf("maglev: removing 1 of 10 moved %.4f of keys (%.4f were on it)\n",
                static_cast<double>(moved) / requests, static_cast<double>(on_removed) / requests);
  }
  SECTION("adding an eleventh") {
    Balancer eleven = make_hash(equal(11), keys_of(11));
    auto after = assign(eleven, eps, requests);
    const std::string added = endpoint_key(10);
    std::size_t moved = 0, to_added = 0;
    for (std::size_t k = 0; k < requests; ++k) {
      if (after[k] == added) ++to_added;
      if (before[k] != after[k]) ++moved;
    }
    CHECK(static_cast<double>(to_added) / requests > 0.8 / 11);
    CHECK(static_cast<double>(moved) / requests <= 1.3 / 11);
    std::printf("maglev: adding an 11th moved %.4f of keys (%.4f to it)\n",
                static_cast<double>(moved) / requests, static_cast<double>(to_added) / requests);
  }
}

TEST_CASE("maglev sends an unavailable endpoint's keys to the others and keeps every other key") {
  Balancer b = make(Policy::hash, equal(10));
  Endpoints eps(10);
  const std::size_t requests = 100000;
  auto before = assign(b, eps, requests);
  eps[3].health = Health::unhealthy;
  auto after = assign(b, eps, requests);
  const std::string down = b.key(3);
  std::map<std::string, int> spread;
  for (std::size_t k = 0; k < requests; ++k) {
    if (before[k] == down) {
      CHECK(after[k] != down);
      ++spread[after[k]];
    } else {
      CHECK(after[k] == before[k]);
    }
  }
  // Spread over all nine others, none taking much more than its share.
  REQUIRE(spread.size() == 9);
  int total = 0;
  for (auto& [key, n] : spread) total += n;
  for (auto& [key, n] : spread) {
    CHECK(n > total / 9 * 0.6);
    CHECK(n < total / 9 * 1.4);
  }

  // Excluding the endpoint (a retry) walks the same way as its being down.
  eps[3].health = Health::healthy;
  BalancerState st(b, 0);
  std::array<std::uint32_t, 1> ex{3};
  for (std::size_t k = 0; k < 2000; ++k) {
    int i = pick_at(b, st, eps, hash_key("client-" + std::to_string(k)), ex);
    REQUIRE(i >= 0);
    CHECK(b.key(static_cast<std::size_t>(i)) == after[k]);
  }

  // Nothing available: -1 (no endless walk); panic mode uses the table as is.
  for (std::size_t i = 0; i < 10; ++i) eps[i].health = Health::unhealthy;
  CHECK(pick_at(b, st, eps, 12345) == -1);
  for (std::size_t k = 0; k < 1000; ++k) {
    int i = pick_at(b, st, eps, hash_key("client-" + std::to_string(k)), {}, true);
    REQUIRE(i >= 0);
    CHECK(b.key(static_cast<std::size_t>(i)) == before[k]);
  }
}

TEST_CASE("maglev table depends on the endpoints, not their order") {
  std::vector<std::uint32_t> weights{1, 5, 2, 7, 3, 3, 9, 1, 4, 6};
  auto keys = keys_of(10);
  Balancer a = make_hash(weights, keys);

  std::vector<std::size_t> order(10);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937 rng(4242);
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<std::uint32_t> w2;
  std::vector<std::string> k2;
  for (std::size_t i : order) {
    w2.push_back(weights[i]);
    k2.push_back(keys[i]);
  }
  REQUIRE(k2 != keys);
  Balancer b = make_hash(w2, k2);
  std::size_t same = 0;
  for (std::size_t s = 0; s < Balancer::maglev_size; ++s)
    same += a.key(a.table()[s]) == b.key(b.table()[s]) ? 1 : 0;
  CHECK(same == Balancer::maglev_size);
}

TEST_CASE("maglev ignores slow start") {
  config::LoadBalanceSpec spec;
  spec.policy = Policy::hash;
  spec.slow_start = 30s;
  Balancer b(spec, equal(4), keys_of(4));
  Balancer plain = make(Policy::hash, equal(4));
  CHECK(!b.slow_start());
  Endpoints eps(4);
  eps[2].healthy_since_ns = now;
  CHECK(assign(b, eps, 5000) == assign(plain, eps, 5000));
}

// ---- slow start ------------------------------------------------------------------------------

TEST_CASE("slow start ramps a new endpoint's weight over the window") {
  const auto window = 10s;
  Endpoints eps(2);
  eps[0].healthy_since_ns = 0;  // healthy since long ago

  SECTION("effective weight") {
    Balancer b = make(Policy::round_robin, {4, 4}, window);
    CHECK(b.effective_weight(0, 0, now) == 4000);
    CHECK(b.effective_weight(1, now, now) == 400);              // floor of 10%
    CHECK(b.effective_weight(1, now + sec, now) == 400);        // clock skew: still the floor
    CHECK(b.effective_weight(1, now - sec / 2, now) == 400);    // 5% of the window: the floor
    CHECK(b.effective_weight(1, now - 5 * sec, now) == 2000);   // half way
    CHECK(b.effective_weight(1, now - 10 * sec, now) == 4000);  // done
    Balancer off = make(Policy::round_robin, {4, 4});
    CHECK(off.effective_weight(1, now, now) == 4000);
  }
  SECTION("round robin") {
    Balancer b = make(Policy::round_robin, equal(2), window);
    BalancerState st(b, 0);
    auto share_of_new = [&](std::int64_t since, int picks) {
      eps[1].healthy_since_ns = since;
      int n = 0;
      for (int i = 0; i < picks; ++i) n += pick_at(b, st, eps) == 1 ? 1 : 0;
      return n;
    };
    CHECK(share_of_new(now, 1100) == 100);              // weights 1000:100
    CHECK(share_of_new(now - 5 * sec, 1500) == 500);    // 1000:500
    CHECK(share_of_new(now - 10 * sec, 1000) == 500);   // normal share
    CHECK(share_of_new(0, 1000) == 500);
  }
  SECTION("random") {
    Balancer b = make(Policy::random, equal(2), window);
    BalancerState st(b, 3);
    eps[1].healthy_since_ns = now;
    int n = 0;
    for (int i = 0; i < 110000; ++i) n += pick_at(b, st, eps) == 1 ? 1 : 0;
    CHECK(std::abs(n - 10000) < 600);
    eps[1].healthy_since_ns = now - 20 * sec;
    n = 0;
    for (int i = 0; i < 100000; ++i) n += pick_at(b, st, eps) == 1 ? 1 : 0;
    CHECK(std::abs(n - 50000) < 1500);
  }
  SECTION("least request") {
    Balancer b = make(Policy::least_request, equal(2), window);
    BalancerState st(b, 4);
    eps[1].healthy_since_ns = now;
    for (int i = 0; i < 11000; ++i) st.on_start(static_cast<std::size_t>(pick_at(b, st, eps)));
    CHECK(std::abs(static_cast<int>(st.active(1)) - 1000) < 50);
    BalancerState later(b, 4);
    eps[1].healthy_since_ns = now - 10 * sec;
    for (int i = 0; i < 10000; ++i) later.on_start(static_cast<std::size_t>(pick_at(b, later, eps)));
    CHECK(std::abs(static_cast<int>(later.active(1)) - 5000) < 50);
  }
}

// ---- hash_key --------------------------------------------------------------------------------

TEST_CASE("hash_key is stable, length-aware and avalanches") {
  // Pinned: Maglev tables and key placement must not change between releases.
  CHECK(hash_key("") == 0x3d49a209812193b3ULL);
  CHECK(hash_key("rampart") == 0x95f508620c8816bdULL);
  CHECK(hash_key("pool|10.0.0.1:8080") == 0x9491ac6e9fffa061ULL);
  CHECK(hash_key("") == hash_key(std::string_view()));
  CHECK(hash_key("rampart") == hash_key(std::string("rampart")));
  CHECK(hash_key("") != hash_key(std::string_view("\0", 1)));
  CHECK(hash_key(std::string_view("\0", 1)) != hash_key(std::string_view("\0\0", 2)));
  CHECK(hash_key("abcdefgh") != hash_key(std::string_view("abcdefgh\0", 9)));

  std::set<std::uint64_t> seen;
  for (int k = 0; k < 100000; ++k) seen.insert(hash_key("client-" + std::to_string(k)));
  CHECK(seen.size() == 100000);

  // Flipping any one input bit flips each output bit with probability about 1/2.
  std::mt19937_64 rng(7);
  std::array<int, 64> flips{};
  int trials = 0;
  long total_bits = 0;
  for (int s = 0; s < 300; ++s) {
    std::string key(1 + rng() % 40, '\0');
    for (char& c : key) c = static_cast<char>(rng());
    std::uint64_t base = hash_key(key);
    for (std::size_t byte = 0; byte < key.size(); ++byte) {
      for (int bit = 0; bit < 8; ++bit) {
        std::string flipped = key;
        flipped[byte] = static_cast<char>(flipped[byte] ^ (1 << bit));
        std::uint64_t d = base ^ hash_key(flipped);
        total_bits += std::popcount(d);
        for (int o = 0; o < 64; ++o) flips[static_cast<std::size_t>(o)] += (d >> o) & 1;
        ++trials;
      }
    }
  }
  double mean = static_cast<double>(total_bits) / trials;
  CHECK(mean > 31.5);
  CHECK(mean < 32.5);
  for (int f : flips) {
    double p = static_cast<double>(f) / trials;
    CHECK(p > 0.48);
    CHECK(p < 0.52);
  }
}

// ---- cost (run by hand: unit_upstream "[bench]") --------------------------------------------

TEST_CASE("pick cost per policy", "[.][bench]") {
  Endpoints eps(10);
  for (Policy p : {Policy::round_robin, Policy::least_request, Policy::random, Policy::hash}) {
    for (bool slow : {false, true}) {
      Balancer b = make(p, {1, 2, 3, 4, 5, 1, 2, 3, 4, 5}, slow ? std::optional<config::Duration>(30s) : std::nullopt);
      BalancerState st(b, 1);
      const int n = 5'000'000;
      std::uint64_t sink = 0;
      auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < n; ++i) {
        PickInput in;
        in.now_ns = now + i;
        in.hash = static_cast<std::uint64_t>(i) * 0x9e3779b97f4a7c15ULL;
        int e = pick(b, st, eps.view(), in);
        sink += static_cast<std::uint64_t>(e);
      }
      auto ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / n;
      std::printf("policy %d slow_start %d: %.1f ns/pick (%llu)\n", static_cast<int>(p), slow ? 1 : 0, ns,
                  static_cast<unsigned long long>(sink));
    }
  }
}
