// Counters and gauges move exactly for the label set written, and nothing else moves.
#include <catch2/catch.hpp>

#include <chrono>

#include "metrics_support.hpp"
#include "observe/metrics.hpp"

using namespace rampart::observe;
using test::changed;
using test::parse_samples;

TEST_CASE("status and method classes", "[metrics]") {
  CHECK(status_class(100) == 0);
  CHECK(status_class(199) == 0);
  CHECK(status_class(200) == 1);
  CHECK(status_class(304) == 2);
  CHECK(status_class(404) == 3);
  CHECK(status_class(599) == 4);
  CHECK(status_class(0) == 4);
  CHECK(status_class(600) == 4);
  CHECK(status_class(-1) == 4);
  CHECK(method_class("GET") == MethodClass::get);
  CHECK(method_class("HEAD") == MethodClass::head);
  CHECK(method_class("POST") == MethodClass::post);
  CHECK(method_class("PUT") == MethodClass::put);
  CHECK(method_class("DELETE") == MethodClass::del);
  CHECK(method_class("PATCH") == MethodClass::patch);
  CHECK(method_class("OPTIONS") == MethodClass::options);
  CHECK(method_class("get") == MethodClass::other);  // methods are case-sensitive
  CHECK(method_class("PROPFIND") == MethodClass::other);
  CHECK(method_class("") == MethodClass::other);
}

TEST_CASE("a request moves exactly its route's series", "[metrics]") {
  Metrics m(2, "test");
  auto api = m.route_id("web", "api");
  auto static_route = m.route_id("web", "static");
  REQUIRE(api != static_route);
  auto before = parse_samples(m.render());
  // Both routes are listed (zero) before any traffic.
  CHECK(before.at(R"(rampart_received_bytes_total{server="web",route="static"})") == 0);
  CHECK(before.count(R"(rampart_request_duration_seconds_count{server="web",route="api"})") == 1);

  m.worker(1).request(api, MethodClass::post, 201, 0.003, 100, 250);
  auto after = parse_samples(m.render());
  auto diff = changed(before, after);
  CHECK(diff[R"(rampart_requests_total{server="web",route="api",method="POST",code_class="2xx"})"] == 1);
  CHECK(diff[R"(rampart_received_bytes_total{server="web",route="api"})"] == 100);
  CHECK(diff[R"(rampart_sent_bytes_total{server="web",route="api"})"] == 250);
  CHECK(diff[R"(rampart_request_duration_seconds_count{server="web",route="api"})"] == 1);
  CHECK(diff[R"(rampart_request_duration_seconds_sum{server="web",route="api"})"] == Approx(0.003));
  for (const auto& [series, value] : diff) {
    INFO(series);
    bool api_series = series.find(R"(server="web",route="api")") != std::string::npos;
    CHECK(api_series);
  }
  // requests_total, count, sum, received, sent, and the 12 buckets le >= 0.005 (0.005 .. 10, +Inf).
  CHECK(diff.size() == 5 + 12);
}

TEST_CASE("method and status class labels", "[metrics]") {
  Metrics m(1, "test");
  auto r = m.route_id("s", "r");
  auto& w = m.worker(0);
  w.request(r, MethodClass::get, 200, 0, 0, 0);
  w.request(r, MethodClass::get, 200, 0, 0, 0);
  w.request(r, MethodClass::get, 404, 0, 0, 0);
  w.request(r, MethodClass::del, 503, 0, 0, 0);
  w.request(r, MethodClass::other, 101, 0, 0, 0);
  w.request(r, MethodClass::head, 0, 0, 0, 0);  // no status: 5xx
  w.request(0, MethodClass::options, 404, 0, 0, 0);  // no route matched
  auto s = parse_samples(m.render());
  CHECK(s.at(R"(rampart_requests_total{server="s",route="r",method="GET",code_class="2xx"})") == 2);
  CHECK(s.at(R"(rampart_requests_total{server="s",route="r",method="GET",code_class="4xx"})") == 1);
  CHECK(s.at(R"(rampart_requests_total{server="s",route="r",method="DELETE",code_class="5xx"})") == 1);
  CHECK(s.at(R"(rampart_requests_total{server="s",route="r",method="OTHER",code_class="1xx"})") == 1);
  CHECK(s.at(R"(rampart_requests_total{server="s",route="r",method="HEAD",code_class="5xx"})") == 1);
  CHECK(s.at(R"(rampart_requests_total{server="-",route="-",method="OPTIONS",code_class="4xx"})") == 1);
  CHECK(s.count(R"(rampart_requests_total{server="s",route="r",method="POST",code_class="2xx"})") == 0);
  int request_series = 0;
  for (const auto& [k, v] : s) request_series += k.rfind("rampart_requests_total{", 0) == 0;
  CHECK(request_series == 6);
}

TEST_CASE("upstream families", "[metrics]") {
  Metrics m(2, "test");
  auto app = m.upstream_id("app");
  auto other = m.upstream_id("other");
  auto e1 = m.endpoint_id("app", "10.0.0.1:8080");
  auto e2 = m.endpoint_id("app", "10.0.0.2:8080");
  auto before = parse_samples(m.render());
  auto& w0 = m.worker(0);
  auto& w1 = m.worker(1);
  w0.upstream_request(app, e1, 200, 0.02);
  w1.upstream_request(app, e1, 502, 0.5);
  w1.upstream_request(app, e2, 0, 7.0);  // no response: not in the response histogram
  w0.upstream_connect(app, true, 0.001);
  w0.upstream_connect(app, false, 1.0);
  w1.upstream_connect(app, false, 1.0);
  w0.upstream_reuse(app);
  w1.upstream_retry(app);
  w0.upstream_active(app, +1);
  w0.upstream_active(app, +1);
  w1.upstream_active(app, +1);
  w0.upstream_active(app, -1);
  w0.upstream_idle(app, +3);
  w1.upstream_idle(app, +2);
  w1.upstream_idle(app, -1);
  auto after = parse_samples(m.render());
  auto diff = changed(before, after);
  CHECK(diff.at(R"(rampart_upstream_requests_total{upstream="app",code_class="2xx"})") == 1);
  CHECK(diff.at(R"(rampart_upstream_requests_total{upstream="app",code_class="5xx"})") == 1);
  CHECK(diff.at(R"(rampart_upstream_requests_total{upstream="app",code_class="none"})") == 1);
  CHECK(diff.at(R"(rampart_upstream_response_duration_seconds_count{upstream="app"})") == 2);
  CHECK(diff.at(R"(rampart_upstream_response_duration_seconds_sum{upstream="app"})") == Approx(0.52));
  CHECK(diff.at(R"(rampart_upstream_connect_duration_seconds_count{upstream="app"})") == 1);
  CHECK(diff.at(R"(rampart_upstream_connect_failures_total{upstream="app"})") == 2);
  CHECK(diff.at(R"(rampart_upstream_connection_reuses_total{upstream="app"})") == 1);
  CHECK(diff.at(R"(rampart_upstream_retries_total{upstream="app"})") == 1);
  CHECK(diff.at(R"(rampart_upstream_active_requests{upstream="app"})") == 2);
  CHECK(diff.at(R"(rampart_upstream_idle_connections{upstream="app"})") == 4);
  CHECK(diff.at(R"(rampart_upstream_endpoint_requests_total{upstream="app",endpoint="10.0.0.1:8080"})") == 2);
  CHECK(diff.at(R"(rampart_upstream_endpoint_requests_total{upstream="app",endpoint="10.0.0.2:8080"})") == 1);
  for (const auto& [series, value] : diff) {
    INFO(series);
    CHECK(series.find(R"(upstream="other")") == std::string::npos);
    CHECK(series.find("rampart_upstream_") == 0);
  }
  CHECK(after.at(R"(rampart_upstream_retries_total{upstream="other"})") == 0);
  (void)other;
}

TEST_CASE("listener connections, access log drops", "[metrics]") {
  Metrics m(2, "test");
  auto main_l = m.listener_id("main");
  auto admin_l = m.listener_id("admin");
  m.worker(0).connection_opened(main_l);
  m.worker(0).connection_opened(main_l);
  m.worker(1).connection_opened(main_l);
  m.worker(0).connection_closed(main_l);
  m.worker(1).connection_opened(admin_l);
  m.worker(0).access_log_dropped(5);
  m.worker(1).access_log_dropped(2);
  auto s = parse_samples(m.render());
  CHECK(s.at(R"(rampart_connections_active{listener="main"})") == 2);
  CHECK(s.at(R"(rampart_connections_total{listener="main"})") == 3);
  CHECK(s.at(R"(rampart_connections_active{listener="admin"})") == 1);
  CHECK(s.at(R"(rampart_connections_total{listener="admin"})") == 1);
  CHECK(s.at("rampart_access_log_dropped_lines_total") == 7);
}

TEST_CASE("control-thread families", "[metrics]") {
  Metrics m(3, "1.4.2");
  auto s = parse_samples(m.render());
  CHECK(s.at(R"(rampart_build_info{version="1.4.2"})") == 1);
  CHECK(s.at("rampart_workers") == 3);
  CHECK(s.at("rampart_draining") == 0);
  CHECK(s.at("rampart_config_generation") == 0);
  CHECK(s.at("rampart_config_last_reload_success_timestamp_seconds") == 0);
  CHECK(s.at(R"(rampart_config_reloads_total{result="success"})") == 0);
  CHECK(s.at(R"(rampart_config_reloads_total{result="failure"})") == 0);

  double t0 = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  m.config_loaded(1);
  s = parse_samples(m.render());
  CHECK(s.at("rampart_config_generation") == 1);
  CHECK(s.at(R"(rampart_config_reloads_total{result="success"})") == 0);  // start-up is not a reload
  double loaded = s.at("rampart_config_last_reload_success_timestamp_seconds");
  CHECK(loaded >= t0 - 1);
  CHECK(loaded <= t0 + 60);

  m.reload_result(false, 2);
  s = parse_samples(m.render());
  CHECK(s.at(R"(rampart_config_reloads_total{result="failure"})") == 1);
  CHECK(s.at(R"(rampart_config_reloads_total{result="success"})") == 0);
  CHECK(s.at("rampart_config_generation") == 1);  // a failed reload keeps the old config
  CHECK(s.at("rampart_config_last_reload_success_timestamp_seconds") == loaded);

  m.reload_result(true, 3);
  m.set_draining(true);
  s = parse_samples(m.render());
  CHECK(s.at(R"(rampart_config_reloads_total{result="success"})") == 1);
  CHECK(s.at("rampart_config_generation") == 3);
  CHECK(s.at("rampart_config_last_reload_success_timestamp_seconds") >= loaded);
  CHECK(s.at("rampart_draining") == 1);
  m.set_draining(false);
  CHECK(parse_samples(m.render()).at("rampart_draining") == 0);
}

TEST_CASE("label values are escaped", "[metrics]") {
  Metrics m(1, "v\"1\\");
  auto r = m.route_id("we\"b", "a\\b\nc");
  m.worker(0).request(r, MethodClass::get, 200, 0, 0, 0);
  auto text = m.render();
  CHECK(text.find(R"(rampart_build_info{version="v\"1\\"} 1)") != std::string::npos);
  CHECK(text.find(R"(rampart_requests_total{server="we\"b",route="a\\b\nc",method="GET",code_class="2xx"} 1)") !=
        std::string::npos);
}
