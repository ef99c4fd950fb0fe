// Reload as a diff: listeners added and removed without touching the ones that stay, and
// the limits that need a config of their own (connect timeout, keepalive_requests).
#include "fixtures.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace it {

namespace {

const char* const two_listeners = R"(version: 1
workers: 2
listeners:
  - {name: http, address: "127.0.0.1:0"}
{{SECOND}}servers:
  - name: app
    hosts: ["*"]
    routes:
      - {name: ping, path: /ping, match: exact, respond: {status: 200, body: "{{BODY}}\n"}}
upstreams:
  - {name: unused, endpoints: ["127.0.0.1:9"]}
)";

}  // namespace

TEST_CASE("a reload adds and removes listeners and leaves the others and their connections alone") {
  Proxy p(subst(two_listeners, {{"SECOND", ""}, {"BODY", "one"}}));
  const std::uint16_t first = p.port("http");
  Conn kept(first);
  REQUIRE(kept.ok());
  REQUIRE(kept.send(request("GET", "/ping")));
  Response r = kept.read_response();
  REQUIRE_RESPONSE(r);
  CHECK(r.body == "one\n");

  // Add a second listener: it serves the new generation; the first keeps its port and the
  // open keep-alive connection keeps working.
  std::size_t mark = p.process().line_count();
  ReloadResult rr = p.reload(subst(two_listeners, {{"SECOND", "  - {name: admin2, address: \"127.0.0.1:0\"}\n"},
                                                   {"BODY", "two"}}));
  INFO(p.process().output());
  REQUIRE(rr.ok);
  p.process().set_cursor(mark);
  std::string line = p.process().wait_for_line(std::regex("listening name=admin2 address=127\\.0\\.0\\.1:[0-9]+"), 5s);
  const auto second = static_cast<std::uint16_t>(std::stoi(line.substr(line.rfind(':') + 1)));
  CHECK(second != first);
  Response via_second = fetch(second, request("GET", "/ping"));
  REQUIRE_RESPONSE(via_second);
  CHECK(via_second.body == "two\n");
  REQUIRE(kept.send(request("GET", "/ping")));
  r = kept.read_response();
  REQUIRE_RESPONSE(r);
  CHECK(r.body == "two\n");  // new requests on an old connection use the new generation

  // Remove it again: new connections to it are refused; the first listener is untouched.
  rr = p.reload(subst(two_listeners, {{"SECOND", ""}, {"BODY", "three"}}));
  REQUIRE(rr.ok);
  bool refused = false;
  for (int i = 0; i < 20 && !refused; ++i) {  // the close is posted to every worker; allow it a moment
    Conn c(second, 1s);
    refused = !c.ok();
    if (!refused) sleep_for(50ms);
  }
  CHECK(refused);
  REQUIRE(kept.send(request("GET", "/ping")));
  r = kept.read_response();
  REQUIRE_RESPONSE(r);
  CHECK(r.body == "three\n");
  CHECK(fetch(first, request("GET", "/ping")).body == "three\n");
}

TEST_CASE("a reload that cannot bind a new listener fails whole and keeps the old config") {
  // Occupy a port (without SO_REUSEPORT, so nobody else can bind it).
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(fd, 1) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  const int busy = ntohs(addr.sin_port);

  Proxy p(subst(two_listeners, {{"SECOND", ""}, {"BODY", "one"}}));
  ReloadResult rr = p.reload(subst(
      two_listeners,
      {{"SECOND", "  - {name: taken, address: \"127.0.0.1:" + std::to_string(busy) + "\"}\n"}, {"BODY", "two"}}));
  ::close(fd);
  INFO(p.process().output());
  CHECK_FALSE(rr.ok);
  CHECK(fetch(p.port("http"), request("GET", "/ping")).body == "one\n");
}

TEST_CASE("an upstream that accepts no connection within connect_timeout gives 503") {
  // A listener whose accept queue is full and never drained: further SYNs are dropped, so a
  // connect neither succeeds nor fails until the proxy's connect_timeout.
  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(lfd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(lfd, 0) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  const std::string blackhole = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  std::vector<Conn> fillers;
  for (int i = 0; i < 4; ++i) fillers.emplace_back(ntohs(addr.sin_port), 300ms);

  Stack s({{"EXTRA_ROUTES", "      - {name: hole, path: /hole/, upstream: hole}\n"},
           {"EXTRA_UPSTREAMS", "  - {name: hole, endpoints: [\"" + blackhole + "\"]}\n"}});
  auto start = Clock::now();
  Response r = get(s.port(), "/hole/x");
  double took = std::chrono::duration<double>(Clock::now() - start).count();
  ::close(lfd);
  REQUIRE_RESPONSE(r);
  CHECK(r.status == 503);
  CHECK(took >= 0.9);  // connect_timeout is 1s in the standard config
  CHECK(took < 3.0);
}

TEST_CASE("keepalive_requests bounds the requests served on one connection") {
  Stack s;
  ReloadResult rr = s.proxy->reload(s.config());
  REQUIRE(rr.ok);
  std::string cfg = s.config();
  const std::string key = "keepalive_timeout: 3s";
  cfg.replace(cfg.find(key), key.size(), key + ", keepalive_requests: 3");
  rr = s.proxy->reload(cfg);
  INFO(s.proxy->process().output());
  REQUIRE(rr.ok);
  Conn c(s.port());
  REQUIRE(c.ok());
  for (int i = 1; i <= 3; ++i) {
    REQUIRE(c.send(request("GET", "/ping")));
    Response r = c.read_response();
    REQUIRE_RESPONSE(r);
    CHECK(r.status == 200);
    CHECK(r.header("connection") == (i < 3 ? std::nullopt : std::optional<std::string>("close")));
  }
  CHECK(c.is_closed(2s));
}

}  // namespace it

namespace it {

namespace {
long cpu_ticks(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  // Fields after the command name (which may contain spaces) start after the last ')'.
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::string field;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stol(field);
    if (i == 15) stime = std::stol(field);
  }
  return utime + stime;
}
}  // namespace

TEST_CASE("keep-alive connections the client closed cost no CPU afterwards") {
  // Parked connections (idle after their first exchange) wake up when the client closes; that
  // wake-up must end the session, not park it again in a loop until the keep-alive timeout.
  Proxy p(subst(two_listeners, {{"SECOND", ""}, {"BODY", "one"}}));
  for (int i = 0; i < 20; ++i) {
    Conn c(p.port("http"));
    REQUIRE(c.ok());
    REQUIRE(c.send(request("GET", "/ping")));
    Response r = c.read_response();
    REQUIRE_RESPONSE(r);
  }  // each connection closes here, while the proxy has it parked
  sleep_for(300ms);
  const long before = cpu_ticks(p.process().pid());
  sleep_for(1s);
  const long used = cpu_ticks(p.process().pid()) - before;
  INFO("CPU ticks (1/100 s) used in one idle second: " << used);
  CHECK(used <= 5);
}

}  // namespace it
