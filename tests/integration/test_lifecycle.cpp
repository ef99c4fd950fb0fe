// Process lifecycle: configuration reload under load, and graceful shutdown.
#include "fixtures.hpp"

#include <catch2/catch.hpp>

#include <signal.h>

#include <atomic>
#include <mutex>

namespace it {

TEST_CASE("config reload under concurrent load loses no request") {
  Stack s;
  const std::uint16_t port = s.port();
  std::atomic<bool> stop{false};
  std::atomic<int> total{0}, saw_reloaded{0};
  std::mutex mu;
  std::vector<std::string> failures;
  auto fail = [&](std::string what) {
    std::lock_guard lock(mu);
    failures.push_back(std::move(what));
  };

  auto worker = [&](int id) {
    Conn c(port);
    int n = 0;
    while (!stop) {
      if (!c.ok()) {
        c = Conn(port);
        if (!c.ok()) {
          fail("connect: " + c.error());
          sleep_for(10ms);
          continue;
        }
      }
      std::string target = "/echo?t=" + std::to_string(id) + "&n=" + std::to_string(n++);
      if (!c.send(request("GET", target))) {
        fail(target + " send: " + c.error());
        c = Conn(port);
        continue;
      }
      Response r = c.read_response(5s);
      if (!r.ok || r.status != 200) {
        fail(target + ": status " + std::to_string(r.status) + " " + r.error);
        c = Conn(port);
        continue;
      }
      ++total;
      if (r.header("x-served-by") == std::optional<std::string>("reloaded")) ++saw_reloaded;
      auto conn = r.header("connection");
      if (conn && conn->find("close") != std::string::npos) c = Conn(port);  // announced close
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back(worker, i);

  sleep_for(800ms);
  ReloadResult good = s.proxy->reload(s.config({{"SERVED_BY", "reloaded"}}));
  INFO(s.proxy->process().output());
  CHECK(good.ok);
  CHECK(good.generation == 2);
  sleep_for(300ms);
  Response fresh = get(port, "/echo");
  REQUIRE_RESPONSE(fresh);
  CHECK(fresh.header("x-served-by") == std::optional<std::string>("reloaded"));

  sleep_for(500ms);
  ReloadResult bad = s.proxy->reload(
      s.config({{"SERVED_BY", "broken"},
                {"EXTRA_ROUTES", "      - {name: broken, path: /broken, upstream: nosuch}\n"}}));
  INFO("diagnostics: " << bad.diagnostics);
  CHECK_FALSE(bad.ok);
  CHECK(std::regex_search(bad.diagnostics, std::regex(R"(rampart\.yaml:\d+:\d+: error: )")));
  CHECK(bad.diagnostics.find("nosuch") != std::string::npos);
  sleep_for(300ms);
  Response still = get(port, "/echo");
  REQUIRE_RESPONSE(still);
  CHECK(still.header("x-served-by") == std::optional<std::string>("reloaded"));

  sleep_for(1200ms);
  stop = true;
  for (auto& t : threads) t.join();
  {
    std::string all;
    for (std::size_t i = 0; i < failures.size() && i < 20; ++i) all += failures[i] + "\n";
    INFO(failures.size() << " failed requests:\n" << all);
    CHECK(failures.empty());
  }
  INFO(total.load() << " requests, " << saw_reloaded.load() << " saw the reloaded header");
  CHECK(total.load() > 100);
  CHECK(saw_reloaded.load() > 0);  // existing keep-alive connections pick up the new snapshot
  CHECK(s.proxy->process().running());
}

TEST_CASE("a reload that leaves an upstream unchanged keeps its pooled connections") {
  Stack s;
  for (int i = 0; i < 20; ++i) require_echo(get(s.port(), "/echo?warm=" + std::to_string(i)));
  auto before = upstream_stats(s.web);
  ReloadResult r = s.proxy->reload(s.config({{"SERVED_BY", "second"}}));
  INFO(s.proxy->process().output());
  REQUIRE(r.ok);
  for (int i = 0; i < 20; ++i) {
    Response resp = get(s.port(), "/echo?after=" + std::to_string(i));
    require_echo(resp);
    CHECK(resp.header("x-served-by") == std::optional<std::string>("second"));
  }
  auto after = upstream_stats(s.web);
  // One more connection is /stats itself; a few may be opened by a worker whose pool was
  // empty, but not one per request.
  std::uint64_t opened = std::stoull(after["connections"]) - std::stoull(before["connections"]);
  INFO("connections opened after the reload: " << opened);
  CHECK(opened <= 4);
}

TEST_CASE("SIGTERM drains in-flight requests, refuses new connections and exits 0") {
  Stack s;
  const std::uint16_t port = s.port();
  // An idle keep-alive connection: must be closed by the drain.
  Conn idle(port);
  REQUIRE(idle.ok());
  REQUIRE(idle.send(request("GET", "/echo?idle=1")));
  require_echo(idle.read_response());

  // A slow request in flight when the signal arrives.
  Conn busy(port);
  REQUIRE(busy.ok());
  REQUIRE(busy.send(request("GET", "/echo?delay=1500")));
  sleep_for(300ms);
  auto signalled = Clock::now();
  s.proxy->process().signal(SIGTERM);

  // New connections are refused once the listeners close (allow a moment for that).
  bool refused = false;
  while (Clock::now() - signalled < 1s) {
    Conn probe(port, 500ms);
    if (!probe.ok()) {
      refused = true;
      break;
    }
    probe.close();
    sleep_for(50ms);
  }
  CHECK(refused);

  Response r = busy.read_response(5s);
  INFO(r.error);
  REQUIRE_RESPONSE(r);
  CHECK(r.status == 200);
  CHECK(parse_echo(r.body).path == "/echo?delay=1500");

  CHECK(idle.is_closed(3s));
  int code = s.proxy->process().wait_exit(7s);  // drain_timeout 5s
  double took = std::chrono::duration<double>(Clock::now() - signalled).count();
  INFO("exited after " << took << " s\n" << s.proxy->process().output());
  CHECK(code == 0);
  CHECK(took < 6.0);
}

TEST_CASE("SIGINT on an idle proxy exits 0 promptly") {
  Stack s;
  require_echo(get(s.port(), "/echo"));
  auto start = Clock::now();
  s.proxy->process().signal(SIGINT);
  int code = s.proxy->process().wait_exit(6s);
  double took = std::chrono::duration<double>(Clock::now() - start).count();
  INFO("exited after " << took << " s");
  CHECK(code == 0);
  CHECK(took < 2.0);
}

}  // namespace it
