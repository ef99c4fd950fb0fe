// Ids: dense, stable per name tuple, usable after earlier renders, capped with an overflow series.
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "metrics_support.hpp"
#include "observe/metrics.hpp"
#include "observe/metrics_internal.hpp"

using namespace rampart::observe;
using test::parse_samples;

TEST_CASE("same name, same id, different names, different ids", "[metrics]") {
  Metrics m(1, "test");
  auto a = m.route_id("web", "api");
  CHECK(a != 0);  // 0 is "no route"
  CHECK(m.route_id("web", "api") == a);
  CHECK(m.route_id("web", "static") != a);
  CHECK(m.route_id("other", "api") != a);
  CHECK(m.route_id("-", "-") == 0);  // a config naming "-" shares the no-route series
  // The tuple is not a concatenation: ("ab","c") and ("a","bc") differ.
  CHECK(m.route_id("ab", "c") != m.route_id("a", "bc"));

  auto u = m.upstream_id("app");
  CHECK(m.upstream_id("app") == u);
  CHECK(m.upstream_id("db") != u);
  auto e = m.endpoint_id("app", "10.0.0.1:80");
  CHECK(m.endpoint_id("app", "10.0.0.1:80") == e);
  CHECK(m.endpoint_id("db", "10.0.0.1:80") != e);  // same address in another pool
  auto l = m.listener_id("main");
  CHECK(m.listener_id("main") == l);
  CHECK(m.listener_id("admin") != l);
}

TEST_CASE("ids created after a render work and earlier ids keep their counts", "[metrics]") {
  Metrics m(2, "test");
  auto first = m.route_id("s", "first");
  m.worker(0).request(first, MethodClass::get, 200, 0, 0, 0);
  auto s = parse_samples(m.render());
  CHECK(s.at(R"(rampart_requests_total{server="s",route="first",method="GET",code_class="2xx"})") == 1);

  // Enough new ids to need new storage blocks (a block holds 64 cells).
  std::uint32_t last = 0;
  for (int i = 0; i < 200; ++i) last = m.route_id("s", "r" + std::to_string(i));
  CHECK(last == first + 200);
  m.worker(1).request(last, MethodClass::put, 500, 0, 3, 4);
  m.worker(0).request(first, MethodClass::get, 200, 0, 0, 0);
  CHECK(m.route_id("s", "first") == first);  // a "reload" keeps the id
  s = parse_samples(m.render());
  CHECK(s.at(R"(rampart_requests_total{server="s",route="first",method="GET",code_class="2xx"})") == 2);
  CHECK(s.at(R"(rampart_requests_total{server="s",route="r199",method="PUT",code_class="5xx"})") == 1);
  CHECK(s.at(R"(rampart_received_bytes_total{server="s",route="r199"})") == 3);
  CHECK(s.at(R"(rampart_received_bytes_total{server="s",route="r100"})") == 0);
}

TEST_CASE("ids that Metrics never returned are ignored", "[metrics]") {
  Metrics m(1, "test");
  auto before = m.render();
  auto& w = m.worker(0);
  w.request(5000, MethodClass::get, 200, 0.1, 1, 1);  // beyond the cap
  w.request(1000, MethodClass::get, 200, 0.1, 1, 1);  // within the cap, never allocated
  w.upstream_request(7, 7, 200, 0.1);
  w.upstream_connect(7, true, 0.1);
  w.connection_opened(3);
  CHECK(m.render() == before);
}

TEST_CASE("beyond the cap names share the overflow series and are counted", "[metrics]") {
  Metrics m(2, "test");
  const auto cap = static_cast<std::uint32_t>(detail::kMaxListeners);
  std::set<std::uint32_t> ids;
  for (std::uint32_t i = 0; i + 1 < cap; ++i) ids.insert(m.listener_id("l" + std::to_string(i)));
  CHECK(ids.size() == cap - 1);
  CHECK(*ids.rbegin() == cap - 2);
  auto over1 = m.listener_id("extra1");
  auto over2 = m.listener_id("extra2");
  CHECK(over1 == cap - 1);
  CHECK(over2 == over1);
  CHECK(m.listener_id("l0") == 0);  // known names keep their ids
  m.worker(0).connection_opened(over1);
  m.worker(1).connection_opened(over2);
  auto s = parse_samples(m.render());
  CHECK(s.at(R"(rampart_connections_total{listener="<overflow>"})") == 2);
  CHECK(s.at(R"(rampart_metrics_label_overflow_total{table="listener"})") == 2);
  CHECK(s.at(R"(rampart_metrics_label_overflow_total{table="route"})") == 0);
  CHECK(s.count(R"(rampart_connections_total{listener="extra1"})") == 0);

  // The route table: its last id is the overflow id, and route id 0 stays "no route".
  const auto route_cap = static_cast<std::uint32_t>(detail::kMaxRoutes);
  std::uint32_t last = 0;
  for (std::uint32_t i = 1; i + 1 < route_cap; ++i) last = m.route_id("s", std::to_string(i));
  CHECK(last == route_cap - 2);
  auto over = m.route_id("s", "one too many");
  CHECK(over == route_cap - 1);
  m.worker(0).request(over, MethodClass::get, 200, 0, 0, 0);
  s = parse_samples(m.render());
  CHECK(s.at(R"(rampart_requests_total{server="<overflow>",route="<overflow>",method="GET",code_class="2xx"})") == 1);
  CHECK(s.at(R"(rampart_metrics_label_overflow_total{table="route"})") == 1);
}
