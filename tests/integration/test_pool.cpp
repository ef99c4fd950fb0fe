// Upstream keep-alive pooling: connections are reused, and a pooled connection the upstream has
// closed is never surfaced to the client as an error.
#include "fixtures.hpp"

#include <catch2/catch.hpp>

#include <signal.h>

namespace it {
namespace {

std::uint64_t stat(const std::map<std::string, std::string>& stats, const std::string& key) {
  auto it = stats.find(key);
  INFO("stats field " << key);
  REQUIRE(it != stats.end());
  return std::stoull(it->second);
}

}  // namespace

TEST_CASE("upstream connections are pooled across client connections") {
  Stack s;
  auto before = upstream_stats(s.web);
  const int requests = 200;
  int failures = 0;
  for (int i = 0; i < requests; ++i) {
    Response r = get(s.port(), "/echo?i=" + std::to_string(i));  // a new client connection each
    if (!r.ok || r.status != 200) {
      ++failures;
      UNSCOPED_INFO("request " << i << ": " << r.status << " " << r.error);
    }
  }
  CHECK(failures == 0);
  auto after = upstream_stats(s.web);
  std::uint64_t conns = stat(after, "connections") - stat(before, "connections");
  std::uint64_t reqs = stat(after, "requests") - stat(before, "requests");
  INFO("upstream saw " << conns << " connections for " << reqs << " requests");
  CHECK(reqs >= static_cast<std::uint64_t>(requests));
  CHECK(conns < 20);
}

TEST_CASE("a pooled connection closed by the upstream is retried, never an error") {
  Stack s;
  int failures = 0;
  for (int i = 0; i < 50; ++i) {
    // Every other request makes the upstream close its connection after answering, so the next
    // request may pick a pooled connection that is already dead.
    std::string target = (i % 2 == 0) ? "/echo?close=1&i=" + std::to_string(i) : "/echo?i=" + std::to_string(i);
    Response r = get(s.port(), target);
    if (!r.ok || r.status != 200) {
      ++failures;
      UNSCOPED_INFO("request " << i << " (" << target << "): status " << r.status << " " << r.error);
    }
    // Give the upstream's FIN time to arrive, so the dead connection really sits in the pool.
    if (i % 2 == 0) sleep_for(5ms);
  }
  CHECK(failures == 0);

  // The same on one client keep-alive connection.
  Conn c(s.port());
  REQUIRE(c.ok());
  for (int i = 0; i < 20; ++i) {
    std::string target = (i % 2 == 0) ? "/echo?close=1" : "/echo";
    REQUIRE(c.send(request("GET", target)));
    Response r = c.read_response();
    INFO("request " << i << ": " << r.error);
    REQUIRE(r.ok);
    CHECK(r.status == 200);
    // The upstream's Connection: close is hop-by-hop: it must not close the client connection.
    if (r.header("connection")) CHECK(r.header("connection")->find("close") == std::string::npos);
    sleep_for(5ms);
  }
}

TEST_CASE("pooled connections to a restarted upstream are retried, never an error") {
  Stack s;
  // Fill the pools (both workers) with idle connections to the web upstream.
  for (int i = 0; i < 20; ++i) require_echo(get(s.port(), "/echo?warm=" + std::to_string(i)));
  // Replace the upstream process: every pooled connection is now dead without any warning
  // in the protocol, while the same address accepts new connections.
  const std::uint16_t port = s.web.port();
  s.web.process().signal(SIGKILL);
  s.web.process().wait_exit(5s);
  Upstream replacement("web2", port);
  int failures = 0;
  for (int i = 0; i < 30; ++i) {
    Response r = get(s.port(), "/echo?after=" + std::to_string(i));
    if (!r.ok || r.status != 200) {
      ++failures;
      UNSCOPED_INFO("request " << i << ": status " << r.status << " " << r.error);
      continue;
    }
    CHECK(r.header("x-upstream-name") == std::optional<std::string>("web2"));
  }
  CHECK(failures == 0);
}

}  // namespace it
