// Passive health checking: consecutive failures eject an endpoint, for longer each time, within
// the pool's ejection cap.
#include "upstream/outlier.hpp"

#include <catch2/catch.hpp>

#include <vector>

using namespace rampart::upstream;
using namespace std::chrono_literals;

namespace {

constexpr std::int64_t kSecond = 1'000'000'000;

struct PoolOf {
  explicit PoolOf(std::size_t n) : states(n) {
    for (auto& s : states) views.push_back(&s);
  }
  std::vector<EndpointState> states;
  std::vector<const EndpointState*> views;
};

rampart::config::OutlierSpec spec(std::uint32_t failures, std::uint32_t errors) {
  rampart::config::OutlierSpec s;
  s.consecutive_failures = failures;
  s.consecutive_5xx = errors;
  s.base_ejection_time = 10s;
  s.max_ejection_time = 25s;
  s.max_ejected_percent = 50;
  return s;
}

}  // namespace

TEST_CASE("outlier: consecutive failures eject, a success in between resets the count") {
  PoolOf p(4);
  auto& e = p.states[0];
  const auto sp = spec(3, 0);
  std::int64_t now = 100 * kSecond;
  CHECK_FALSE(record_outcome(e, p.views, sp, Outcome::failure, now).ejected);
  CHECK_FALSE(record_outcome(e, p.views, sp, Outcome::failure, now).ejected);
  CHECK_FALSE(record_outcome(e, p.views, sp, Outcome::success, now).ejected);
  CHECK_FALSE(record_outcome(e, p.views, sp, Outcome::failure, now).ejected);
  CHECK_FALSE(record_outcome(e, p.views, sp, Outcome::failure, now).ejected);
  auto ej = record_outcome(e, p.views, sp, Outcome::failure, now);
  CHECK(ej.ejected);
  CHECK(ej.duration == 10s);
  CHECK(e.ejected(now));
  CHECK_FALSE(e.available(now));
  CHECK(e.available(now + 10 * kSecond + 1));
  CHECK(e.ejections_total.load() == 1);
  // 5xx responses do not count when consecutive_5xx is off.
  auto& f = p.states[1];
  for (int i = 0; i < 10; ++i) CHECK_FALSE(record_outcome(f, p.views, sp, Outcome::server_error, now).ejected);
}

TEST_CASE("outlier: ejections in a row grow the time up to the maximum, and start over later") {
  PoolOf p(2);
  auto& e = p.states[0];
  const auto sp = spec(1, 0);
  std::int64_t now = 100 * kSecond;
  CHECK(record_outcome(e, p.views, sp, Outcome::failure, now).duration == 10s);
  now += 11 * kSecond;
  CHECK(record_outcome(e, p.views, sp, Outcome::failure, now).duration == 20s);
  now += 21 * kSecond;
  CHECK(record_outcome(e, p.views, sp, Outcome::failure, now).duration == 25s);  // capped
  // In service for longer than max_ejection_time after the last ejection ended: back to base.
  now += 25 * kSecond + 26 * kSecond;
  CHECK(record_outcome(e, p.views, sp, Outcome::failure, now).duration == 10s);
}

TEST_CASE("outlier: at most max_ejected_percent of the pool is ejected, and never a second time at once") {
  PoolOf p(4);  // 50% of 4: two endpoints
  const auto sp = spec(1, 0);
  const std::int64_t now = 100 * kSecond;
  CHECK(record_outcome(p.states[0], p.views, sp, Outcome::failure, now).ejected);
  CHECK_FALSE(record_outcome(p.states[0], p.views, sp, Outcome::failure, now).ejected);  // already out
  CHECK(record_outcome(p.states[1], p.views, sp, Outcome::failure, now).ejected);
  CHECK_FALSE(record_outcome(p.states[2], p.views, sp, Outcome::failure, now).ejected);
  CHECK_FALSE(p.states[2].ejected(now));
  // A single-endpoint pool may still eject its endpoint (the share rounds up to one).
  PoolOf one(1);
  CHECK(record_outcome(one.states[0], one.views, sp, Outcome::failure, now).ejected);
  auto none = sp;
  none.max_ejected_percent = 0;
  PoolOf two(2);
  CHECK_FALSE(record_outcome(two.states[0], two.views, none, Outcome::failure, now).ejected);
}

TEST_CASE("outlier: consecutive 5xx responses eject, and failures count among them") {
  PoolOf p(2);
  const auto sp = spec(3, 3);
  const std::int64_t now = 100 * kSecond;
  auto& e = p.states[0];
  CHECK_FALSE(record_outcome(e, p.views, sp, Outcome::server_error, now).ejected);
  CHECK_FALSE(record_outcome(e, p.views, sp, Outcome::server_error, now).ejected);
  CHECK_FALSE(record_outcome(e, p.views, sp, Outcome::success, now).ejected);  // resets both counts
  CHECK_FALSE(record_outcome(e, p.views, sp, Outcome::server_error, now).ejected);
  CHECK_FALSE(record_outcome(e, p.views, sp, Outcome::server_error, now).ejected);
  CHECK(record_outcome(e, p.views, sp, Outcome::server_error, now).ejected);

  // Two failures and a 5xx: three bad outcomes in a row for consecutive_5xx; the 5xx ends the run
  // of connection failures.
  auto& f = p.states[1];
  CHECK_FALSE(record_outcome(f, p.views, spec(3, 0), Outcome::failure, now).ejected);
  CHECK_FALSE(record_outcome(f, p.views, spec(3, 0), Outcome::failure, now).ejected);
  CHECK(f.consecutive_failures.load() == 2);
  PoolOf q(2);
  auto& g = q.states[0];
  CHECK_FALSE(record_outcome(g, q.views, sp, Outcome::failure, now).ejected);
  CHECK_FALSE(record_outcome(g, q.views, sp, Outcome::failure, now).ejected);
  CHECK(record_outcome(g, q.views, sp, Outcome::server_error, now).ejected);
}
