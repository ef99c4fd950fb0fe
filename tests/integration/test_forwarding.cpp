// Requests forwarded through rampart to rampart-upstream: headers, rewriting, balancing,
// keep-alive, pipelining, HEAD, 100-continue, upgrades and chunked bodies.
#include "fixtures.hpp"

#include <catch2/catch.hpp>

#include <random>

namespace it {
namespace {

// The plain body rampart-upstream NAME sends for ?size=N.
std::string plain_body(const std::string& name, std::size_t n) {
  std::string body = "hello from rampart-upstream " + name + "\n";
  if (body.size() < n) body.append(n - body.size(), 'x');
  body.resize(n);
  return body;
}

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xFF);
  return s;
}

std::string hex(std::size_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%zx", n);
  return buf;
}

}  // namespace

TEST_CASE("a GET reaches the upstream with forwarding headers and header ops applied") {
  Stack s;
  Response r = get(s.port(), "/echo?x=1", "X-Custom: abc\r\n", "www.example.test");
  Echo e = require_echo(r);
  INFO(r.body);
  CHECK(e.method == "GET");
  CHECK(e.path == "/echo?x=1");
  CHECK(r.header("x-upstream-name") == std::optional<std::string>("web"));
  // Forwarding headers added by the proxy.
  CHECK(e.headers.count("x-forwarded-for") == 1);
  CHECK(e.headers.find("x-forwarded-for")->second == "127.0.0.1");
  CHECK(e.headers.count("x-forwarded-proto") == 1);
  CHECK(e.headers.find("x-forwarded-proto")->second == "http");
  REQUIRE(e.headers.count("x-forwarded-host") == 1);
  CHECK(e.headers.find("x-forwarded-host")->second == "www.example.test");
  // A request id is generated, sent upstream and returned to the client.
  REQUIRE(e.headers.count("x-request-id") == 1);
  std::string id = e.headers.find("x-request-id")->second;
  CHECK(id.size() >= 8);
  CHECK(r.header("x-request-id") == std::optional<std::string>(id));
  // Client headers pass; the route's request and response header ops apply.
  REQUIRE(e.headers.count("x-custom") == 1);
  CHECK(e.headers.find("x-custom")->second == "abc");
  REQUIRE(e.headers.count("x-route") == 1);
  CHECK(e.headers.find("x-route")->second == "web");
  CHECK(r.header("x-served-by") == std::optional<std::string>("rampart"));

  // `set` replaces what the client or the upstream sent, it does not add a second field.
  Response over = get(s.port(), "/echo?header=X-Served-By:upstream", "X-Route: evil\r\n");
  Echo eo = require_echo(over);
  CHECK(eo.headers.count("x-route") == 1);
  CHECK(eo.headers.find("x-route")->second == "web");
  CHECK(over.header_count("x-served-by") == 1);
  CHECK(over.header("x-served-by") == std::optional<std::string>("rampart"));

  // Two requests get two different ids.
  Response r2 = get(s.port(), "/echo");
  Echo e2 = require_echo(r2);
  REQUIRE(e2.headers.count("x-request-id") == 1);
  CHECK(e2.headers.find("x-request-id")->second != id);
}

TEST_CASE("rewrite_prefix replaces the matched prefix before forwarding") {
  Stack s;
  Response r = get(s.port(), "/api/echo?q=1");
  Echo e = require_echo(r);
  CHECK(e.path == "/echo?q=1");
  auto name = r.header("x-upstream-name");
  REQUIRE(name);
  CHECK((*name == "api1" || *name == "api2"));
  // The api route does not carry the web route's header ops.
  CHECK(e.headers.count("x-route") == 0);
  CHECK(!r.header("x-served-by"));
}

TEST_CASE("round robin alternates between the two endpoints of a group") {
  Stack s;
  Conn c(s.port());
  REQUIRE(c.ok());
  std::vector<std::string> names;
  for (int i = 0; i < 6; ++i) {
    REQUIRE(c.send(request("GET", "/api/echo?i=" + std::to_string(i))));
    Response r = c.read_response();
    REQUIRE_RESPONSE(r);
    REQUIRE(r.status == 200);
    auto name = r.header("x-upstream-name");
    REQUIRE(name);
    names.push_back(*name);
  }
  for (std::size_t i = 0; i < names.size(); ++i) {
    INFO("request " << i << " went to " << names[i]);
    CHECK((names[i] == "api1" || names[i] == "api2"));
    if (i > 0) CHECK(names[i] != names[i - 1]);
  }
}

TEST_CASE("keep-alive with three pipelined requests answers them in order") {
  Stack s;
  Conn c(s.port());
  REQUIRE(c.ok());
  std::string batch = request("GET", "/echo?n=1") + request("GET", "/echo?n=2") +
                      request("POST", "/echo?n=3", "", "abc");
  REQUIRE(c.send(batch));  // one write
  for (int n = 1; n <= 3; ++n) {
    Response r = c.read_response();
    Echo e = require_echo(r);
    CHECK(e.path == "/echo?n=" + std::to_string(n));
    CHECK(e.method == (n == 3 ? "POST" : "GET"));
    if (n == 3) CHECK(e.body_bytes == 3);
  }
  // Still open and usable afterwards.
  REQUIRE(c.send(request("GET", "/echo?n=4")));
  Echo e4 = require_echo(c.read_response());
  CHECK(e4.path == "/echo?n=4");
}

TEST_CASE("pipelined local and proxied responses keep their order") {
  Stack s;
  Conn c(s.port());
  REQUIRE(c.ok());
  REQUIRE(c.send(request("GET", "/echo?delay=300") + request("GET", "/ping") + request("GET", "/old") +
                 request("GET", "/file?size=70000") + request("GET", "/ping")));
  Response slow = c.read_response();
  CHECK(require_echo(slow).path == "/echo?delay=300");
  Response ping = c.read_response();
  REQUIRE_RESPONSE(ping);
  CHECK(ping.body == "pong\n");
  Response old = c.read_response();
  REQUIRE_RESPONSE(old);
  CHECK(old.status == 301);
  Response file = c.read_response();
  REQUIRE_RESPONSE(file);
  CHECK(file.body == plain_body("web", 70000));
  Response ping2 = c.read_response();
  REQUIRE_RESPONSE(ping2);
  CHECK(ping2.body == "pong\n");
}

TEST_CASE("an HTTP/1.0 client never gets a chunked response") {
  Stack s;
  Conn c(s.port());
  REQUIRE(c.ok());
  REQUIRE(c.send("GET /file?size=5000&chunked=1 HTTP/1.0\r\nHost: test.local\r\n\r\n"));
  Response r = c.read_response();
  INFO(r.raw_head);
  REQUIRE_RESPONSE(r);
  CHECK(r.status == 200);
  CHECK_FALSE(r.chunked);
  CHECK(r.body == plain_body("web", 5000));
  // HTTP/1.0 without keep-alive: the connection ends with the response.
  CHECK(c.is_closed(3s));
}

TEST_CASE("an absolute-form request target is accepted and sent upstream in origin-form") {
  Stack s;
  Response r = fetch(s.port(), "GET http://test.local/echo?abs=1 HTTP/1.1\r\nHost: test.local\r\n\r\n");
  Echo e = require_echo(r);
  CHECK(e.path == "/echo?abs=1");
}

TEST_CASE("a client that disconnects mid-response does not disturb later requests") {
  Stack s;
  for (int i = 0; i < 3; ++i) {
    Conn c(s.port());
    REQUIRE(c.ok());
    REQUIRE(c.send(request("GET", "/file?size=50000000")));
    auto start = c.read_exact(100000, 5s);  // head and the first part of the body
    REQUIRE(start);
    c.close();  // abort with most of the body unread
  }
  for (int i = 0; i < 10; ++i) {
    Response r = get(s.port(), "/file?size=2000");
    INFO("request " << i << ": " << r.error);
    REQUIRE_RESPONSE(r);
    CHECK(r.status == 200);
    CHECK(r.body == plain_body("web", 2000));
  }
  CHECK(s.proxy->process().running());
}

TEST_CASE("HEAD returns the headers with Content-Length and no body") {
  Stack s;
  Conn c(s.port());
  REQUIRE(c.ok());
  REQUIRE(c.send(request("HEAD", "/file?size=12345")));
  ReadOptions head;
  head.head = true;
  Response r = c.read_response(5s, head);
  REQUIRE_RESPONSE(r);
  CHECK(r.status == 200);
  CHECK(r.header("content-length") == std::optional<std::string>("12345"));
  CHECK(r.body.empty());
  // No stray body bytes: the next response on the connection parses cleanly.
  REQUIRE(c.send(request("GET", "/file?size=100")));
  Response g = c.read_response();
  REQUIRE_RESPONSE(g);
  CHECK(g.status == 200);
  CHECK(g.body == plain_body("web", 100));
}

TEST_CASE("Expect: 100-continue gets 100 Continue before the body is sent") {
  Stack s;
  Conn c(s.port());
  REQUIRE(c.ok());
  const std::string body = "hello world";
  REQUIRE(c.send("POST /echo HTTP/1.1\r\nHost: test.local\r\nExpect: 100-continue\r\n"
                 "Content-Length: 11\r\n\r\n"));
  ReadOptions interim;
  interim.return_interim = true;
  Response cont = c.read_response(3s, interim);
  REQUIRE_RESPONSE(cont);
  REQUIRE(cont.status == 100);
  REQUIRE(c.send(body));
  Response r = c.read_response();
  Echo e = require_echo(r);
  CHECK(e.method == "POST");
  CHECK(e.body_bytes == body.size());
  if (!e.crc32.empty()) CHECK(e.crc32 == crc32_hex(body));
}

TEST_CASE("an Upgrade is tunnelled both ways after 101") {
  Stack s;
  Conn c(s.port());
  REQUIRE(c.ok());
  REQUIRE(c.send("GET /ws HTTP/1.1\r\nHost: test.local\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"));
  Response r = c.read_response();
  REQUIRE_RESPONSE(r);
  REQUIRE(r.status == 101);
  CHECK(c.buffered().empty());
  REQUIRE(c.send("hello tunnel"));
  auto back = c.read_exact(12, 3s);
  INFO(c.error());
  REQUIRE(back);
  CHECK(*back == "hello tunnel");
  // A larger binary message, several reads' worth, in pieces echoed one by one.
  std::string blob = random_bytes(200000, 7);
  std::string echoed;
  for (std::size_t pos = 0; pos < blob.size(); pos += 16384) {
    std::string piece = blob.substr(pos, 16384);
    REQUIRE(c.send(piece));
    auto got = c.read_exact(piece.size(), 5s);
    INFO("at offset " << pos << ": " << c.error());
    REQUIRE(got);
    echoed += *got;
  }
  CHECK(crc32_hex(echoed) == crc32_hex(blob));
  // Closing our side ends the tunnel.
  c.shutdown_write();
  CHECK(c.is_closed(5s));
}

TEST_CASE("a chunked request body reaches the upstream intact") {
  Stack s;
  std::string body = random_bytes(150000, 42);
  std::string wire;
  std::size_t pos = 0;
  for (std::size_t piece : {1u, 70000u, 4095u}) {
    wire += hex(piece) + (piece == 1 ? ";ext=1" : "") + "\r\n" + body.substr(pos, piece) + "\r\n";
    pos += piece;
  }
  wire += hex(body.size() - pos) + "\r\n" + body.substr(pos) + "\r\n0\r\nX-Trailer: t\r\n\r\n";
  Conn c(s.port());
  REQUIRE(c.ok());
  REQUIRE(c.send("POST /echo HTTP/1.1\r\nHost: test.local\r\nTransfer-Encoding: chunked\r\n\r\n" + wire));
  Echo e = require_echo(c.read_response());
  CHECK(e.body_bytes == body.size());
  CHECK(e.crc32 == crc32_hex(body));
  // The connection stays usable.
  REQUIRE(c.send(request("GET", "/echo?after=1")));
  CHECK(require_echo(c.read_response()).path == "/echo?after=1");
}

TEST_CASE("a chunked response passes through intact") {
  Stack s;
  Conn c(s.port());
  REQUIRE(c.ok());
  REQUIRE(c.send(request("GET", "/file?size=300000&chunked=1&chunk=7000")));
  Response r = c.read_response();
  REQUIRE_RESPONSE(r);
  CHECK(r.status == 200);
  CHECK(r.chunked);
  CHECK(r.body.size() == 300000);
  CHECK(r.body == plain_body("web", 300000));
  // Followed by a Content-Length response on the same connection.
  REQUIRE(c.send(request("GET", "/file?size=1000")));
  Response g = c.read_response();
  REQUIRE_RESPONSE(g);
  CHECK(g.body == plain_body("web", 1000));
}

TEST_CASE("hop-by-hop headers are not forwarded") {
  Stack s;
  Conn c(s.port());
  REQUIRE(c.ok());
  REQUIRE(c.send(request("GET", "/echo",
                         "Connection: close, x-secret\r\nX-Secret: 1\r\nKeep-Alive: 5\r\n"
                         "Proxy-Connection: keep-alive\r\nX-Kept: yes\r\n")));
  Response r = c.read_response();
  Echo e = require_echo(r);
  CHECK(e.headers.count("x-secret") == 0);
  CHECK(e.headers.count("keep-alive") == 0);
  CHECK(e.headers.count("proxy-connection") == 0);
  // Whatever Connection header the proxy uses for its own upstream connection, the client's
  // tokens must not leak into it.
  for (auto [it, end] = e.headers.equal_range("connection"); it != end; ++it) {
    INFO("upstream saw Connection: " << it->second);
    CHECK(it->second.find("x-secret") == std::string::npos);
    CHECK(it->second.find("close") == std::string::npos);
  }
  CHECK(e.headers.count("x-kept") == 1);
  // The client asked to close: the proxy answers and closes.
  CHECK(c.is_closed(3s));
}

TEST_CASE("X-Forwarded-For and X-Request-ID from an untrusted peer are replaced") {
  Stack s;
  Response r = get(s.port(), "/echo", "X-Forwarded-For: 1.2.3.4\r\nX-Request-ID: attacker-chosen\r\n");
  Echo e = require_echo(r);
  REQUIRE(e.headers.count("x-forwarded-for") == 1);
  CHECK(e.headers.find("x-forwarded-for")->second == "127.0.0.1");
  REQUIRE(e.headers.count("x-request-id") == 1);
  std::string id = e.headers.find("x-request-id")->second;
  CHECK(id != "attacker-chosen");
  CHECK(!id.empty());
  CHECK(r.header("x-request-id") == std::optional<std::string>(id));
}

TEST_CASE("X-Forwarded-For and X-Request-ID from a trusted proxy are kept") {
  Stack s;
  Conn c(s.port(), 2s, "127.0.0.2");  // trusted_proxies: 127.0.0.2/32
  INFO(c.error());
  REQUIRE(c.ok());
  REQUIRE(c.send(request("GET", "/echo", "X-Forwarded-For: 1.2.3.4\r\nX-Request-ID: from-edge-1\r\n")));
  Echo e = require_echo(c.read_response());
  REQUIRE(e.headers.count("x-forwarded-for") == 1);
  CHECK(e.headers.find("x-forwarded-for")->second == "1.2.3.4, 127.0.0.2");
  REQUIRE(e.headers.count("x-request-id") == 1);
  CHECK(e.headers.find("x-request-id")->second == "from-edge-1");
}

TEST_CASE("redirect and direct-response routes answer without an upstream") {
  Stack s;
  Response old = get(s.port(), "/old");
  REQUIRE_RESPONSE(old);
  CHECK(old.status == 301);
  auto location = old.header("location");
  REQUIRE(location);
  CHECK(std::regex_search(*location, std::regex("/new$")));
  CHECK(!old.header("x-upstream-name"));

  Response ping = get(s.port(), "/ping");
  REQUIRE_RESPONSE(ping);
  CHECK(ping.status == 200);
  CHECK(ping.body == "pong\n");
  auto type = ping.header("content-type");
  REQUIRE(type);
  CHECK(type->rfind("text/plain", 0) == 0);
  CHECK(!ping.header("x-upstream-name"));

  // Exact routes do not match longer paths: those fall through to the catch-all upstream.
  Response longer = get(s.port(), "/old/x");
  REQUIRE_RESPONSE(longer);
  CHECK(longer.status == 200);
  CHECK(longer.header("x-upstream-name") == std::optional<std::string>("web"));
}

TEST_CASE("routes match on methods, headers and regex paths, servers on wildcard hosts") {
  Stack s;
  auto body_of = [&](const std::string& raw) {
    Response r = fetch(s.port(), raw);
    INFO(r.error);
    REQUIRE(r.ok);
    return r.body;
  };
  CHECK(body_of(request("GET", "/canary", "X-Canary: 1\r\n")) == "canary\n");
  CHECK(body_of(request("GET", "/canary", "X-Canary: 2\r\n")) != "canary\n");
  CHECK(body_of(request("GET", "/canary")) != "canary\n");
  CHECK(body_of(request("GET", "/getonly")) == "get\n");
  CHECK(body_of(request("POST", "/getonly", "", "x")) != "get\n");
  CHECK(body_of(request("GET", "/re/123")) == "regex\n");
  CHECK(body_of(request("GET", "/re/12a")) != "regex\n");
  CHECK(body_of(request("GET", "/anything", "", "", "a.wild.example")) == "wild\n");
  CHECK(body_of(request("GET", "/anything", "", "", "b.a.wild.example")) == "wild\n");
  CHECK(body_of(request("GET", "/anything", "", "", "wild.example.net")) != "wild\n");
}

TEST_CASE("404 when the matching server has no route for the path") {
  Stack s;
  Response miss = get(s.port(), "/nothere", "", "only.example");
  REQUIRE_RESPONSE(miss);
  CHECK(miss.status == 404);
  CHECK(!miss.header("x-upstream-name"));
  Response hit = get(s.port(), "/here", "", "only.example");
  REQUIRE_RESPONSE(hit);
  CHECK(hit.status == 200);
  CHECK(hit.body == "here\n");
  // Host matching ignores case and the port.
  Response upper = get(s.port(), "/here", "", "Only.Example:8080");
  REQUIRE_RESPONSE(upper);
  CHECK(upper.status == 200);
  CHECK(upper.body == "here\n");
  // Unknown hosts go to the default (first) server.
  Response other = get(s.port(), "/here", "", "other.example");
  REQUIRE_RESPONSE(other);
  CHECK(other.header("x-upstream-name") == std::optional<std::string>("web"));
}

}  // namespace it
