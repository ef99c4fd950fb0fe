// The admin server over real sockets: endpoints, framing, keep-alive, errors, limits, shutdown.
#include "client.hpp"
#include "stub.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <thread>
#include <vector>

using namespace rampart;
using namespace rampart::admin;
using namespace rampart::admin::test;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST_CASE("admin endpoints answer with status, body and content type", "[admin][server]") {
  Stub stub;
  auto server = start_server(stub);
  REQUIRE(server->port() != 0);
  Client c(server->port());
  REQUIRE(c.connected());

  struct Case {
    const char* target;
    int status;
    std::string body;
    const char* type;
  };
  const std::vector<Case> cases = {
      {"/livez", 200, "alive\n", "text/plain; charset=utf-8"},
      {"/readyz", 200, "ready\n", "text/plain; charset=utf-8"},
      {"/healthz", 200, "ready\n", "text/plain; charset=utf-8"},
      {"/metrics", 200, kMetrics, "text/plain; version=0.0.4; charset=utf-8"},
      {"/config", 200, kConfig, "application/yaml"},
      {"/upstreams", 200, kUpstreams, "application/json"},
      {"/readyz?verbose=1&x", 200, "ready\n", "text/plain; charset=utf-8"},
      {"/nope", 404, "not found\n", "text/plain; charset=utf-8"},
  };
  for (const auto& k : cases) {
    INFO(k.target);
    auto r = c.request(get(k.target));  // all on one keep-alive connection
    REQUIRE(r);
    CHECK(r->status == k.status);
    CHECK(r->body == k.body);
    CHECK(r->header("content-type") == k.type);
    CHECK(r->header("content-length") == std::to_string(k.body.size()));
    CHECK(r->header("connection").empty());
  }
  CHECK(stub.last_thread() != std::this_thread::get_id());  // handlers ran on the admin thread
  CHECK(stub.last_thread() != std::thread::id());
}

TEST_CASE("wrong methods get 405 with Allow", "[admin][server]") {
  Stub stub;
  auto server = start_server(stub);
  Client c(server->port());
  for (const char* m : {"POST", "PUT", "DELETE"}) {
    for (const char* path : {"/metrics", "/livez", "/readyz", "/healthz", "/config", "/upstreams"}) {
      INFO(m << " " << path);
      auto r = c.request(request(m, path, "Content-Length: 0\r\n"));
      REQUIRE(r);
      CHECK(r->status == 405);
      CHECK(r->header("allow") == "GET, HEAD");
    }
  }
  auto r = c.request(get("/-/reload"));
  REQUIRE(r);
  CHECK(r->status == 405);
  CHECK(r->header("allow") == "POST");
  CHECK(stub.reloads == 0);
  r = c.request(request("POST", "/unknown", "Content-Length: 0\r\n"));
  REQUIRE(r);
  CHECK(r->status == 404);
  CHECK(r->header("allow").empty());
}

TEST_CASE("HEAD gets the GET headers and no body", "[admin][server]") {
  Stub stub;
  auto server = start_server(stub);
  Client c(server->port());
  auto r = c.request(request("HEAD", "/metrics"), true);
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->header("content-length") == std::to_string(std::string(kMetrics).size()));
  CHECK(r->header("content-type") == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(r->body.empty());
  // Had a body been sent, it would be read as the start of this response and break its parse.
  r = c.request(get("/livez"));
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "alive\n");
}

TEST_CASE("keep-alive, pipelining, Connection: close and HTTP/1.0", "[admin][server]") {
  Stub stub;
  auto server = start_server(stub);

  SECTION("two requests on one connection, then a pipelined pair") {
    Client c(server->port());
    auto a = c.request(get("/livez"));
    auto b = c.request(get("/readyz"));
    REQUIRE((a && b));
    CHECK(a->body == "alive\n");
    CHECK(b->body == "ready\n");
    REQUIRE(c.send(get("/config") + get("/upstreams")));
    auto x = c.read_response();
    auto y = c.read_response();
    REQUIRE((x && y));
    CHECK(x->body == kConfig);
    CHECK(y->body == kUpstreams);
  }
  SECTION("Connection: close is honoured") {
    Client c(server->port());
    auto r = c.request(get("/livez", "Connection: close\r\n"));
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->header("connection") == "close");
    CHECK(c.closed_by_peer());
  }
  SECTION("HTTP/1.0 closes unless it asks for keep-alive") {
    Client c(server->port());
    auto r = c.request("GET /livez HTTP/1.0\r\n\r\n");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->header("connection") == "close");
    CHECK(c.closed_by_peer());
    Client k(server->port());
    r = k.request("GET /livez HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    REQUIRE(r);
    CHECK(r->header("connection").empty());
    r = k.request("GET /readyz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    REQUIRE(r);
    CHECK(r->body == "ready\n");
  }
}

TEST_CASE("malformed requests get the parser's status and the connection closes", "[admin][server]") {
  Stub stub;
  auto server = start_server(stub);
  struct Case {
    const char* name;
    std::string bytes;
    int status;
  };
  const std::vector<Case> cases = {
      {"bare LF", "GET /livez HTTP/1.1\r\nHost: a\nX: 1\r\n\r\n", 400},
      {"missing Host", "GET /livez HTTP/1.1\r\n\r\n", 400},
      {"garbage", "\x01\x02\x03 nonsense\r\n\r\n", 400},
      {"obs-fold", "GET /livez HTTP/1.1\r\nHost: a\r\nX: 1\r\n  2\r\n\r\n", 400},
      {"HTTP/2.0", "GET /livez HTTP/2.0\r\nHost: a\r\n\r\n", 505},
      {"huge request line", "GET /" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n", 414},
  };
  for (const auto& k : cases) {
    INFO(k.name);
    Client c(server->port());
    auto r = c.request(k.bytes);
    REQUIRE(r);
    CHECK(r->status == k.status);
    CHECK(r->header("connection") == "close");
    CHECK(c.closed_by_peer());
  }
  // A good request after the bad one, on the same connection, is never answered.
  Client c(server->port());
  auto r = c.request("GET /livez HTTP/1.1\r\nHost: a\nX: 1\r\n\r\n" + get("/livez"));
  REQUIRE(r);
  CHECK(r->status == 400);
  CHECK(c.closed_by_peer());
}

TEST_CASE("POST /-/reload reports success with 200 and failure with 500", "[admin][server]") {
  Stub stub;
  auto server = start_server(stub);
  Client c(server->port());
  auto r = c.request(request("POST", "/-/reload", "Content-Length: 0\r\n"));
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "reload ok generation=2\n");
  CHECK(stub.reloads == 1);
  CHECK(stub.last_thread() != std::this_thread::get_id());

  stub.reload_ok = false;
  r = c.request(request("POST", "/-/reload", "Content-Length: 5\r\n") + "hello");  // body read and dropped
  REQUIRE(r);
  CHECK(r->status == 500);
  CHECK(r->body == "config.yaml:3:5: routes: expected a sequence\n");
  CHECK(stub.reloads == 2);

  stub.reload_ok = true;
  r = c.request(request("POST", "/-/reload", "Transfer-Encoding: chunked\r\n") + "3\r\nabc\r\n0\r\n\r\n");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "reload ok generation=4\n");
  // The connection is still in step after both bodies.
  r = c.request(get("/livez"));
  REQUIRE(r);
  CHECK(r->body == "alive\n");

  SECTION("Expect: 100-continue gets its interim response") {
    REQUIRE(c.send(request("POST", "/-/reload", "Content-Length: 2\r\nExpect: 100-continue\r\n")));
    auto interim = c.read_response();
    REQUIRE(interim);
    CHECK(interim->status == 100);
    REQUIRE(c.send("{}"));
    r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  SECTION("an oversized body is refused with 413 and the connection closed") {
    r = c.request(request("POST", "/-/reload", "Content-Length: 99999999\r\n"));
    REQUIRE(r);
    CHECK(r->status == 413);
    CHECK(c.closed_by_peer());
    CHECK(stub.reloads == 3);
  }
}

TEST_CASE("readiness follows the handler from one request to the next", "[admin][server]") {
  Stub stub;
  auto server = start_server(stub);
  Client c(server->port());
  for (bool ready : {true, false, true, false}) {
    stub.ready = ready;
    for (const char* path : {"/readyz", "/healthz"}) {
      auto r = c.request(get(path));
      REQUIRE(r);
      CHECK(r->status == (ready ? 200 : 503));
      CHECK(r->body == (ready ? "ready\n" : "not ready\n"));
    }
    auto live = c.request(get("/livez"));
    REQUIRE(live);
    CHECK(live->status == 200);
  }
}

TEST_CASE("a request head that does not arrive in time closes the connection", "[admin][server]") {
  Stub stub;
  ServerLimits limits;
  limits.header_timeout = 300ms;
  auto server = start_server(stub, limits);

  Client slow(server->port());
  REQUIRE(slow.send("GET /livez HTTP/1.1\r\nHo"));
  const auto t0 = Clock::now();
  CHECK(slow.closed_by_peer());
  CHECK(Clock::now() - t0 < 2s);

  Client idle(server->port());  // keep-alive idleness counts too
  REQUIRE(idle.request(get("/livez")));
  CHECK(idle.closed_by_peer());

  Client fresh(server->port());  // and the server still serves
  auto r = fresh.request(get("/livez"));
  REQUIRE(r);
  CHECK(r->status == 200);
}

TEST_CASE("connections over the cap get 503 and a slot frees when one closes", "[admin][server]") {
  Stub stub;
  ServerLimits limits;
  limits.max_connections = 2;
  auto server = start_server(stub, limits);
  auto a = std::make_unique<Client>(server->port());
  Client b(server->port());
  REQUIRE(a->request(get("/livez")));  // both are accepted and being served
  REQUIRE(b.request(get("/livez")));

  Client over(server->port());
  auto r = over.read_response();
  REQUIRE(r);
  CHECK(r->status == 503);
  CHECK(r->header("connection") == "close");

  a.reset();
  bool served = false;
  for (int i = 0; i < 50 && !served; ++i) {  // the server notices the close asynchronously
    Client again(server->port());
    auto x = again.request(get("/livez"));
    served = x && x->status == 200;
    if (!served) std::this_thread::sleep_for(20ms);
  }
  CHECK(served);
}

TEST_CASE("the destructor returns promptly with idle and half-sent connections open", "[admin][server]") {
  Stub stub;
  auto server = start_server(stub);
  const std::uint16_t port = server->port();
  Client idle(port);
  REQUIRE(idle.request(get("/livez")));
  Client partial(port);
  REQUIRE(partial.send("GET /metrics HTTP/1.1\r\n"));
  Client silent(port);
  std::this_thread::sleep_for(50ms);  // let the server accept them all

  const auto t0 = Clock::now();
  server.reset();
  CHECK(Clock::now() - t0 < 1s);
  CHECK(idle.closed_by_peer());
  CHECK(partial.closed_by_peer());
  CHECK(silent.closed_by_peer());
  Client late(port);
  CHECK_FALSE(late.connected());
}

TEST_CASE("binding: port 0, SO_REUSEPORT sharing, and a refused address", "[admin][server]") {
  Stub stub;
  std::string error;
  auto first = Server::start(core::HostPort{"127.0.0.1", 0}, stub.handlers(), error);
  REQUIRE(first);
  // A second process of a binary upgrade binds the same admin port while the first runs.
  auto second = Server::start(core::HostPort{"127.0.0.1", first->port()}, stub.handlers(), error);
  REQUIRE(second);
  CHECK(second->port() == first->port());
  first.reset();
  Client c(second->port());
  auto r = c.request(get("/livez"));
  REQUIRE(r);
  CHECK(r->status == 200);

  // A port held by a socket without SO_REUSEPORT cannot be shared.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(fd, 4) == 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  error.clear();
  auto taken = Server::start(core::HostPort{"127.0.0.1", ntohs(a.sin_port)}, stub.handlers(), error);
  CHECK_FALSE(taken);
  CHECK(error.find("bind") != std::string::npos);
  ::close(fd);

  error.clear();
  auto unresolvable = Server::start(core::HostPort{"no-such-host.invalid", 0}, stub.handlers(), error);
  CHECK_FALSE(unresolvable);
  CHECK_FALSE(error.empty());
}
