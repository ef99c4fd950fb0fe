// Request size limits and downstream timeouts.
#include "fixtures.hpp"

#include <catch2/catch.hpp>

#include <poll.h>

#include <regex>
#include <string>

namespace it {
namespace {

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Reads until the proxy closes the connection and checks that it did so at the header deadline
// (the stack's client_header_timeout, 2 s, counted from `start`, with slack); returns what the
// proxy sent before closing.
std::string read_until_header_deadline(Conn& c, Clock::time_point start) {
  bool closed = false;
  std::string data = c.read_until_close(6s, &closed);
  const double took = seconds_since(start);
  INFO("closed after " << took << " s");
  CHECK(closed);
  CHECK(took >= 1.5);
  CHECK(took <= 3.5);
  return data;
}

// A client that missed a deadline in the middle of a request (part of a head, part of a body)
// gets exactly one response before the close: a 408 that says it closes, nothing after it.
void check_408_then_close(const std::string& data) {
  INFO("received before close: " << data.substr(0, 500));
  REQUIRE(data.rfind("HTTP/1.1 408 ", 0) == 0);
  const std::size_t end = data.find("\r\n\r\n");
  REQUIRE(end != std::string::npos);
  const std::string head = data.substr(0, end + 2);
  CHECK(std::regex_search(head, std::regex("\r\nconnection: *close\r\n", std::regex::icase)));
  std::smatch m;
  REQUIRE(std::regex_search(head, m, std::regex("\r\ncontent-length: *([0-9]+)\r\n", std::regex::icase)));
  CHECK(data.size() == end + 4 + std::stoul(m[1]));  // the body, then no second response
}

// Sends a chunked body of `total` bytes in 64 KiB chunks, stopping early as soon as the proxy
// answers (so the answer is not lost to a reset caused by unread data).
void send_chunked_until_answered(Conn& c, std::size_t total) {
  static const std::string piece(64 * 1024, 'b');
  std::size_t sent = 0;
  while (sent < total) {
    std::string chunk = "10000\r\n" + piece + "\r\n";
    if (!c.send(chunk, 5s)) return;
    sent += piece.size();
    pollfd p{c.fd(), POLLIN, 0};
    if (::poll(&p, 1, 30) > 0) return;
  }
  c.send("0\r\n\r\n", 5s);
}

}  // namespace

TEST_CASE("a request line longer than max_request_line gets 414") {
  Stack s;
  std::string target = "/" + std::string(9000, 'a');
  Response r = fetch(s.port(), request("GET", target));
  REQUIRE_RESPONSE(r);
  CHECK(r.status == 414);
  // Just under the limit is fine.
  Response ok = fetch(s.port(), request("GET", "/echo?" + std::string(7000, 'a')));
  REQUIRE_RESPONSE(ok);
  CHECK(ok.status == 200);
}

TEST_CASE("a header section larger than max_header_bytes gets 431") {
  Stack s;
  std::string extra;
  for (int i = 0; i < 40; ++i) extra += "X-Big-" + std::to_string(i) + ": " + std::string(1000, 'v') + "\r\n";
  Response r = fetch(s.port(), request("GET", "/echo", extra));
  REQUIRE_RESPONSE(r);
  CHECK(r.status == 431);
  // A single header value over the limit too.
  Response one = fetch(s.port(), request("GET", "/echo", "X-Huge: " + std::string(40000, 'v') + "\r\n"));
  REQUIRE_RESPONSE(one);
  CHECK(one.status == 431);
}

TEST_CASE("more header fields than max_headers gets 431") {
  Stack s;
  std::string extra;
  for (int i = 0; i < 120; ++i) extra += "X-H" + std::to_string(i) + ": v\r\n";
  Response r = fetch(s.port(), request("GET", "/echo", extra));
  REQUIRE_RESPONSE(r);
  CHECK(r.status == 431);
  // 90 fields (plus Host) pass.
  std::string fewer;
  for (int i = 0; i < 90; ++i) fewer += "X-H" + std::to_string(i) + ": v\r\n";
  Response ok = fetch(s.port(), request("GET", "/echo", fewer));
  REQUIRE_RESPONSE(ok);
  CHECK(ok.status == 200);
}

TEST_CASE("a Content-Length over max_body_size gets 413") {
  Stack s;
  Conn c(s.port());
  REQUIRE(c.ok());
  REQUIRE(c.send("POST /echo HTTP/1.1\r\nHost: test.local\r\nContent-Length: 2000000\r\n\r\n"));
  Response r = c.read_response();
  REQUIRE_RESPONSE(r);
  CHECK(r.status == 413);
  // Within the limit it is forwarded.
  std::string body(1000000, 'z');
  Echo e = require_echo(fetch(s.port(), request("POST", "/echo", "", body), 10s));
  CHECK(e.body_bytes == body.size());
}

TEST_CASE("a chunked body growing over max_body_size gets 413") {
  Stack s;
  Conn c(s.port());
  REQUIRE(c.ok());
  REQUIRE(c.send("POST /echo HTTP/1.1\r\nHost: test.local\r\nTransfer-Encoding: chunked\r\n\r\n"));
  send_chunked_until_answered(c, 2u << 20);
  Response r = c.read_response(5s);
  REQUIRE_RESPONSE(r);
  CHECK(r.status == 413);
}

TEST_CASE("a route with max_body_size 0 accepts a body over the default limit") {
  Stack s;
  std::string body(3u << 20, 'u');
  Response r = fetch(s.port(), request("POST", "/upload", "", body), 15s);
  Echo e = require_echo(r);
  CHECK(e.body_bytes == body.size());
  CHECK(e.path == "/echo");
}

TEST_CASE("an incomplete header section is answered 408 then closed after client_header_timeout") {
  Stack s;
  Conn c(s.port());
  REQUIRE(c.ok());
  auto start = Clock::now();
  REQUIRE(c.send("GET /echo HTTP/1.1\r\nHost: test.local\r\n"));
  check_408_then_close(read_until_header_deadline(c, start));
}

TEST_CASE("a slowloris client is cut off at the header deadline, not reset per byte") {
  Stack s;
  Conn c(s.port());
  REQUIRE(c.ok());
  const std::string head = "GET /echo HTTP/1.1\r\nHost: test.local\r\nX-Slow: " + std::string(100, 's');
  auto start = Clock::now();
  std::string data;
  bool closed = false;
  for (std::size_t i = 0; i < head.size() && seconds_since(start) < 8; ++i) {
    if (!c.send(head.substr(i, 1), 1s)) {
      closed = true;  // reset by the proxy
      break;
    }
    pollfd p{c.fd(), POLLIN, 0};
    if (::poll(&p, 1, 500) > 0) {
      data = c.read_until_close(3s, &closed);
      break;
    }
  }
  double took = seconds_since(start);
  INFO("cut off after " << took << " s");
  CHECK(closed);
  CHECK(took <= 3.5);  // client_header_timeout 2s + 1s slack (+ one 500 ms step)
  CHECK(took >= 1.5);
  check_408_then_close(data);
}

TEST_CASE("a connection that sends nothing is closed silently after client_header_timeout") {
  Stack s;
  Conn c(s.port());
  REQUIRE(c.ok());
  const std::string data = read_until_header_deadline(c, Clock::now());
  CHECK(data.empty());  // no request began: nothing to answer
}

TEST_CASE("a stalled request body is answered 408 then closed after client_body_timeout") {
  Stack s;
  Conn c(s.port());
  REQUIRE(c.ok());
  auto start = Clock::now();
  REQUIRE(c.send("POST /echo HTTP/1.1\r\nHost: test.local\r\nContent-Length: 100\r\n\r\n0123456789"));
  bool closed = false;
  std::string data = c.read_until_close(6s, &closed);
  double took = seconds_since(start);
  INFO("closed after " << took << " s");
  CHECK(closed);
  CHECK(took >= 1.5);
  CHECK(took <= 3.5);
  check_408_then_close(data);
}

TEST_CASE("an idle keep-alive connection is closed after keepalive_timeout") {
  Stack s;
  Conn c(s.port());
  REQUIRE(c.ok());
  REQUIRE(c.send(request("GET", "/echo")));
  require_echo(c.read_response());
  auto idle_from = Clock::now();
  // Still open well before the timeout...
  CHECK_FALSE(c.is_closed(1500ms));
  // ...and closed by it (keepalive_timeout 3s).
  CHECK(c.is_closed(3500ms));
  double took = seconds_since(idle_from);
  INFO("closed after " << took << " s idle");
  CHECK(took >= 2.5);
  CHECK(took <= 4.5);
  CHECK(c.buffered().empty());
}

}  // namespace it
