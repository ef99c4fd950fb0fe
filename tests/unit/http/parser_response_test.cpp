#include "http/parser.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <vector>

using namespace rampart::http;

namespace {

struct Parsed {
  ParseResult result;
  ResponseHead head;
  ParseError error;
};

Parsed parse(std::string_view bytes, Method method = Method::get, const Limits& limits = {}) {
  Parsed p{};
  p.result = parse_response(bytes, limits, method, p.head, p.error);
  return p;
}

std::string resp(std::string_view status_line, std::string_view fields = "") {
  std::string s(status_line);
  s += "\r\n";
  s += fields;
  s += "\r\n";
  return s;
}

}  // namespace

TEST_CASE("response: status line and fields", "[http][parser]") {
  const std::string buf =
      "HTTP/1.1 404 Not Found\r\n"
      "Content-Type: text/plain\r\n"
      "Content-Length: 9\r\n"
      "\r\n"
      "not found";
  auto p = parse(buf);
  REQUIRE(p.result == ParseResult::complete);
  CHECK(p.head.status == 404);
  CHECK(p.head.reason == "Not Found");
  CHECK(p.head.version_minor == 1);
  CHECK(p.head.body == BodyKind::content_length);
  CHECK(p.head.content_length == 9);
  CHECK(p.head.keep_alive);
  CHECK(p.head.head_size == buf.size() - 9);
  REQUIRE(p.head.headers.size() == 2);
  CHECK(p.head.headers[0].name == "Content-Type");
  CHECK(p.head.headers[0].value == "text/plain");
}

TEST_CASE("response: reason phrase forms", "[http][parser]") {
  SECTION("empty reason with the SP") {
    const std::string buf = resp("HTTP/1.1 200 ", "Content-Length: 0\r\n");
    auto p = parse(buf);
    REQUIRE(p.result == ParseResult::complete);
    CHECK(p.head.status == 200);
    CHECK(p.head.reason.empty());
  }
  SECTION("missing SP before an empty reason is tolerated") {
    const std::string buf = resp("HTTP/1.1 200", "Content-Length: 0\r\n");
    auto p = parse(buf);
    REQUIRE(p.result == ParseResult::complete);
    CHECK(p.head.status == 200);
    CHECK(p.head.reason.empty());
  }
  SECTION("reason with spaces, tabs and obs-text") {
    const std::string buf = resp("HTTP/1.0 200 Tout va\tbien \xe2\x9c\x93", "Content-Length: 0\r\n");
    auto p = parse(buf);
    REQUIRE(p.result == ParseResult::complete);
    CHECK(p.head.reason == "Tout va\tbien \xe2\x9c\x93");
    CHECK(p.head.version_minor == 0);
  }
}

TEST_CASE("response: body rules (RFC 9112 6.3)", "[http][parser]") {
  struct Case {
    std::string bytes;
    Method method;
    BodyKind body;
    bool keep_alive;
    const char* what;
  };
  const std::vector<Case> cases = {
      {resp("HTTP/1.1 200 OK", "Content-Length: 12\r\n"), Method::get, BodyKind::content_length, true, "CL"},
      {resp("HTTP/1.1 200 OK", "Transfer-Encoding: chunked\r\n"), Method::get, BodyKind::chunked, true, "chunked"},
      {resp("HTTP/1.1 200 OK", "Transfer-Encoding: Chunked\r\n"), Method::post, BodyKind::chunked, true, "Chunked"},
      {resp("HTTP/1.1 200 OK", "Transfer-Encoding: gzip\r\n"), Method::get, BodyKind::until_close, false,
       "non-chunked final TE"},
      {resp("HTTP/1.1 200 OK", "Transfer-Encoding: chunked, gzip\r\n"), Method::get, BodyKind::until_close, false,
       "chunked not final"},
      {resp("HTTP/1.1 200 OK"), Method::get, BodyKind::until_close, false, "no framing"},
      {resp("HTTP/1.1 200 OK", "Content-Length: 12\r\n"), Method::head, BodyKind::none, true, "HEAD with CL"},
      {resp("HTTP/1.1 200 OK", "Transfer-Encoding: chunked\r\n"), Method::head, BodyKind::none, true, "HEAD with TE"},
      {resp("HTTP/1.1 200 OK"), Method::head, BodyKind::none, true, "HEAD without framing"},
      {resp("HTTP/1.1 204 No Content"), Method::get, BodyKind::none, true, "204"},
      {resp("HTTP/1.1 304 Not Modified", "Content-Length: 40\r\n"), Method::get, BodyKind::none, true, "304"},
      {resp("HTTP/1.1 100 Continue"), Method::post, BodyKind::none, true, "100"},
      {resp("HTTP/1.1 103 Early Hints", "Link: </a.css>; rel=preload\r\n"), Method::get, BodyKind::none, true, "103"},
      {resp("HTTP/1.1 101 Switching Protocols", "Connection: upgrade\r\nUpgrade: websocket\r\n"), Method::get,
       BodyKind::none, true, "101"},
      {resp("HTTP/1.1 200 Connection established"), Method::connect, BodyKind::none, true, "2xx to CONNECT"},
      {resp("HTTP/1.1 407 Proxy Auth", "Content-Length: 3\r\n"), Method::connect, BodyKind::content_length, true,
       "non-2xx to CONNECT"},
      {resp("HTTP/1.1 200 OK", "Content-Length: 3\r\nConnection: close\r\n"), Method::get, BodyKind::content_length,
       false, "Connection: close"},
      {resp("HTTP/1.0 200 OK", "Content-Length: 3\r\n"), Method::get, BodyKind::content_length, false, "1.0"},
      {resp("HTTP/1.0 200 OK", "Content-Length: 3\r\nConnection: keep-alive\r\n"), Method::get,
       BodyKind::content_length, true, "1.0 keep-alive"},
      {resp("HTTP/1.1 200 OK", "Content-Length: 3, 3\r\nContent-Length: 3\r\n"), Method::get,
       BodyKind::content_length, true, "identical CL values"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    auto p = parse(c.bytes, c.method);
    REQUIRE(p.result == ParseResult::complete);
    CHECK(p.head.body == c.body);
    CHECK(p.head.keep_alive == c.keep_alive);
    CHECK(p.head.head_size == c.bytes.size());
  }
}

TEST_CASE("response: rejected heads", "[http][parser]") {
  struct Case {
    std::string bytes;
    const char* reason;  // nullptr: any reason
  };
  const std::vector<Case> cases = {
      {resp("HTTP/1.1 200 OK", "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n"),
       "Content-Length with Transfer-Encoding"},
      {resp("HTTP/1.1 200 OK", "Content-Length: 3\r\nContent-Length: 4\r\n"), "conflicting Content-Length"},
      {resp("HTTP/1.1 200 OK", "Content-Length: 3x\r\n"), "invalid Content-Length"},
      {resp("HTTP/1.1 200 OK", "Transfer-Encoding: chunked, chunked\r\n"), nullptr},
      {resp("HTTP/1.1 200 OK", "Transfer-Encoding: gzip, chunked\r\n"), nullptr},
      {resp("HTTP/1.0 200 OK", "Transfer-Encoding: chunked\r\n"), nullptr},
      {resp("HTTP/1.1 99 Odd"), nullptr},
      {resp("HTTP/1.1 600 Odd"), nullptr},
      {resp("HTTP/1.1 20 OK"), nullptr},
      {resp("HTTP/1.1 2000 OK"), nullptr},
      {resp("HTTP/1.1  200 OK"), nullptr},
      {resp("HTTP/2.0 200 OK"), nullptr},
      {resp("HTTP/1.1 200 O\x01K"), nullptr},
      {resp("http/1.1 200 OK"), nullptr},
      {resp("ICY 200 OK"), nullptr},
      {"HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", "bare LF"},
      {"HTTP/1.1 200 OK\rContent-Length: 0\r\n\r\n", "bare CR"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n", "bare LF"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n folded\r\n\r\n", "obs-fold"},
      {"HTTP/1.1 200 OK\r\nX-A : 1\r\n\r\n", "whitespace before colon"},
      {"\r\nHTTP/1.1 200 OK\r\n\r\n", nullptr},
  };
  for (const auto& c : cases) {
    INFO("input: " << c.bytes);
    auto p = parse(c.bytes);
    REQUIRE(p.result == ParseResult::error);
    if (c.reason != nullptr) CHECK(std::string_view(p.error.reason) == c.reason);
  }
}

TEST_CASE("response: every prefix is incomplete, limits apply", "[http][parser]") {
  const std::string full = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A:\tb \r\n\r\n";
  for (std::size_t n = 0; n < full.size(); ++n) {
    INFO("prefix " << n);
    CHECK(parse(std::string_view(full).substr(0, n)).result == ParseResult::incomplete);
  }
  CHECK(parse(full).result == ParseResult::complete);

  const std::string no_sp = "HTTP/1.1 204\r\n\r\n";
  for (std::size_t n = 0; n < no_sp.size(); ++n)
    CHECK(parse(std::string_view(no_sp).substr(0, n)).result == ParseResult::incomplete);

  Limits limits;
  limits.max_header_bytes = 128;
  const std::string big = "HTTP/1.1 200 OK\r\nX-Pad: " + std::string(200, 'x');
  auto p = parse(big, Method::get, limits);
  REQUIRE(p.result == ParseResult::error);
  CHECK(p.error.status == 431);

  limits = Limits{};
  limits.max_headers = 1;
  const std::string two = resp("HTTP/1.1 200 OK", "A: 1\r\nB: 2\r\n");
  p = parse(two, Method::get, limits);
  REQUIRE(p.result == ParseResult::error);
  CHECK(p.error.status == 431);
}

TEST_CASE("response: a 1xx is complete on its own and the final response follows", "[http][parser]") {
  const std::string interim = "HTTP/1.1 100 Continue\r\n\r\n";
  const std::string final_head = "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n";
  const std::string buf = interim + final_head + "ok";
  ResponseHead head;
  ParseError err;
  REQUIRE(parse_response(buf, {}, Method::post, head, err) == ParseResult::complete);
  CHECK(head.status == 100);
  CHECK(head.head_size == interim.size());
  REQUIRE(parse_response(std::string_view(buf).substr(head.head_size), {}, Method::post, head, err) ==
          ParseResult::complete);
  CHECK(head.status == 201);
  CHECK(head.content_length == 2);
  CHECK(head.head_size == final_head.size());
}
