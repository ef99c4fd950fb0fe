// rampart-upstream on its own: checks the behaviour the proxy tests rely on (and the harness).
#include "fixtures.hpp"

#include <catch2/catch.hpp>

namespace it {

TEST_CASE("rampart-upstream echoes the request it received") {
  Upstream u("solo");
  Conn c(u.port());
  REQUIRE(c.ok());
  REQUIRE(c.send(request("POST", "/echo?a=b", "X-Test: one\r\n", "hello")));
  Response r = c.read_response();
  Echo e = require_echo(r);
  CHECK(r.header("x-upstream-name") == std::optional<std::string>("solo"));
  CHECK(e.method == "POST");
  CHECK(e.path == "/echo?a=b");
  CHECK(e.body_bytes == 5);
  CHECK(e.crc32 == crc32_hex("hello"));
  REQUIRE(e.headers.count("x-test") == 1);
  CHECK(e.headers.find("x-test")->second == "one");
  // Keep-alive: a second request on the same connection.
  REQUIRE(c.send(request("GET", "/file?size=10&chunked=1&chunk=3")));
  Response g = c.read_response();
  REQUIRE_RESPONSE(g);
  CHECK(g.chunked);
  CHECK(g.body == std::string("hello from rampart-upstream solo\n").substr(0, 10));
}

TEST_CASE("rampart-upstream counts connections and requests in /stats") {
  Upstream u("counted");
  auto before = upstream_stats(u);
  for (int i = 0; i < 3; ++i) REQUIRE(get(u.port(), "/file?size=1").status == 200);
  auto after = upstream_stats(u);
  REQUIRE(before.count("connections"));
  REQUIRE(after.count("requests"));
  CHECK(std::stoull(after["connections"]) - std::stoull(before["connections"]) == 4);
  CHECK(std::stoull(after["requests"]) - std::stoull(before["requests"]) == 3);  // /stats itself is not counted
}

TEST_CASE("harness: crc32 matches the reference value") {
  CHECK(crc32_hex("123456789") == "cbf43926");
  CHECK(crc32_update(crc32_update(0, "12345"), "6789") == 0xcbf43926u);
}

}  // namespace it
