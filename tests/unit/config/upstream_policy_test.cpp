// Upstream pool policies (balancing, health checks, outlier detection, circuit breaking, retry
// budget, discovery) and route retries: what load() makes of them, and their errors.
#include "support.hpp"

#include <catch2/catch.hpp>

using namespace rampart::config;
using rampart::config::test::errors_of;
using rampart::config::test::must_load;

namespace {

const std::string& head = rampart::config::test::upstream_head;

}  // namespace

TEST_CASE("upstream policies have safe defaults", "[config][upstream]") {
  const ConfigSpec spec = must_load(head + "  - {name: u, endpoints: [\"127.0.0.1:1\"]}\n");
  const UpstreamSpec& u = spec.upstreams[0];
  CHECK(u.endpoints[0].weight == 1);
  CHECK(u.balance.policy == LoadBalanceSpec::Policy::round_robin);
  CHECK_FALSE(u.balance.slow_start.has_value());
  CHECK_FALSE(u.health_check.has_value());
  CHECK(u.outlier.consecutive_failures == 5);
  CHECK(u.outlier.consecutive_5xx == 0);
  CHECK(u.panic);
  CHECK(u.circuit == CircuitSpec{});
  CHECK(u.retry_budget.percent == 20.0);
  const RetrySpec& r = spec.servers[0].routes[0].retry;
  CHECK(r.attempts == 2);
  CHECK(r.on_connect_failure);
  CHECK(r.on_reset);
  CHECK_FALSE(r.on_timeout);
  CHECK(r.on_status.empty());
}

TEST_CASE("every upstream policy key is read", "[config][upstream]") {
  const ConfigSpec spec = must_load(
      "listeners: [{name: http, address: \"127.0.0.1:0\"}]\n"
      "servers: [{name: s, hosts: [\"*\"], routes: [{upstream: u, retry: {attempts: 3, on: [reset, 503, 504], "
      "per_try_timeout: 2s, buffer_body: 1m}}, {path: /x, upstream: u, retry: false}]}]\n"
      "upstreams:\n"
      "  - name: u\n"
      "    endpoints: [\"127.0.0.1:1\", {address: \"api.internal:8080\", weight: 5}]\n"
      "    balance: {policy: least_request, slow_start: 30s}\n"
      "    health_check: {type: http, method: head, path: /ready, host: api, expect_status: [200-299, 404], "
      "body_contains: ok, interval: 2s, timeout: 500ms, jitter: 0.2, healthy_threshold: 1, unhealthy_threshold: 2, "
      "start: unknown}\n"
      "    outlier: {consecutive_failures: 3, consecutive_5xx: 4, base_ejection_time: 10s, max_ejection_time: 1m, "
      "max_ejected_percent: 34}\n"
      "    when_all_unhealthy: fail\n"
      "    circuit: {max_connections: 100, max_pending: 10, max_requests: 1000}\n"
      "    retry_budget: {percent: 10, min_retries: 1}\n"
      "    discovery: {refresh: 10s, resolver: \"127.0.0.1:5353\"}\n"
      "    max_connection_lifetime: 5m\n"
      "  - {name: h, endpoints: [\"127.0.0.1:2\"], balance: {policy: hash, key: {header: X-User}}, "
      "health_check: {type: tcp}, outlier: false}\n");
  const UpstreamSpec& u = spec.upstreams[0];
  CHECK(u.endpoints[1].address.host == "api.internal");
  CHECK(u.endpoints[1].weight == 5);
  CHECK(u.balance.policy == LoadBalanceSpec::Policy::least_request);
  CHECK(u.balance.slow_start == std::chrono::seconds(30));
  REQUIRE(u.health_check.has_value());
  const HealthCheckSpec& h = *u.health_check;
  CHECK(h.method == "HEAD");
  CHECK(h.path == "/ready");
  CHECK(h.host == "api");
  CHECK(h.expect_status == std::vector<std::pair<int, int>>{{200, 299}, {404, 404}});
  CHECK(h.body_contains == "ok");
  CHECK(h.interval == std::chrono::seconds(2));
  CHECK(h.timeout == std::chrono::milliseconds(500));
  CHECK(h.jitter == 0.2);
  CHECK(h.healthy_threshold == 1);
  CHECK(h.unhealthy_threshold == 2);
  CHECK_FALSE(h.start_healthy);
  CHECK(u.outlier.consecutive_failures == 3);
  CHECK(u.outlier.consecutive_5xx == 4);
  CHECK(u.outlier.base_ejection_time == std::chrono::seconds(10));
  CHECK(u.outlier.max_ejection_time == std::chrono::minutes(1));
  CHECK(u.outlier.max_ejected_percent == 34);
  CHECK_FALSE(u.panic);
  CHECK(u.circuit == CircuitSpec{100, 10, 1000});
  CHECK(u.retry_budget.percent == 10.0);
  CHECK(u.retry_budget.min_retries == 1);
  CHECK(u.discovery.refresh == std::chrono::seconds(10));
  CHECK(u.discovery.resolver == rampart::core::HostPort{"127.0.0.1", 5353});
  CHECK(u.max_connection_lifetime == std::chrono::minutes(5));

  const UpstreamSpec& hu = spec.upstreams[1];
  CHECK(hu.balance.policy == LoadBalanceSpec::Policy::hash);
  CHECK(hu.balance.hash_key.source == HashKeySpec::Source::header);
  CHECK(hu.balance.hash_key.name == "x-user");
  CHECK(hu.health_check->type == HealthCheckSpec::Type::tcp);
  CHECK(hu.outlier.consecutive_failures == 0);
  CHECK(hu.outlier.consecutive_5xx == 0);

  const RetrySpec& r = spec.servers[0].routes[0].retry;
  CHECK(r.attempts == 3);
  CHECK_FALSE(r.on_connect_failure);
  CHECK(r.on_reset);
  CHECK_FALSE(r.on_timeout);
  CHECK(r.on_status == std::vector<int>{503, 504});
  CHECK(r.per_try_timeout == std::chrono::seconds(2));
  CHECK(r.buffer_body == 1024 * 1024);
  CHECK(spec.servers[0].routes[1].retry.attempts == 1);
}

TEST_CASE("upstream policy errors point at the offending value", "[config][upstream][errors]") {
  CHECK(errors_of(head + "  - {name: u, endpoints: [\"a:1\"], balance: least_requests}\n") ==
        std::vector<std::string>{"t.yaml:4:44: error: expected one of round_robin, least_request, random, hash "
                                 "(did you mean 'least_request'?) [upstreams[0].balance]"});
  CHECK(errors_of(head + "  - {name: u, endpoints: [\"a:1\"], balance: hash}\n") ==
        std::vector<std::string>{"t.yaml:4:44: error: balance hash needs a key: {policy: hash, key: client_ip | path "
                                 "| {header: name} | {cookie: name}} [upstreams[0].balance]"});
  CHECK(errors_of(head + "  - {name: u, endpoints: [\"a:1\", {address: \"b:1\", weight: 0}]}\n") ==
        std::vector<std::string>{"t.yaml:4:59: error: must be between 1 and 1000 [upstreams[0].endpoints[1].weight]"});
  CHECK(errors_of(head + "  - {name: u, endpoints: [\"a:1\", \"a:1\"]}\n") ==
        std::vector<std::string>{
            "t.yaml:4:34: error: endpoint 'a:1' is listed twice (use weight instead) [upstreams[0].endpoints[1]]"});
  CHECK(errors_of(head + "  - {name: u, endpoints: [\"a:1\"], health_check: {type: tcp, path: /x, expect_status: "
                         "[600]}}\n") ==
        std::vector<std::string>{
            "t.yaml:4:67: error: path is for type http only [upstreams[0].health_check.path]",
            "t.yaml:4:86: error: expect_status is for type http only [upstreams[0].health_check.expect_status]"});
  CHECK(errors_of(head + "  - {name: u, endpoints: [\"a:1\"], health_check: {expect_status: [\"299-200\"], "
                         "start: maybe}}\n") ==
        std::vector<std::string>{
            "t.yaml:4:66: error: expected a status like 200 or a range like 200-299 (100..599) "
            "[upstreams[0].health_check.expect_status[0]]",
            "t.yaml:4:85: error: expected one of healthy, unknown [upstreams[0].health_check.start]"});
  CHECK(errors_of(head + "  - {name: u, endpoints: [\"a:1\"], circuit: {max_pending: 3}}\n") ==
        std::vector<std::string>{"t.yaml:4:58: error: max_pending needs max_connections (requests wait for a "
                                 "connection only when their number is capped) [upstreams[0].circuit.max_pending]"});
  CHECK(errors_of(head + "  - {name: u, endpoints: [\"a:1\"], discovery: {resolver: \"dns.local:53\"}}\n") ==
        std::vector<std::string>{"t.yaml:4:57: error: resolver must be an IP address and port, like 127.0.0.1:53 "
                                 "[upstreams[0].discovery.resolver]"});
  CHECK(errors_of(head + "  - {name: u, endpoints: [\"a:1\"], when_all_unhealthy: panik}\n") ==
        std::vector<std::string>{
            "t.yaml:4:55: error: expected one of panic, fail (did you mean 'panic'?) [upstreams[0].when_all_unhealthy]"});
}

TEST_CASE("route retry errors", "[config][upstream][errors]") {
  const std::string prefix = "listeners: [{name: http, address: \"127.0.0.1:0\"}]\n"
                             "upstreams: [{name: u, endpoints: [\"127.0.0.1:1\"]}]\n"
                             "servers: [{name: s, hosts: [\"*\"], routes: [";
  CHECK(errors_of(prefix + "{upstream: u, retry: {on: [connect-failures, 404], attempts: 11}}]}]\n") ==
        std::vector<std::string>{
            "t.yaml:3:71: error: expected connect-failure, reset, timeout or a 5xx status (did you mean "
            "'connect-failure'?) [servers[0].routes[0].retry.on[0]]",
            "t.yaml:3:89: error: retry on a status only for 5xx statuses [servers[0].routes[0].retry.on[1]]",
            "t.yaml:3:105: error: must be between 1 and 10 [servers[0].routes[0].retry.attempts]"});
  CHECK(errors_of(prefix + "{respond: {}, retry: false}]}]\n") ==
        std::vector<std::string>{
            "t.yaml:3:65: error: retry needs a proxy route (upstream) [servers[0].routes[0].retry]"});
}
