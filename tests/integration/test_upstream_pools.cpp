// Upstream pools end to end: balancing, active health checks, passive ejection, retries and retry
// budgets, circuit breaking, and health state across reloads, with real rampart-upstream
// processes that die, come back, fail their checks and answer 5xx.
#include "fixtures.hpp"

#include "../unit/observe/access_log_json_check.hpp"

#include <catch2/catch.hpp>

#include <signal.h>

#include <future>
#include <regex>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace it {
namespace {

using rampart::observe::test::Json;
using rampart::observe::test::parse_json;

// Which backend answered each of `n` requests for `target` (fresh connections).
std::map<std::string, int> served_by(std::uint16_t port, const std::string& target, int n,
                                     const std::string& extra = "", int* failures = nullptr) {
  std::map<std::string, int> out;
  for (int i = 0; i < n; ++i) {
    Response r = get(port, target, extra);
    if (!r.ok || r.status != 200) {
      if (failures) ++*failures;
      UNSCOPED_INFO("request " << i << ": status " << r.status << " " << r.error << " " << r.body);
      continue;
    }
    ++out[r.header("x-upstream-name").value_or("?")];
  }
  return out;
}

// The endpoint objects of pool `pool` in GET /upstreams, by address.
std::map<std::string, Json> endpoints_of(const Proxy& p, const std::string& pool) {
  Response r = admin_get(p, "/upstreams");
  REQUIRE_RESPONSE(r);
  auto doc = parse_json(r.body);
  INFO(r.body);
  REQUIRE(doc.has_value());
  std::map<std::string, Json> out;
  for (const Json& u : doc->get("upstreams")->items) {
    if (u.get("name")->text != pool) continue;
    for (const Json& e : u.get("endpoints")->items) out[e.get("address")->text] = e;
  }
  return out;
}

std::string health_of(const Proxy& p, const std::string& pool, const std::string& address) {
  auto eps = endpoints_of(p, pool);
  auto it = eps.find(address);
  return it == eps.end() ? "<absent>" : it->second.get("health")->text;
}

std::uint64_t requests_seen(const Upstream& u) { return std::stoull(upstream_stats(u).at("requests")); }
// Connections the upstream accepted so far (each /stats query is one of its own).
std::uint64_t connections_seen(const Upstream& u) { return std::stoull(upstream_stats(u).at("connections")); }

}  // namespace

TEST_CASE("pools: smooth weighted round robin honours weights") {
  Stack s({{"EXTRA_ROUTES", "      - {name: w, path: /w/, upstream: weighted, rewrite_prefix: /}\n"},
           {"EXTRA_UPSTREAMS", "  - {name: weighted, endpoints: [{address: \"{{API1}}\", weight: 3}, \"{{API2}}\"]}\n"}});
  // One keep-alive connection stays on one worker, whose rotation is exact: 3 of every 4.
  Conn c(s.port());
  REQUIRE(c.ok());
  std::map<std::string, int> seen;
  for (int i = 0; i < 400; ++i) {
    REQUIRE(c.send(request("GET", "/w/echo")));
    Response r = c.read_response();
    REQUIRE_RESPONSE(r);
    REQUIRE(r.status == 200);
    ++seen[r.header("x-upstream-name").value_or("?")];
  }
  CHECK(seen["api1"] == 300);
  CHECK(seen["api2"] == 100);
}

TEST_CASE("pools: hash balancing keeps a key on one endpoint and spreads keys") {
  Stack s({{"EXTRA_ROUTES", "      - {name: h, path: /h/, upstream: hashed, rewrite_prefix: /}\n"},
           {"EXTRA_UPSTREAMS", "  - {name: hashed, endpoints: [\"{{API1}}\", \"{{API2}}\", \"{{WEB}}\"], "
                               "balance: {policy: hash, key: {header: x-user}}}\n"}});
  std::set<std::string> used;
  for (int user = 0; user < 30; ++user) {
    const std::string header = "x-user: u" + std::to_string(user) + "\r\n";
    auto seen = served_by(s.port(), "/h/echo", 8, header);
    INFO("user " << user);
    REQUIRE(seen.size() == 1);  // every request of this key on the same endpoint
    CHECK(seen.begin()->second == 8);
    used.insert(seen.begin()->first);
  }
  CHECK(used == std::set<std::string>{"api1", "api2", "web"});
}

TEST_CASE("pools: active health checks take a dead endpoint out and bring it back") {
  Stack s({{"WORKERS", "1"},
           {"EXTRA_ROUTES", "      - {name: c, path: /c/, upstream: checked, rewrite_prefix: /}\n"},
           {"EXTRA_UPSTREAMS", "  - {name: checked, endpoints: [\"{{API1}}\", \"{{API2}}\"], "
                               "health_check: {path: /stats, interval: 100ms, timeout: 500ms, healthy_threshold: 2, "
                               "unhealthy_threshold: 2}, retry_budget: {percent: 0, min_retries: 0}, outlier: false}\n"}});
  const std::string a1 = s.api1.address();
  const std::uint16_t a1_port = s.api1.port();
  REQUIRE(eventually([&] { return health_of(*s.proxy, "checked", a1) == "healthy"; }));
  auto before = served_by(s.port(), "/c/echo", 40);
  CHECK(before["api1"] == 20);
  CHECK(before["api2"] == 20);

  // api1 dies: two failed probes (~200 ms) later it gets no traffic, and no request fails even
  // without retries (the budget above allows none).
  s.api1.process().signal(SIGKILL);
  s.api1.process().wait_exit(5s);
  REQUIRE(eventually([&] { return health_of(*s.proxy, "checked", a1) == "unhealthy"; }, 3s));
  int failures = 0;
  auto during = served_by(s.port(), "/c/echo", 40, "", &failures);
  CHECK(failures == 0);
  CHECK(during["api2"] == 40);
  auto samples = scrape(*s.proxy);
  CHECK(metric(samples, "rampart_upstream_endpoint_healthy", {{"upstream", "checked"}, {"endpoint", a1}}) == 0);
  CHECK(metric(samples, "rampart_upstream_endpoint_healthy", {{"upstream", "checked"}, {"endpoint", s.api2.address()}}) == 1);
  CHECK(metric(samples, "rampart_upstream_health_checks_total",
               {{"upstream", "checked"}, {"endpoint", a1}, {"result", "failed"}}) >= 2);

  // It comes back on the same port: healthy after two passing probes, and traffic returns.
  Upstream again("api1", a1_port);
  REQUIRE(eventually([&] { return health_of(*s.proxy, "checked", a1) == "healthy"; }, 3s));
  auto after = served_by(s.port(), "/c/echo", 40);
  // The rotation resumes where it was, so the first round after the return may be uneven.
  CHECK(after["api1"] + after["api2"] == 40);
  CHECK(after["api1"] >= 18);
  CHECK(after["api2"] >= 18);
}

TEST_CASE("pools: one checker for the process probes each endpoint once per interval, whatever the workers") {
  Stack s({{"WORKERS", "4"},
           {"EXTRA_UPSTREAMS", "  - {name: probed, endpoints: [\"{{API2}}\"], "
                               "health_check: {path: /echo, interval: 200ms, jitter: 0}}\n"}});
  sleep_for(300ms);  // past the first probe
  const auto before = requests_seen(s.api2);
  sleep_for(2000ms);
  const auto probes = requests_seen(s.api2) - before;
  INFO(probes << " probes in 2 s at a 200 ms interval, with 4 workers");
  CHECK(probes >= 8);
  CHECK(probes <= 11);  // one checker: not 4 x 10
}

TEST_CASE("pools: an HTTP check with a body condition, and when every endpoint is unhealthy") {
  // /stats names the backend, so only api1 passes a check for its own name.
  Stack s({{"EXTRA_ROUTES",
            "      - {name: one, path: /one/, upstream: one, rewrite_prefix: /}\n"
            "      - {name: none, path: /none/, upstream: none, rewrite_prefix: /}\n"
            "      - {name: panic, path: /panic/, upstream: panic, rewrite_prefix: /}\n"},
           {"EXTRA_UPSTREAMS",
            "  - {name: one, endpoints: [\"{{API1}}\", \"{{API2}}\"], health_check: {path: /stats, "
            "body_contains: '\"name\":\"api1\"', interval: 100ms, unhealthy_threshold: 1, start: unknown}}\n"
            "  - {name: none, endpoints: [\"{{API1}}\", \"{{API2}}\"], when_all_unhealthy: fail, health_check: "
            "{path: /stats, body_contains: nobody, interval: 100ms, unhealthy_threshold: 1}}\n"
            "  - {name: panic, endpoints: [\"{{API1}}\", \"{{API2}}\"], when_all_unhealthy: panic, health_check: "
            "{path: /stats, body_contains: nobody, interval: 100ms, unhealthy_threshold: 1}}\n"}});
  REQUIRE(eventually([&] {
    return health_of(*s.proxy, "one", s.api2.address()) == "unhealthy" &&
           health_of(*s.proxy, "one", s.api1.address()) == "healthy" &&
           health_of(*s.proxy, "none", s.api1.address()) == "unhealthy" &&
           health_of(*s.proxy, "none", s.api2.address()) == "unhealthy" &&
           health_of(*s.proxy, "panic", s.api2.address()) == "unhealthy";
  }));
  auto seen = served_by(s.port(), "/one/echo", 20);
  CHECK(seen["api1"] == 20);

  Response r = get(s.port(), "/none/echo");
  REQUIRE_RESPONSE(r);
  CHECK(r.status == 503);
  CHECK(r.body.find("no healthy endpoint in upstream none") != std::string::npos);

  auto spread = served_by(s.port(), "/panic/echo", 20);
  CHECK(spread["api1"] + spread["api2"] == 20);
  CHECK(spread["api1"] > 0);
  CHECK(spread["api2"] > 0);
  auto samples = scrape(*s.proxy);
  CHECK(metric(samples, "rampart_upstream_no_healthy_endpoint_total", {{"upstream", "none"}, {"outcome", "fail"}}) >= 1);
  CHECK(metric(samples, "rampart_upstream_no_healthy_endpoint_total", {{"upstream", "panic"}, {"outcome", "panic"}}) >= 20);
}

TEST_CASE("pools: health state survives a reload for endpoints that stay") {
  const std::string pool =
      "  - {name: one, endpoints: [\"{{API1}}\", \"{{API2}}\"], health_check: {path: /stats, "
      "body_contains: '\"name\":\"api1\"', interval: 1s, unhealthy_threshold: 1}}\n";
  Stack s({{"EXTRA_ROUTES", "      - {name: one, path: /one/, upstream: one, rewrite_prefix: /}\n"},
           {"EXTRA_UPSTREAMS", pool}});
  REQUIRE(eventually([&] { return health_of(*s.proxy, "one", s.api2.address()) == "unhealthy"; }));
  // The reload changes something else; the next probe is up to a second away, so a state that
  // did not survive would show as healthy (the start state) right after the reload.
  ReloadResult rr = s.proxy->reload(s.config({{"SERVED_BY", "reloaded"}}));
  REQUIRE(rr.ok);
  CHECK(health_of(*s.proxy, "one", s.api2.address()) == "unhealthy");
  auto seen = served_by(s.port(), "/one/echo", 10);
  CHECK(seen["api1"] == 10);
}

TEST_CASE("pools: consecutive connect failures eject an endpoint for a while") {
  Stack s({{"WORKERS", "1"},
           {"EXTRA_ROUTES", "      - {name: o, path: /o/, upstream: flaky, rewrite_prefix: /, retry: false}\n"},
           {"EXTRA_UPSTREAMS", "  - {name: flaky, endpoints: [\"{{API1}}\", \"{{DEAD}}\"], "
                               "outlier: {consecutive_failures: 2, base_ejection_time: 1500ms}}\n"}});
  const std::string dead = "127.0.0.1:" + std::to_string(s.dead);
  int failures = 0;
  auto seen = served_by(s.port(), "/o/echo", 40, "", &failures);
  // Without retries, the dead endpoint costs a 502 until it is ejected after 2 failures in a row
  // (both workers share the count; a request already past the pick may add one more).
  CHECK(failures >= 2);
  CHECK(failures <= 3);
  CHECK(seen["api1"] == 40 - failures);
  auto eps = endpoints_of(*s.proxy, "flaky");
  CHECK(eps[dead].get("ejected")->boolean);
  CHECK(eps[dead].get("ejections")->text == "1");
  CHECK(metric(scrape(*s.proxy), "rampart_upstream_endpoint_ejections_total",
               {{"upstream", "flaky"}, {"endpoint", dead}}) == 1);
  // The ejection ends after base_ejection_time; then the endpoint is tried (and ejected) again,
  // this time for twice as long.
  sleep_for(1600ms);
  CHECK_FALSE(endpoints_of(*s.proxy, "flaky")[dead].get("ejected")->boolean);
  failures = 0;
  served_by(s.port(), "/o/echo", 20, "", &failures);
  CHECK(failures >= 2);
  eps = endpoints_of(*s.proxy, "flaky");
  CHECK(eps[dead].get("ejected")->boolean);
  CHECK(std::stod(eps[dead].get("ejected_for_s")->text) > 2.0);
}

TEST_CASE("pools: connect failures are retried on another endpoint, also for POST") {
  Stack s({{"EXTRA_ROUTES", "      - {name: r, path: /r/, upstream: half, rewrite_prefix: /}\n"},
           {"EXTRA_UPSTREAMS", "  - {name: half, endpoints: [\"{{DEAD}}\", \"{{API1}}\"], outlier: false}\n"}});
  int failures = 0;
  auto seen = served_by(s.port(), "/r/echo", 30, "", &failures);
  CHECK(failures == 0);
  CHECK(seen["api1"] == 30);
  // Nothing of a POST reached the dead endpoint, so it is retried too, body and all.
  const std::string body(5000, 'p');
  for (int i = 0; i < 6; ++i) {
    Response r = fetch(s.port(), request("POST", "/r/echo", "content-type: text/plain\r\n", body));
    REQUIRE_RESPONSE(r);
    REQUIRE(r.status == 200);
    Echo e = require_echo(r);
    CHECK(e.body_bytes == body.size());
    CHECK(e.crc32 == crc32_hex(body));
  }
  CHECK(metric(scrape(*s.proxy), "rampart_upstream_retries_total", {{"upstream", "half"}}) >= 10);
}

TEST_CASE("pools: retry on status tries every attempt for idempotent methods only") {
  Stack s({{"EXTRA_ROUTES", "      - {name: st, path: /st/, upstream: web2, rewrite_prefix: /, "
                            "retry: {attempts: 3, on: [503]}}\n"},
           {"EXTRA_UPSTREAMS", "  - {name: web2, endpoints: [\"{{WEB}}\"]}\n"}});
  auto before = requests_seen(s.web);
  Response r = get(s.port(), "/st/echo?status=503");
  REQUIRE_RESPONSE(r);
  CHECK(r.status == 503);  // the last try's answer goes to the client
  CHECK(requests_seen(s.web) - before == 3);

  before = requests_seen(s.web);
  r = fetch(s.port(), request("POST", "/st/echo?status=503", "", "x"));
  REQUIRE_RESPONSE(r);
  CHECK(r.status == 503);
  CHECK(requests_seen(s.web) - before == 1);  // POST is not idempotent: never retried once sent
}

TEST_CASE("pools: per_try_timeout bounds each try of a hanging upstream, then 504") {
  Stack s({{"EXTRA_ROUTES", "      - {name: t, path: /t/, upstream: slow, rewrite_prefix: /, "
                            "retry: {attempts: 2, on: [timeout], per_try_timeout: 300ms}}\n"},
           {"EXTRA_UPSTREAMS", "  - {name: slow, endpoints: [\"{{API1}}\", \"{{API2}}\"], outlier: false}\n"}});
  const auto before = requests_seen(s.api1) + requests_seen(s.api2);
  const auto t0 = std::chrono::steady_clock::now();
  Response r = get(s.port(), "/t/echo?delay=3000");  // read_timeout is 2s in the test config
  const auto took = std::chrono::steady_clock::now() - t0;
  REQUIRE_RESPONSE(r);
  CHECK(r.status == 504);
  // Two tries of 300 ms (the deadline is enforced on a 100 ms tick), well before read_timeout.
  CHECK(took >= 550ms);
  CHECK(took < 1500ms);
  CHECK(requests_seen(s.api1) + requests_seen(s.api2) - before == 2);  // one try on each endpoint
}

TEST_CASE("pools: consecutive 5xx responses eject an endpoint, at most max_ejected_percent of the pool") {
  Stack s({{"WORKERS", "1"},
           {"EXTRA_ROUTES", "      - {name: e, path: /e/, upstream: errors, rewrite_prefix: /, retry: false}\n"},
           {"EXTRA_UPSTREAMS", "  - {name: errors, endpoints: [\"{{API1}}\", \"{{API2}}\"], "
                               "outlier: {consecutive_failures: 0, consecutive_5xx: 2, max_ejected_percent: 50}}\n"}});
  for (int i = 0; i < 8; ++i) {
    Response r = get(s.port(), "/e/echo?status=503");
    REQUIRE_RESPONSE(r);
    CHECK(r.status == 503);  // the upstream's own 503, passed through
  }
  int ejected = 0;
  for (auto& [address, e] : endpoints_of(*s.proxy, "errors")) ejected += e.get("ejected")->boolean ? 1 : 0;
  CHECK(ejected == 1);  // both failed, but half the pool may be out at once
  // Successes do not eject anything more, and the ejected one gets no traffic meanwhile.
  auto seen = served_by(s.port(), "/e/echo", 10);
  CHECK(seen.size() == 1);
  CHECK(seen.begin()->second == 10);
}

TEST_CASE("pools: a body is replayed only when it was buffered") {
  // drop=1: the upstream reads the request and closes without answering (a reset before the
  // response). PUT is idempotent, so the route retries it when it holds the body.
  Stack s({{"EXTRA_ROUTES", "      - {name: b, path: /b/, upstream: web3, rewrite_prefix: /, max_body_size: 0, "
                            "retry: {attempts: 2, on: [reset], buffer_body: 16k}}\n"},
           {"EXTRA_UPSTREAMS", "  - {name: web3, endpoints: [\"{{WEB}}\"], outlier: false}\n"}});
  // The upstream counts no request it dropped, but each try is a connection of its own (a dropped
  // connection is never reused).
  auto before = connections_seen(s.web);
  Response r = fetch(s.port(), request("PUT", "/b/echo?drop=1", "", std::string(8000, 'a')));
  REQUIRE_RESPONSE(r);
  CHECK(r.status == 502);
  CHECK(connections_seen(s.web) - before == 2 + 1);  // held (8000 <= 16k): sent twice (+1: the /stats query)

  before = connections_seen(s.web);
  r = fetch(s.port(), request("PUT", "/b/echo?drop=1", "", std::string(40000, 'a')));
  REQUIRE_RESPONSE(r);
  CHECK(r.status == 502);
  CHECK(connections_seen(s.web) - before == 1 + 1);  // streamed (40000 > 16k): never replayed
}

TEST_CASE("pools: the retry budget bounds retries against a failing pool") {
  Stack s({{"WORKERS", "1"},
           {"EXTRA_ROUTES", "      - {name: nb, path: /nb/, upstream: nobudget, rewrite_prefix: /}\n"},
           {"EXTRA_UPSTREAMS", "  - {name: nobudget, endpoints: [\"{{DEAD}}\", \"{{API1}}\"], outlier: false, "
                               "retry_budget: {percent: 0, min_retries: 0}}\n"}});
  int failures = 0;
  auto seen = served_by(s.port(), "/nb/echo", 40, "", &failures);
  // Round robin alternates: every request on the dead endpoint fails, none is retried.
  CHECK(failures == 20);
  CHECK(seen["api1"] == 20);
  auto samples = scrape(*s.proxy);
  CHECK(metric(samples, "rampart_upstream_retries_total", {{"upstream", "nobudget"}}) == 0);
  CHECK(metric(samples, "rampart_upstream_retry_budget_exhausted_total", {{"upstream", "nobudget"}}) == 20);
}

TEST_CASE("pools: circuit breaking answers 503 at once past max_requests and max_connections") {
  Stack s({{"WORKERS", "1"},
           {"EXTRA_ROUTES",
            "      - {name: cb, path: /cb/, upstream: capped, rewrite_prefix: /}\n"
            "      - {name: cc, path: /cc/, upstream: oneconn, rewrite_prefix: /}\n"},
           {"EXTRA_UPSTREAMS",
            "  - {name: capped, endpoints: [\"{{WEB}}\"], circuit: {max_requests: 2}}\n"
            "  - {name: oneconn, endpoints: [\"{{WEB}}\"], circuit: {max_connections: 1}}\n"}});
  for (const std::string& prefix : {std::string("/cb/"), std::string("/cc/")}) {
    INFO(prefix);
    std::vector<std::future<Response>> slow;
    const int inflight = prefix == "/cb/" ? 2 : 1;
    for (int i = 0; i < inflight; ++i)
      slow.push_back(std::async(std::launch::async, [&] { return get(s.port(), prefix + "echo?delay=800"); }));
    sleep_for(300ms);
    const auto t0 = std::chrono::steady_clock::now();
    Response over = get(s.port(), prefix + "echo");
    const auto took = std::chrono::steady_clock::now() - t0;
    REQUIRE_RESPONSE(over);
    CHECK(over.status == 503);
    CHECK(over.header("x-rampart-overflow") ==
          std::optional<std::string>(prefix == "/cb/" ? "max_requests" : "max_connections"));
    CHECK(took < 300ms);  // at once, not after the slow ones
    for (auto& f : slow) {
      Response r = f.get();
      REQUIRE_RESPONSE(r);
      CHECK(r.status == 200);
    }
    // Capacity is back once they finished.
    Response after = get(s.port(), prefix + "echo");
    CHECK(after.status == 200);
  }
  auto samples = scrape(*s.proxy);
  CHECK(metric(samples, "rampart_upstream_overflow_total", {{"upstream", "capped"}, {"reason", "max_requests"}}) == 1);
  CHECK(metric(samples, "rampart_upstream_overflow_total", {{"upstream", "oneconn"}, {"reason", "max_connections"}}) == 1);
}

TEST_CASE("pools: max_pending lets a request wait for a connection") {
  Stack s({{"WORKERS", "1"},
           {"EXTRA_ROUTES", "      - {name: q, path: /q/, upstream: queued, rewrite_prefix: /}\n"},
           {"EXTRA_UPSTREAMS", "  - {name: queued, endpoints: [\"{{WEB}}\"], circuit: {max_connections: 1, max_pending: 4}}\n"}});
  // The first takes the only connection for 300 ms; the second waits for it (within
  // connect_timeout, 1 s in the test config) instead of being turned away.
  auto first = std::async(std::launch::async, [&] { return get(s.port(), "/q/echo?delay=300"); });
  sleep_for(100ms);
  Response second = get(s.port(), "/q/echo");
  REQUIRE_RESPONSE(second);
  CHECK(second.status == 200);
  CHECK(first.get().status == 200);
}

}  // namespace it

namespace it {

TEST_CASE("pools: endpoints given by DNS name follow the records (dnsmasq)") {
  // Two backends on the same port of two loopback addresses; the name decides which get traffic.
  const std::uint16_t port = closed_port();
  const std::string listen1 = "127.0.0.1:" + std::to_string(port), listen2 = "127.0.0.2:" + std::to_string(port);
  Process b1(upstream_bin(), {"--listen", listen1, "--name", "dns1", "--threads", "1"});
  b1.wait_for_line(std::regex("listening"), 5s);
  Process b2(upstream_bin(), {"--listen", listen2, "--name", "dns2", "--threads", "1"});
  b2.wait_for_line(std::regex("listening"), 5s);

  TempDir dir;
  const std::string hosts = dir.path() + "/hosts";
  write_atomically(hosts, "127.0.0.1 svc.test\n");
  const std::uint16_t dns_port = closed_port();
  Process dns("/usr/sbin/dnsmasq", {"-d", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--addn-hosts=" + hosts,
                                    "--listen-address=127.0.0.1", "--bind-interfaces",
                                    "--port=" + std::to_string(dns_port), "--local-ttl=1", "--local=/test/",
                                    "--log-facility=-"});
  dns.wait_for_line(std::regex("started"), 5s);

  Stack s({{"EXTRA_ROUTES", "      - {name: d, path: /d/, upstream: named, rewrite_prefix: /}\n"},
           {"EXTRA_UPSTREAMS", "  - {name: named, endpoints: [\"svc.test:" + std::to_string(port) +
                                   "\"], discovery: {refresh: 200ms, resolver: \"127.0.0.1:" +
                                   std::to_string(dns_port) + "\"}}\n"}});
  auto seen = served_by(s.port(), "/d/echo", 10);
  CHECK(seen["dns1"] == 10);
  CHECK(endpoints_of(*s.proxy, "named").count("svc.test:" + std::to_string(port) + "@127.0.0.1") == 1);

  // A second address: both get traffic, without a reload.
  write_atomically(hosts, "127.0.0.1 svc.test\n127.0.0.2 svc.test\n");
  dns.signal(SIGHUP);  // dnsmasq rereads its hosts files
  REQUIRE(eventually([&] { return endpoints_of(*s.proxy, "named").size() == 2; }, 5s));
  seen = served_by(s.port(), "/d/echo", 20);
  CHECK(seen["dns1"] > 0);
  CHECK(seen["dns2"] > 0);
  CHECK(seen["dns1"] + seen["dns2"] == 20);

  // The first address goes away: only the second gets traffic.
  write_atomically(hosts, "127.0.0.2 svc.test\n");
  dns.signal(SIGHUP);
  REQUIRE(eventually([&] { return endpoints_of(*s.proxy, "named").size() == 1; }, 5s));
  seen = served_by(s.port(), "/d/echo", 10);
  CHECK(seen["dns2"] == 10);

  // The DNS server dies: the last good set stays in service, and the failure is logged.
  dns.signal(SIGKILL);
  dns.wait_exit(5s);
  s.proxy->process().wait_for_line(std::regex("discovery: .*svc\\.test"), 10s);
  seen = served_by(s.port(), "/d/echo", 10);
  CHECK(seen["dns2"] == 10);
  CHECK(endpoints_of(*s.proxy, "named").size() == 1);
}

}  // namespace it
