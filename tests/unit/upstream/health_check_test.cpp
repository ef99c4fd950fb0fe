// The active health checker against a tiny in-test server (127.0.0.1, port 0, its own thread)
// whose behaviour each test switches: answers, errors, hangs, refusals and hostile responses.
#include "upstream/health_check.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>

#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

using namespace rampart;
using namespace rampart::upstream;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

// What the test server does with each connection.
struct Reply {
  enum class Kind {
    content_length,  // status + Content-Length body (pieces concatenated)
    chunked,         // status + one chunk per piece
    until_close,     // status, no length: body then close
    raw,             // pieces[0] as is, then close
    hang,            // reads the request, never answers
    slow_body,       // 200 with Content-Length 100000, then one byte every 50 ms
    huge_headers,    // a status line and then header fields without end
    reset,           // accepts and resets without reading
  };
  Kind kind = Kind::content_length;
  int status = 200;
  std::vector<std::string> pieces{"ok"};
};

class TestServer {
 public:
  TestServer() : acceptor_(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    endpoint_ = acceptor_.local_endpoint();
    asio::co_spawn(ioc_, accept_loop(), asio::detached);
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~TestServer() {
    ioc_.stop();
    thread_.join();
  }

  tcp::endpoint endpoint() const { return endpoint_; }
  void set(Reply r) {
    std::lock_guard lock(mutex_);
    reply_ = std::move(r);
  }
  // Closes the listening socket: connects are refused from now on.
  void refuse() {
    std::promise<void> done;
    asio::post(ioc_, [&] {
      boost::system::error_code ignored;
      acceptor_.close(ignored);
      done.set_value();
    });
    done.get_future().wait();
  }
  int requests() const { return requests_.load(); }
  int connections() const { return connections_.load(); }
  std::string last_request() const {
    std::lock_guard lock(mutex_);
    return last_request_;
  }

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, sock] = co_await acceptor_.async_accept(nothrow);
      if (ec) co_return;
      ++connections_;
      asio::co_spawn(ioc_, serve(std::move(sock)), asio::detached);
    }
  }

  asio::awaitable<void> serve(tcp::socket sock) {
    Reply r;
    {
      std::lock_guard lock(mutex_);
      r = reply_;
    }
    boost::system::error_code ec;
    if (r.kind == Reply::Kind::reset) {
      sock.set_option(asio::socket_base::linger(true, 0), ec);
      sock.close(ec);
      co_return;
    }
    std::string in;
    char buf[4096];
    while (in.find("\r\n\r\n") == std::string::npos && in.size() < 16384) {
      auto [rec, n] = co_await sock.async_read_some(asio::buffer(buf), nothrow);
      if (rec) co_return;  // e.g. a TCP check: connect and close
      in.append(buf, n);
    }
    {
      std::lock_guard lock(mutex_);
      last_request_ = in;
    }
    ++requests_;

    auto status_line = "HTTP/1.1 " + std::to_string(r.status) + " Whatever\r\n";
    std::string out;
    switch (r.kind) {
      case Reply::Kind::content_length: {
        std::string body;
        for (auto& p : r.pieces) body += p;
        out = status_line + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
        break;
      }
      case Reply::Kind::chunked: {
        out = status_line + "Transfer-Encoding: chunked\r\n\r\n";
        char size[32];
        for (auto& p : r.pieces) {
          std::snprintf(size, sizeof size, "%zx\r\n", p.size());
          out += size + p + "\r\n";
        }
        out += "0\r\n\r\n";
        break;
      }
      case Reply::Kind::until_close:
        out = status_line + "Connection: close\r\n\r\n";
        for (auto& p : r.pieces) out += p;
        break;
      case Reply::Kind::raw:
        out = r.pieces.at(0);
        break;
      case Reply::Kind::hang:
        for (;;) {  // until the checker gives up and closes
          auto [rec, n] = co_await sock.async_read_some(asio::buffer(buf), nothrow);
          if (rec) co_return;
        }
      case Reply::Kind::slow_body: {
        std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";
        auto [wec, wn] = co_await asio::async_write(sock, asio::buffer(head), nothrow);
        asio::steady_timer t(ioc_);
        for (int i = 0; i < 200 && !wec; ++i) {
          t.expires_after(50ms);
          co_await t.async_wait(nothrow);
          std::tie(wec, wn) = co_await asio::async_write(sock, asio::buffer("x", 1), nothrow);
        }
        co_return;
      }
      case Reply::Kind::huge_headers: {
        std::string head = "HTTP/1.1 200 OK\r\n";
        auto [wec, wn] = co_await asio::async_write(sock, asio::buffer(head), nothrow);
        const std::string field = "X-Padding: " + std::string(100, 'p') + "\r\n";
        for (int i = 0; i < 10000 && !wec; ++i)
          std::tie(wec, wn) = co_await asio::async_write(sock, asio::buffer(field), nothrow);
        co_return;
      }
      case Reply::Kind::reset:
        co_return;
    }
    co_await asio::async_write(sock, asio::buffer(out), nothrow);
    sock.shutdown(tcp::socket::shutdown_send, ec);
    // Wait for the checker to close (it sent Connection: close), bounded by its own deadline.
    co_await sock.async_read_some(asio::buffer(buf), nothrow);
  }

  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  tcp::endpoint endpoint_;
  std::thread thread_;
  mutable std::mutex mutex_;
  Reply reply_;
  std::string last_request_;
  std::atomic<int> requests_{0};
  std::atomic<int> connections_{0};
};

// Every event, with the endpoint's health as the callback saw it.
struct Seen {
  std::string key;
  bool ok;
  std::string detail;
  std::optional<Health> transition;
  Health health;
  std::chrono::steady_clock::time_point at;
};

class Recorder {
 public:
  std::function<void(const HealthChecker::Event&)> callback() {
    return [this](const HealthChecker::Event& e) {
      std::lock_guard lock(mutex_);
      events_.push_back({e.target->key, e.ok, e.detail, e.transition,
                         e.target->state->health.load(), std::chrono::steady_clock::now()});
      cv_.notify_all();
    };
  }
  // Waits until at least n events arrived (for `key`, when given). False on timeout.
  bool wait(std::size_t n, std::chrono::milliseconds timeout = 2000ms, const std::string& key = {}) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return count_locked(key) >= n; });
  }
  std::vector<Seen> events(const std::string& key = {}) const {
    std::lock_guard lock(mutex_);
    std::vector<Seen> out;
    for (auto& e : events_)
      if (key.empty() || e.key == key) out.push_back(e);
    return out;
  }
  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return events_.size();
  }

 private:
  std::size_t count_locked(const std::string& key) const {
    if (key.empty()) return events_.size();
    return static_cast<std::size_t>(std::count_if(events_.begin(), events_.end(), [&](auto& e) { return e.key == key; }));
  }
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<Seen> events_;
};

config::HealthCheckSpec fast_spec() {
  config::HealthCheckSpec s;
  s.interval = 50ms;
  s.timeout = 500ms;
  s.jitter = 0.0;
  s.healthy_threshold = 2;
  s.unhealthy_threshold = 3;
  return s;
}

std::shared_ptr<EndpointState> state_with(Health h) {
  auto s = std::make_shared<EndpointState>();
  s->health.store(h);
  return s;
}

HealthChecker::Target target_for(const TestServer& server, config::HealthCheckSpec spec,
                                 std::shared_ptr<EndpointState> state, const std::string& name = "api.local") {
  HealthChecker::Target t;
  t.host = name + ":" + std::to_string(server.endpoint().port());
  t.pool = "p";
  t.key = "p|" + t.host;
  t.address = server.endpoint();
  t.spec = std::move(spec);
  t.state = std::move(state);
  return t;
}

}  // namespace

TEST_CASE("health check: unknown turns healthy on the first success and stamps healthy_since", "[health]") {
  TestServer server;
  Recorder rec;
  HealthChecker checker(rec.callback());
  auto state = state_with(Health::unknown);
  auto t = target_for(server, fast_spec(), state);
  checker.start();
  const auto before = to_ns(Clock::now());
  checker.update({t});
  CHECK(checker.target_count() == 1);
  REQUIRE(rec.wait(1, 1000ms));
  const auto after = to_ns(Clock::now());
  checker.stop();

  auto ev = rec.events();
  CHECK(ev[0].ok);
  CHECK(ev[0].detail.empty());
  REQUIRE(ev[0].transition);
  CHECK(*ev[0].transition == Health::healthy);
  CHECK(state->health.load() == Health::healthy);
  CHECK(state->healthy_since_ns.load() >= before);
  CHECK(state->healthy_since_ns.load() <= after);
  CHECK(server.last_request() == "GET /healthz HTTP/1.1\r\nHost: " + t.host +
                                     "\r\nUser-Agent: rampart-health-check\r\nConnection: close\r\n\r\n");
}

TEST_CASE("health check: transitions after exactly the thresholds", "[health]") {
  TestServer server;
  server.set({Reply::Kind::content_length, 503, {}});
  Recorder rec;
  HealthChecker checker(rec.callback());
  auto state = state_with(Health::healthy);
  auto spec = fast_spec();
  spec.interval = 30ms;
  checker.start();
  checker.update({target_for(server, spec, state)});

  REQUIRE(rec.wait(3));
  auto ev = rec.events();
  for (int i = 0; i < 3; ++i) {
    CHECK_FALSE(ev[i].ok);
    CHECK(ev[i].detail == "status 503");
  }
  CHECK_FALSE(ev[0].transition);
  CHECK(ev[0].health == Health::healthy);
  CHECK_FALSE(ev[1].transition);
  CHECK(ev[1].health == Health::healthy);
  REQUIRE(ev[2].transition);
  CHECK(*ev[2].transition == Health::unhealthy);
  CHECK(ev[2].health == Health::unhealthy);

  server.set({});
  const auto first_ok = [&] {
    auto e = rec.events();
    for (std::size_t i = 0; i < e.size(); ++i)
      if (e[i].ok) return i;
    return std::size_t(0);
  };
  REQUIRE(rec.wait(20, 2000ms));
  checker.stop();
  ev = rec.events();
  const std::size_t i = first_ok();
  REQUIRE(i >= 3);
  REQUIRE(i + 1 < ev.size());
  for (std::size_t k = 3; k < i; ++k) CHECK_FALSE(ev[k].transition);  // still failing: already unhealthy
  CHECK_FALSE(ev[i].transition);
  CHECK(ev[i].health == Health::unhealthy);
  CHECK(ev[i + 1].ok);
  REQUIRE(ev[i + 1].transition);
  CHECK(*ev[i + 1].transition == Health::healthy);
  CHECK(state->health.load() == Health::healthy);
  CHECK(state->healthy_since_ns.load() > 0);
}

TEST_CASE("health check: probes once per interval", "[health]") {
  TestServer server;
  Recorder rec;
  HealthChecker checker(rec.callback());
  auto spec = fast_spec();
  spec.jitter = 0.1;
  auto t = target_for(server, spec, state_with(Health::healthy));
  checker.start();
  checker.update({t, t, t});  // duplicates of one key: one target
  CHECK(checker.target_count() == 1);
  std::this_thread::sleep_for(1000ms);
  checker.stop();
  const int n = server.requests();
  INFO("requests in 1 s at a 50 ms interval: " << n);
  CHECK(n >= 12);
  CHECK(n <= 30);
  // Every probe the server answered was reported, except one stop() may have cut short after the
  // server counted it (a loaded machine makes that likely).
  CHECK(rec.size() <= static_cast<std::size_t>(n));
  CHECK(rec.size() + 1 >= static_cast<std::size_t>(n));
}

TEST_CASE("health check: a hanging server fails within the timeout", "[health]") {
  TestServer server;
  server.set({Reply::Kind::hang, 200, {}});
  Recorder rec;
  HealthChecker checker(rec.callback());
  auto spec = fast_spec();
  spec.timeout = 200ms;
  spec.interval = 1000ms;
  spec.unhealthy_threshold = 1;
  auto state = state_with(Health::healthy);
  checker.start();
  const auto started = std::chrono::steady_clock::now();
  checker.update({target_for(server, spec, state)});
  REQUIRE(rec.wait(1, 2000ms));
  auto ev = rec.events();
  const auto took = ev[0].at - started;
  checker.stop();
  CHECK(took >= 200ms);
  CHECK(took <= 100ms + 200ms + 300ms);  // first delay + timeout + slack
  CHECK_FALSE(ev[0].ok);
  CHECK(ev[0].detail == "timeout");
  REQUIRE(ev[0].transition);
  CHECK(*ev[0].transition == Health::unhealthy);
  CHECK(server.requests() == 1);
}

TEST_CASE("health check: update keeps counters and schedule of unchanged targets", "[health]") {
  TestServer server;
  TestServer other;
  Recorder rec;
  HealthChecker checker(rec.callback());
  auto spec = fast_spec();
  spec.interval = 300ms;
  spec.healthy_threshold = 3;
  auto state = state_with(Health::unhealthy);
  auto t = target_for(server, spec, state);
  checker.start();
  checker.update({t});
  REQUIRE(rec.wait(2, 1500ms, t.key));
  checker.update({target_for(other, spec, state_with(Health::healthy), "other.local"), t});
  CHECK(checker.target_count() == 2);
  REQUIRE(rec.wait(3, 1500ms, t.key));
  checker.stop();

  auto ev = rec.events(t.key);
  CHECK_FALSE(ev[0].transition);
  CHECK_FALSE(ev[1].transition);
  REQUIRE(ev[2].transition);  // the third success in a row: counters survived the update
  CHECK(*ev[2].transition == Health::healthy);
  CHECK(ev[2].at - ev[1].at >= 250ms);  // and the schedule did too (a new target probes within 100 ms)
  CHECK(other.requests() >= 1);
}

TEST_CASE("health check: a changed spec restarts the counters and probes soon", "[health]") {
  TestServer server;
  Recorder rec;
  HealthChecker checker(rec.callback());
  auto spec = fast_spec();
  spec.interval = 2000ms;
  spec.healthy_threshold = 2;
  auto state = state_with(Health::unhealthy);
  auto t = target_for(server, spec, state);
  checker.start();
  checker.update({t});
  REQUIRE(rec.wait(1, 1000ms));
  t.spec.path = "/other";
  const auto changed = std::chrono::steady_clock::now();
  checker.update({t});
  CHECK(checker.target_count() == 1);
  REQUIRE(rec.wait(2, 1000ms));
  checker.stop();
  auto ev = rec.events();
  CHECK(ev[1].ok);
  CHECK_FALSE(ev[1].transition);  // one success after the change, not two in a row
  CHECK(ev[1].at - changed < 500ms);
  CHECK(server.last_request().rfind("GET /other HTTP/1.1\r\n", 0) == 0);
  CHECK(state->health.load() == Health::unhealthy);
}

TEST_CASE("health check: removed targets stop probing", "[health]") {
  TestServer server;
  Recorder rec;
  HealthChecker checker(rec.callback());
  auto t = target_for(server, fast_spec(), state_with(Health::healthy));
  checker.start();

  SECTION("between probes") {
    checker.update({t});
    REQUIRE(rec.wait(2));
    checker.update({});
    CHECK(checker.target_count() == 0);
    std::this_thread::sleep_for(30ms);  // a request already on the wire may still arrive
    const int requests = server.requests();
    const auto events = rec.size();
    std::this_thread::sleep_for(300ms);
    CHECK(server.requests() == requests);
    CHECK(rec.size() == events);
  }
  SECTION("while a probe is in flight") {
    server.set({Reply::Kind::hang, 200, {}});
    t.spec.timeout = 2000ms;
    t.spec.unhealthy_threshold = 1;
    checker.update({t});
    for (int i = 0; i < 100 && server.requests() == 0; ++i) std::this_thread::sleep_for(10ms);
    REQUIRE(server.requests() == 1);
    checker.update({});
    CHECK(checker.target_count() == 0);
    std::this_thread::sleep_for(300ms);
    CHECK(rec.size() == 0);  // the aborted probe's result is discarded
    CHECK(t.state->health.load() == Health::healthy);
    CHECK(server.requests() == 1);
  }
  checker.stop();
}

TEST_CASE("health check: tcp connect check", "[health]") {
  TestServer server;
  Recorder rec;
  HealthChecker checker(rec.callback());
  auto spec = fast_spec();
  spec.type = config::HealthCheckSpec::Type::tcp;
  spec.unhealthy_threshold = 1;
  auto state = state_with(Health::unknown);
  checker.start();
  checker.update({target_for(server, spec, state)});
  REQUIRE(rec.wait(1));
  auto ev = rec.events();
  CHECK(ev[0].ok);
  REQUIRE(ev[0].transition);
  CHECK(*ev[0].transition == Health::healthy);
  for (int i = 0; i < 100 && server.connections() == 0; ++i) std::this_thread::sleep_for(10ms);  // accepted late
  CHECK(server.connections() >= 1);
  CHECK(server.requests() == 0);  // no HTTP

  server.refuse();
  const auto seen = rec.size();
  REQUIRE(rec.wait(seen + 2));
  checker.stop();
  ev = rec.events();
  CHECK_FALSE(ev.back().ok);
  CHECK(ev.back().detail == "connect: Connection refused");
  CHECK(state->health.load() == Health::unhealthy);
}

TEST_CASE("health check: a passing probe clears passive ejection", "[health]") {
  TestServer server;
  Recorder rec;
  HealthChecker checker(rec.callback());
  auto spec = fast_spec();
  spec.healthy_threshold = 1;
  const auto until = to_ns(Clock::now() + std::chrono::minutes(1));

  SECTION("healthy and ejected") {
    auto state = state_with(Health::healthy);
    state->ejected_until_ns.store(until);
    state->ejections.store(3);
    checker.start();
    checker.update({target_for(server, spec, state)});
    REQUIRE(rec.wait(1));
    checker.stop();
    auto ev = rec.events();
    CHECK(ev[0].ok);
    CHECK_FALSE(ev[0].transition);
    CHECK(state->ejected_until_ns.load() == 0);
    CHECK(state->ejections.load() == 0);
    CHECK(state->healthy_since_ns.load() == 0);  // no transition, no new slow start
  }
  SECTION("unhealthy and ejected") {
    auto state = state_with(Health::unhealthy);
    state->ejected_until_ns.store(until);
    state->ejections.store(2);
    checker.start();
    checker.update({target_for(server, spec, state)});
    REQUIRE(rec.wait(1));
    checker.stop();
    auto ev = rec.events();
    REQUIRE(ev[0].transition);
    CHECK(*ev[0].transition == Health::healthy);
    CHECK(state->ejected_until_ns.load() == 0);
    CHECK(state->ejections.load() == 0);
    CHECK(state->healthy_since_ns.load() > 0);
    CHECK(state->available(to_ns(Clock::now())));
  }
  SECTION("a failing probe leaves the ejection alone") {
    server.set({Reply::Kind::content_length, 500, {}});
    auto state = state_with(Health::healthy);
    state->ejected_until_ns.store(until);
    state->ejections.store(1);
    checker.start();
    checker.update({target_for(server, spec, state)});
    REQUIRE(rec.wait(1));
    checker.stop();
    CHECK(state->ejected_until_ns.load() == until);
    CHECK(state->ejections.load() == 1);
  }
}

TEST_CASE("health check: body_contains over every body framing", "[health]") {
  TestServer server;
  Recorder rec;
  HealthChecker checker(rec.callback());
  auto spec = fast_spec();
  spec.body_contains = "all systems go";
  bool expect_ok = true;
  std::string expect_detail;

  SECTION("content-length with the substring") { server.set({Reply::Kind::content_length, 200, {"status: all systems go\n"}}); }
  SECTION("content-length without it") {
    server.set({Reply::Kind::content_length, 200, {"status: all systems stop\n"}});
    expect_ok = false;
    expect_detail = "body mismatch";
  }
  SECTION("chunked, the substring split across chunks") {
    server.set({Reply::Kind::chunked, 200, {"status: all sys", "tems", " go", "\n"}});
  }
  SECTION("chunked without it") {
    server.set({Reply::Kind::chunked, 200, {"status: ", "down\n"}});
    expect_ok = false;
    expect_detail = "body mismatch";
  }
  SECTION("until close") { server.set({Reply::Kind::until_close, 200, {std::string(1000, '.'), "all systems go"}}); }
  SECTION("only the first 64 KiB count") {
    server.set({Reply::Kind::content_length, 200, {std::string(70000, '.'), "all systems go"}});
    expect_ok = false;
    expect_detail = "body mismatch";
  }
  SECTION("a matching body with an unexpected status still fails") {
    server.set({Reply::Kind::content_length, 500, {"all systems go"}});
    expect_ok = false;
    expect_detail = "status 500";
  }
  checker.start();
  checker.update({target_for(server, spec, state_with(Health::unknown))});
  REQUIRE(rec.wait(1));
  checker.stop();
  auto ev = rec.events();
  CHECK(ev[0].ok == expect_ok);
  CHECK(ev[0].detail == expect_detail);
}

TEST_CASE("health check: method, Host override and expected status ranges", "[health]") {
  TestServer server;
  server.set({Reply::Kind::content_length, 418, {}});
  Recorder rec;
  HealthChecker checker(rec.callback());
  auto spec = fast_spec();
  spec.method = "HEAD";
  spec.path = "/ready?deep=1";
  spec.host = "health.internal";
  spec.expect_status = {{200, 204}, {418, 418}};
  checker.start();
  checker.update({target_for(server, spec, state_with(Health::unknown))});
  REQUIRE(rec.wait(1));
  checker.stop();
  CHECK(rec.events()[0].ok);
  CHECK(server.last_request() ==
        "HEAD /ready?deep=1 HTTP/1.1\r\nHost: health.internal\r\nUser-Agent: rampart-health-check\r\n"
        "Connection: close\r\n\r\n");
}

TEST_CASE("health check: hostile servers fail the probe without hurting the checker", "[health]") {
  TestServer server;
  Recorder rec;
  HealthChecker checker(rec.callback());
  auto spec = fast_spec();
  spec.timeout = 300ms;
  std::string expect_prefix;

  SECTION("garbage") {
    server.set({Reply::Kind::raw, 200, {"SSH-2.0-OpenSSH_9.2\r\n\r\n"}});
    expect_prefix = "invalid response";
  }
  SECTION("bare LF in the head") {
    server.set({Reply::Kind::raw, 200, {"HTTP/1.1 200 OK\nContent-Length: 0\n\n"}});
    expect_prefix = "invalid response";
  }
  SECTION("huge headers") {
    server.set({Reply::Kind::huge_headers, 200, {}});
    expect_prefix = "invalid response";
  }
  SECTION("closed before answering") {
    server.set({Reply::Kind::raw, 200, {""}});
    expect_prefix = "invalid response";
  }
  SECTION("reset") {
    server.set({Reply::Kind::reset, 200, {}});
    expect_prefix = "";  // "read: Connection reset by peer" or a write error, depending on timing
  }
  SECTION("bad chunked framing") {
    server.set({Reply::Kind::raw, 200, {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"}});
    spec.body_contains = "x";
    expect_prefix = "invalid response";
  }
  SECTION("slow body") {
    server.set({Reply::Kind::slow_body, 200, {}});
    spec.body_contains = "never there";
    expect_prefix = "timeout";
  }
  SECTION("endless interim responses") {
    std::string interim;
    for (int i = 0; i < 50; ++i) interim += "HTTP/1.1 100 Continue\r\n\r\n";
    server.set({Reply::Kind::raw, 200, {interim}});
    expect_prefix = "invalid response";
  }
  checker.start();
  const auto started = std::chrono::steady_clock::now();
  checker.update({target_for(server, spec, state_with(Health::unknown))});
  REQUIRE(rec.wait(1, 1500ms));
  auto ev = rec.events();
  CHECK(ev[0].at - started < 100ms + 300ms + 300ms);
  CHECK_FALSE(ev[0].ok);
  INFO("detail: " << ev[0].detail);
  CHECK(ev[0].detail.rfind(expect_prefix, 0) == 0);
  CHECK_FALSE(ev[0].detail.empty());
  // Still probing on schedule after whatever the server did.
  REQUIRE(rec.wait(2, 1500ms));
  checker.stop();
}

TEST_CASE("health check: stop and destruction with probes pending", "[health]") {
  TestServer server;
  server.set({Reply::Kind::hang, 200, {}});
  Recorder rec;
  auto spec = fast_spec();
  spec.timeout = 5000ms;
  const auto started = std::chrono::steady_clock::now();
  {
    HealthChecker checker(rec.callback());
    checker.update({target_for(server, spec, state_with(Health::healthy))});  // before start: applied directly
    CHECK(checker.target_count() == 1);
    checker.start();
    for (int i = 0; i < 100 && server.requests() == 0; ++i) std::this_thread::sleep_for(10ms);
    REQUIRE(server.requests() == 1);
  }  // destroyed with a probe in flight
  CHECK(std::chrono::steady_clock::now() - started < 1500ms);
  CHECK(rec.size() == 0);
}
