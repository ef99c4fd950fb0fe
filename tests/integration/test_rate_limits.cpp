// Rate limits end to end: the 429 with Retry-After and the RateLimit headers, keys, dry runs,
// stacking of a server's and a route's limits, accuracy over a few seconds with one and with four
// workers, and the per-IP connection limit of a listener.
#include "fixtures.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <fstream>
#include <iterator>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

namespace it {
namespace {

const char* const limits_config = R"(version: 1
workers: {{WORKERS}}
watch: false
admin: {address: "127.0.0.1:0"}
access_log: {path: access.log}
listeners:
  - {name: http, address: "127.0.0.1:0"}
  - {name: capped, address: "127.0.0.1:0", max_connections_per_ip: 3}
policies:
  - name: tight
    rate_limit: {rate: 10/s, burst: 4}
  - name: per-key
    rate_limit: {rate: 1/m, key: ["header:x-api-key"]}
  - name: watch
    rate_limit: {rate: 1/h, dry_run: true}
  - name: steady
    rate_limit: {rate: 100/s, burst: 10, key: route}
  - name: server-wide
    rate_limit: {rate: 2/m, burst: 1, key: [client_ip, route], headers: false}
servers:
  - name: app
    hosts: ["*"]
    routes:
      - {name: tight, path: /tight/, upstream: web, policies: [tight]}
      - {name: keyed, path: /keyed/, upstream: web, policies: [per-key]}
      - {name: watch, path: /watch/, upstream: web, policies: [watch]}
      - {name: steady, path: /steady/, upstream: web, policies: [steady]}
      - {name: web, path: /, upstream: web}
  - name: stacked
    hosts: ["stacked.test"]
    policies: [server-wide]
    routes:
      - {name: stacked, path: /, upstream: web, policies: [tight]}
upstreams:
  - {name: web, endpoints: ["{{WEB}}"]}
)";

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

struct Fixture {
  explicit Fixture(int workers = 1)
      : proxy(subst(limits_config, {{"WEB", web.address()}, {"WORKERS", std::to_string(workers)}})) {}
  Upstream web{"web"};
  Proxy proxy;
};

}  // namespace

TEST_CASE("rate limits: burst then 429 with Retry-After and RateLimit headers") {
  Fixture f;
  const auto port = f.proxy.port("http");
  Conn c(port);
  REQUIRE(c.ok());
  int allowed = 0, limited = 0;
  Response first_limited;
  for (int i = 0; i < 12; ++i) {
    REQUIRE(c.send(request("GET", "/tight/x")));
    Response r = c.read_response();
    REQUIRE_RESPONSE(r);
    if (r.status == 200) {
      ++allowed;
      CHECK(r.header("ratelimit-policy") == std::optional<std::string>("\"tight\";q=10;w=1"));
      CHECK(r.header("ratelimit"));
    } else {
      CHECK(r.status == 429);
      if (limited++ == 0) first_limited = r;
    }
  }
  // burst 4: five at once, then one every 100 ms (the loop takes far less than 100 ms per request
  // on loopback, but allow one refill for a slow machine).
  CHECK(allowed >= 5);
  CHECK(allowed <= 6);
  CHECK(limited == 12 - allowed);
  REQUIRE(first_limited.ok);
  CHECK(first_limited.header("retry-after") == std::optional<std::string>("1"));
  CHECK(first_limited.header("ratelimit"));
  CHECK(first_limited.header("ratelimit-policy"));

  // Other routes are not limited; the decisions are counted.
  CHECK(get(port, "/other").status == 200);
  const auto samples = scrape(f.proxy);
  CHECK(metric(samples, "rampart_rate_limit_decisions_total", {{"policy", "tight"}, {"decision", "allowed"}}) == allowed);
  CHECK(metric(samples, "rampart_rate_limit_decisions_total", {{"policy", "tight"}, {"decision", "limited"}}) == limited);
}

TEST_CASE("rate limits: a header key gives each value its own bucket, dry run only counts") {
  Fixture f;
  const auto port = f.proxy.port("http");
  CHECK(get(port, "/keyed/a", "X-Api-Key: alpha\r\n").status == 200);
  CHECK(get(port, "/keyed/a", "X-Api-Key: alpha\r\n").status == 429);
  CHECK(get(port, "/keyed/a", "X-Api-Key: beta\r\n").status == 200);
  CHECK(get(port, "/keyed/a", "X-Api-Key: beta\r\n").status == 429);

  for (int i = 0; i < 5; ++i) CHECK(get(port, "/watch/x").status == 200);
  const auto samples = scrape(f.proxy);
  CHECK(metric(samples, "rampart_rate_limit_decisions_total", {{"policy", "watch"}, {"decision", "allowed"}}) == 1);
  CHECK(metric(samples, "rampart_rate_limit_decisions_total", {{"policy", "watch"}, {"decision", "dry_run_limited"}}) == 4);

  // The access log says which requests were refused (RL, answered at the edge: LR) and which a dry
  // run would have refused (RLD).
  std::string log;
  for (int i = 0; i < 100; ++i) {
    std::ifstream in(f.proxy.dir() + "/access.log");
    log.assign(std::istreambuf_iterator<char>(in), {});
    if (count_of(log, "\"flags\":\"RLD\"") == 4 && count_of(log, "\"flags\":\"RL,LR\"") == 2) break;
    sleep_for(50ms);
  }
  INFO(log);
  CHECK(count_of(log, "\"flags\":\"RL,LR\"") == 2);
  CHECK(count_of(log, "\"flags\":\"RLD\"") == 4);
}

TEST_CASE("rate limits: a route's limit stacks on its server's") {
  Fixture f;
  const auto port = f.proxy.port("http");
  // server-wide allows 2 at once (1 + burst 1) per client and route, then 2 a minute; tight
  // allows 5 at once: the server's limit is the one that bites.
  CHECK(get(port, "/", "", "stacked.test").status == 200);
  CHECK(get(port, "/", "", "stacked.test").status == 200);
  Response r = get(port, "/", "", "stacked.test");
  CHECK(r.status == 429);
  CHECK(r.header("retry-after"));
  const auto samples = scrape(f.proxy);
  CHECK(metric(samples, "rampart_rate_limit_decisions_total", {{"policy", "server-wide"}, {"decision", "limited"}}) == 1);
  CHECK(metric(samples, "rampart_rate_limit_decisions_total", {{"policy", "tight"}}) >= 2);
}

// Four clients at 50 requests/s each (twice the limit) for three seconds against 100/s, burst 10:
// the allowed count is burst + 1 + 100/s x the time between the first and the last request.
static void check_accuracy(int workers) {
  Fixture f(workers);
  const auto port = f.proxy.port("http");
  constexpr int kClients = 4;
  constexpr auto kPeriod = std::chrono::milliseconds(20);  // 50/s per client
  constexpr auto kRun = std::chrono::seconds(3);
  std::atomic<long> allowed{0}, limited{0}, failed{0};
  const auto start = Clock::now() + std::chrono::milliseconds(100);
  std::atomic<long long> first_ns{std::numeric_limits<long long>::max()}, last_ns{0};
  std::vector<std::thread> clients;
  for (int k = 0; k < kClients; ++k) {
    clients.emplace_back([&, k] {
      Conn c(port);
      if (!c.ok()) {
        ++failed;
        return;
      }
      auto next = start + kPeriod * k / kClients;  // spread the clients over the period
      while (next < start + kRun) {
        std::this_thread::sleep_until(next);
        const auto sent = Clock::now();
        if (!c.send(request("GET", "/steady/x"))) {
          ++failed;
          return;
        }
        Response r = c.read_response();
        if (!r.ok) {
          ++failed;
          return;
        }
        (r.status == 200 ? allowed : limited)++;
        const long long ns = std::chrono::duration_cast<std::chrono::nanoseconds>(sent - start).count();
        long long cur = first_ns.load();
        while (ns < cur && !first_ns.compare_exchange_weak(cur, ns)) {
        }
        cur = last_ns.load();
        while (ns > cur && !last_ns.compare_exchange_weak(cur, ns)) {
        }
        next += kPeriod;
      }
    });
  }
  for (auto& t : clients) t.join();
  REQUIRE(failed == 0);
  const double span_s = static_cast<double>(last_ns - first_ns) / 1e9;
  const double theory = 11 + 100 * span_s;
  INFO("workers " << workers << ", allowed " << allowed << ", limited " << limited << ", span " << span_s
                  << " s, theory " << theory);
  CHECK(allowed + limited == kClients * 150);
  CHECK(std::abs(static_cast<double>(allowed) - theory) <= 0.02 * 100 * span_s + 10);
  CHECK(limited > 0);
}

TEST_CASE("rate limits: accuracy against theory with one worker") { check_accuracy(1); }

TEST_CASE("rate limits: accuracy against theory with four workers") { check_accuracy(4); }

TEST_CASE("rate limits: a listener's per-IP connection limit closes the extra connection at accept") {
  Fixture f(2);
  const auto port = f.proxy.port("capped");
  std::vector<Conn> held;
  for (int i = 0; i < 3; ++i) {
    held.emplace_back(port);
    REQUIRE(held.back().ok());
    REQUIRE(held.back().send(request("GET", "/x")));
    CHECK(held.back().read_response().status == 200);
  }
  Conn extra(port);
  REQUIRE(extra.ok());  // the kernel completes the handshake; Rampart closes it at accept
  extra.send(request("GET", "/x"));
  CHECK(extra.is_closed(3s));

  // Another listener is not limited.
  CHECK(get(f.proxy.port("http"), "/x").status == 200);

  // One closed: a new connection gets its slot.
  held.pop_back();
  bool served = false;
  for (int attempt = 0; attempt < 50 && !served; ++attempt) {
    Conn again(port);
    if (again.ok() && again.send(request("GET", "/x"))) served = again.read_response(1s).status == 200;
    if (!served) sleep_for(20ms);
  }
  CHECK(served);
  const auto samples = scrape(f.proxy);
  CHECK(metric(samples, "rampart_connections_rejected_total", {{"listener", "capped"}, {"reason", "per_ip_limit"}}) >= 1);
}

}  // namespace it
