#include "http/parser.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <vector>

using namespace rampart::http;

namespace {

struct Parsed {
  ParseResult result;
  RequestHead head;
  ParseError error;
};

Parsed parse(std::string_view bytes, const Limits& limits = {}) {
  Parsed p{};
  p.result = parse_request(bytes, limits, p.head, p.error);
  return p;
}

std::string_view header_value(const RequestHead& h, std::string_view name) {
  for (const auto& f : h.headers)
    if (iequals(f.name, name)) return f.value;
  return "<none>";
}

// A request head with the given request line and extra field lines (each ending in CRLF).
std::string req(std::string_view line, std::string_view fields = "Host: example.com\r\n") {
  std::string s(line);
  s += "\r\n";
  s += fields;
  s += "\r\n";
  return s;
}

}  // namespace

TEST_CASE("request: a typical request is parsed into views of the buffer", "[http][parser]") {
  const std::string buf =
      "GET /search/items?q=rampart&page=2 HTTP/1.1\r\n"
      "Host: www.example.com:8080\r\n"
      "User-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n"
      "Accept:\ttext/html, */*;q=0.8  \r\n"
      "X-Empty:\r\n"
      "X-Obs-Text: caf\xc3\xa9 \t au\tlait\r\n"
      "\r\n"
      "trailing-body-bytes";
  auto p = parse(buf);
  REQUIRE(p.result == ParseResult::complete);
  const auto& h = p.head;
  CHECK(h.method_text == "GET");
  CHECK(h.method == Method::get);
  CHECK(h.target == "/search/items?q=rampart&page=2");
  CHECK(h.path == "/search/items");
  CHECK(h.query == "q=rampart&page=2");
  CHECK(h.version_minor == 1);
  CHECK(h.host == "www.example.com:8080");
  CHECK(h.body == BodyKind::none);
  CHECK(h.keep_alive);
  CHECK_FALSE(h.expect_continue);
  CHECK_FALSE(h.upgrade);
  CHECK(h.head_size == buf.size() - std::string_view("trailing-body-bytes").size());
  REQUIRE(h.headers.size() == 5);
  CHECK(h.headers[0].name == "Host");
  CHECK(h.headers[1].value == "Mozilla/5.0 (X11; Linux x86_64)");
  CHECK(h.headers[2].name == "Accept");
  CHECK(h.headers[2].value == "text/html, */*;q=0.8");
  CHECK(h.headers[3].name == "X-Empty");
  CHECK(h.headers[3].value.empty());
  CHECK(h.headers[4].value == "caf\xc3\xa9 \t au\tlait");
  for (const auto& f : h.headers) {
    CHECK(f.name.data() >= buf.data());
    CHECK(f.value.data() + f.value.size() <= buf.data() + buf.size());
  }
}

TEST_CASE("request: methods map to the enum, case-sensitively", "[http][parser]") {
  const std::vector<std::pair<std::string, Method>> cases = {
      {"GET", Method::get},         {"HEAD", Method::head},   {"POST", Method::post},
      {"PUT", Method::put},         {"DELETE", Method::del},  {"OPTIONS", Method::options},
      {"TRACE", Method::trace},     {"PATCH", Method::patch}, {"PROPFIND", Method::other},
      {"get", Method::other},       {"Delete", Method::other}, {"M-SEARCH", Method::other},
  };
  for (const auto& [m, expected] : cases) {
    INFO(m);
    const std::string buf = req(m + " / HTTP/1.1");
    auto p = parse(buf);
    REQUIRE(p.result == ParseResult::complete);
    CHECK(p.head.method == expected);
    CHECK(p.head.method_text == m);
  }
  const std::string connect = req("CONNECT example.com:443 HTTP/1.1", "Host: example.com:443\r\n");
  auto p = parse(connect);
  REQUIRE(p.result == ParseResult::complete);
  CHECK(p.head.method == Method::connect);
  CHECK(p.head.host == "example.com:443");
  CHECK(p.head.path.empty());
}

TEST_CASE("request: request-target forms", "[http][parser]") {
  SECTION("origin-form without query") {
    const std::string buf = req("GET /a/b HTTP/1.1");
    auto p = parse(buf);
    REQUIRE(p.result == ParseResult::complete);
    CHECK(p.head.path == "/a/b");
    CHECK(p.head.query.empty());
  }
  SECTION("origin-form with empty query") {
    const std::string buf = req("GET /a? HTTP/1.1");
    auto p = parse(buf);
    REQUIRE(p.result == ParseResult::complete);
    CHECK(p.head.path == "/a");
    CHECK(p.head.query.empty());
  }
  SECTION("absolute-form takes host from the authority") {
    const std::string buf = req("GET http://upstream.test:81/x/y?z=1 HTTP/1.1", "Host: other.test\r\n");
    auto p = parse(buf);
    REQUIRE(p.result == ParseResult::complete);
    CHECK(p.head.target == "http://upstream.test:81/x/y?z=1");
    CHECK(p.head.host == "upstream.test:81");
    CHECK(p.head.path == "/x/y");
    CHECK(p.head.query == "z=1");
  }
  SECTION("absolute-form with empty path") {
    const std::string buf = req("GET HTTPS://h.test HTTP/1.1", "Host: h.test\r\n");
    auto p = parse(buf);
    REQUIRE(p.result == ParseResult::complete);
    CHECK(p.head.host == "h.test");
    CHECK(p.head.path == "/");
    CHECK(p.head.query.empty());
  }
  SECTION("absolute-form with query but no path") {
    const std::string buf = req("GET http://h.test?a=b HTTP/1.1", "Host: h.test\r\n");
    auto p = parse(buf);
    REQUIRE(p.result == ParseResult::complete);
    CHECK(p.head.path == "/");
    CHECK(p.head.query == "a=b");
  }
  SECTION("asterisk-form with OPTIONS") {
    const std::string buf = req("OPTIONS * HTTP/1.1");
    auto p = parse(buf);
    REQUIRE(p.result == ParseResult::complete);
    CHECK(p.head.target == "*");
    CHECK(p.head.path == "*");
  }
  SECTION("IPv6 literal host") {
    const std::string buf = req("GET / HTTP/1.1", "Host: [2001:db8::1]:8443\r\n");
    auto p = parse(buf);
    REQUIRE(p.result == ParseResult::complete);
    CHECK(p.head.host == "[2001:db8::1]:8443");
  }
}

TEST_CASE("request: accepted variants", "[http][parser]") {
  struct Case {
    std::string bytes;
    const char* what;
  };
  const std::vector<Case> cases = {
      {"GET / HTTP/1.0\r\n\r\n", "HTTP/1.0 without Host"},
      {"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", "leading empty lines"},
      {req("GET / HTTP/1.1", "Host: 192.168.0.1\r\n"), "IPv4 host"},
      {req("GET / HTTP/1.1", "Host: xn--bcher-kva.example\r\n"), "IDN host"},
      {req("GET / HTTP/1.1", "Host: a%41b.test\r\n"), "pct-encoded host"},
      {req("GET / HTTP/1.1", "Host: a:0\r\n"), "port 0"},
      {req("GET / HTTP/1.1", "Host: a:65535\r\n"), "max port"},
      {req("GET / HTTP/1.1", "host:a\r\n"), "lowercase name, no OWS"},
      {req("POST / HTTP/1.1", "Host: a\r\nContent-Length: 5, 5\r\n"), "CL list of equal values"},
      {req("POST / HTTP/1.1", "Host: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n"), "equal CL fields"},
      {req("POST / HTTP/1.1", "Host: a\r\nContent-Length: 4611686018427387904\r\n"), "CL 2^62"},
      {req("POST / HTTP/1.1", "Host: a\r\nTransfer-Encoding: CHUNKED\r\n"), "TE case-insensitive"},
      {req("GET /%7Euser/a;b=c,d!$&'()*+@:~ HTTP/1.1"), "sub-delims in path"},
      {req("GET / HTTP/1.1", "Host: a\r\nX!#$%&'*+-.^_`|~1: v\r\n"), "all tchars in a name"},
      {req("GET / HTTP/1.1", "Host: a\r\nConnection: , ,keep-alive , \r\n"), "empty Connection elements"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    auto p = parse(c.bytes);
    CHECK(p.error.reason == std::string_view(""));
    CHECK(p.result == ParseResult::complete);
    CHECK(p.head.head_size == c.bytes.size());
  }
}

TEST_CASE("request: rejected heads answer the right status", "[http][parser]") {
  struct Case {
    std::string bytes;
    int status;
    const char* reason;  // expected reason, or nullptr to check only the status
  };
  const std::string h = "Host: a\r\n";
  const std::vector<Case> cases = {
      // request line
      {req(" GET / HTTP/1.1"), 400, nullptr},
      {req("GET  / HTTP/1.1"), 400, nullptr},
      {req("GET / HTTP/1.1 "), 400, nullptr},
      {req("GET /  HTTP/1.1"), 400, nullptr},
      {req("GET\t/ HTTP/1.1"), 400, nullptr},
      {req("G@T / HTTP/1.1"), 400, nullptr},
      {req("GET /a b HTTP/1.1"), 400, nullptr},
      {req("GET /\x01 HTTP/1.1"), 400, nullptr},
      {req("GET /\x7f HTTP/1.1"), 400, nullptr},
      {req("GET /caf\xc3\xa9 HTTP/1.1"), 400, nullptr},
      {req("GET /a#frag HTTP/1.1"), 400, nullptr},
      {req("GET / HTTP/1.2"), 505, nullptr},
      {req("GET / HTTP/2.0"), 505, nullptr},
      {req("GET / HTTP/0.9"), 505, nullptr},
      {req("GET / HTTP/1.1x"), 400, nullptr},
      {req("GET / http/1.1"), 400, nullptr},
      {req("GET / HTTP/1"), 400, nullptr},
      {req("GET / HTTP/11.1"), 400, nullptr},
      {req("GET / XTTP/1.1"), 400, nullptr},
      {req("GET /"), 400, nullptr},
      {req("GET"), 400, nullptr},
      {"GET / HTTP/1.1\nHost: a\r\n\r\n", 400, "bare LF"},
      {"GET / HTTP/1.1\rHost: a\r\n\r\n", 400, "bare CR"},
      {"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "bare LF"},
      {"\r\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "bare CR"},
      {"\r\n \r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, nullptr},
      // request-target forms
      {req("GET example.com:80 HTTP/1.1"), 400, nullptr},
      {req("GET * HTTP/1.1"), 400, nullptr},
      {req("OPTIONS *x HTTP/1.1"), 400, nullptr},
      {req("CONNECT / HTTP/1.1"), 400, nullptr},
      {req("CONNECT example.com HTTP/1.1"), 400, nullptr},
      {req("CONNECT http://example.com:443/ HTTP/1.1"), 400, nullptr},
      {req("GET ftp://a/ HTTP/1.1"), 400, nullptr},
      {req("GET http:/// HTTP/1.1"), 400, nullptr},
      {req("GET http:// HTTP/1.1"), 400, nullptr},
      {req("GET http://user@h.test/ HTTP/1.1"), 400, nullptr},
      {req("GET http://h.test:/ HTTP/1.1"), 400, nullptr},
      {req("GET a/b HTTP/1.1"), 400, nullptr},
      // field syntax
      {req("GET / HTTP/1.1", h + "X-A : v\r\n"), 400, "whitespace before colon"},
      {req("GET / HTTP/1.1", h + "X-A\t: v\r\n"), 400, "whitespace before colon"},
      {req("GET / HTTP/1.1", h + ": v\r\n"), 400, nullptr},
      {req("GET / HTTP/1.1", h + "X(A): v\r\n"), 400, nullptr},
      {req("GET / HTTP/1.1", h + "X-A v\r\n"), 400, nullptr},
      {req("GET / HTTP/1.1", h + "X-A\r\n"), 400, nullptr},
      {req("GET / HTTP/1.1", h + std::string("X-A: a\0b\r\n", 10)), 400, "NUL in field value"},
      {req("GET / HTTP/1.1", h + "X-A: a\x01" "b\r\n"), 400, nullptr},
      {req("GET / HTTP/1.1", h + "X-A: a\x1f" "b\r\n"), 400, nullptr},
      {req("GET / HTTP/1.1", h + "X-A: a\x7f" "b\r\n"), 400, nullptr},
      {req("GET / HTTP/1.1", h + "X-A: a\rb\r\n"), 400, "bare CR"},
      {req("GET / HTTP/1.1", h + "X-A: a\nX-B: b\r\n"), 400, "bare LF"},
      {req("GET / HTTP/1.1", h + "X-A: a\r\n b\r\n"), 400, "obs-fold"},
      {req("GET / HTTP/1.1", h + "X-A: a\r\n\tb\r\n"), 400, "obs-fold"},
      {req("GET / HTTP/1.1", " X-A: a\r\n" + h), 400, "obs-fold"},
      {"GET / HTTP/1.1\r\nHost: a\r\n\n", 400, "bare LF"},
      {"GET / HTTP/1.1\r\nHost: a\r\n\rX", 400, "bare CR"},
      {"GET / HTTP/1.1\r\nHost: a\n\r\n", 400, "bare LF"},
      // Host
      {req("GET / HTTP/1.1", ""), 400, "missing Host"},
      {req("GET / HTTP/1.1", "X-A: b\r\n"), 400, "missing Host"},
      {req("GET http://h.test/ HTTP/1.1", ""), 400, "missing Host"},
      {req("GET / HTTP/1.1", "Host: a\r\nHost: a\r\n"), 400, "duplicate Host"},
      {req("GET / HTTP/1.1", "Host: a\r\nHost: b\r\n"), 400, "duplicate Host"},
      {req("GET / HTTP/1.0", "Host: a\r\nhost: a\r\n"), 400, "duplicate Host"},
      {req("GET http://h.test/ HTTP/1.1", "Host: h.test\r\nHost: h.test\r\n"), 400, "duplicate Host"},
      {req("GET / HTTP/1.1", "Host:\r\n"), 400, "invalid Host"},
      {req("GET / HTTP/1.1", "Host: a b\r\n"), 400, "invalid Host"},
      {req("GET / HTTP/1.1", "Host: a\tb\r\n"), 400, "invalid Host"},
      {req("GET / HTTP/1.1", "Host: user@a\r\n"), 400, "invalid Host"},
      {req("GET / HTTP/1.1", "Host: a/b\r\n"), 400, "invalid Host"},
      {req("GET / HTTP/1.1", "Host: a:\r\n"), 400, "invalid Host"},
      {req("GET / HTTP/1.1", "Host: a:65536\r\n"), 400, "invalid Host"},
      {req("GET / HTTP/1.1", "Host: a:8x\r\n"), 400, "invalid Host"},
      {req("GET / HTTP/1.1", "Host: a:1:2\r\n"), 400, "invalid Host"},
      {req("GET / HTTP/1.1", "Host: [zz]\r\n"), 400, "invalid Host"},
      {req("GET / HTTP/1.1", "Host: [::1\r\n"), 400, "invalid Host"},
      {req("GET / HTTP/1.1", "Host: a%4\r\n"), 400, "invalid Host"},
      {req("GET / HTTP/1.1", "Host: a\xc3\xa9\r\n"), 400, "invalid Host"},
      // Content-Length
      {req("POST / HTTP/1.1", h + "Content-Length: -1\r\n"), 400, "invalid Content-Length"},
      {req("POST / HTTP/1.1", h + "Content-Length: +1\r\n"), 400, "invalid Content-Length"},
      {req("POST / HTTP/1.1", h + "Content-Length: 1 2\r\n"), 400, "invalid Content-Length"},
      {req("POST / HTTP/1.1", h + "Content-Length:\r\n"), 400, "invalid Content-Length"},
      {req("POST / HTTP/1.1", h + "Content-Length: 0x10\r\n"), 400, "invalid Content-Length"},
      {req("POST / HTTP/1.1", h + "Content-Length: 1.5\r\n"), 400, "invalid Content-Length"},
      {req("POST / HTTP/1.1", h + "Content-Length: 5,\r\n"), 400, "invalid Content-Length"},
      {req("POST / HTTP/1.1", h + "Content-Length: ,5\r\n"), 400, "invalid Content-Length"},
      {req("POST / HTTP/1.1", h + "Content-Length: 5, 6\r\n"), 400, "invalid Content-Length"},
      {req("POST / HTTP/1.1", h + "Content-Length: 4611686018427387905\r\n"), 400, "invalid Content-Length"},
      {req("POST / HTTP/1.1", h + "Content-Length: 99999999999999999999999\r\n"), 400, "invalid Content-Length"},
      {req("POST / HTTP/1.1", h + "Content-Length: 5\r\nContent-Length: 6\r\n"), 400, "conflicting Content-Length"},
      // Transfer-Encoding
      {req("POST / HTTP/1.1", h + "Transfer-Encoding: gzip, chunked\r\n"), 501, "unsupported transfer coding"},
      {req("POST / HTTP/1.1", h + "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"), 501, nullptr},
      {req("POST / HTTP/1.1", h + "Transfer-Encoding: x-custom;a=\"q,r\" , chunked\r\n"), 501, nullptr},
      {req("POST / HTTP/1.1", h + "Transfer-Encoding: chunked, gzip\r\n"), 400, nullptr},
      {req("POST / HTTP/1.1", h + "Transfer-Encoding: gzip\r\n"), 400, nullptr},
      {req("POST / HTTP/1.1", h + "Transfer-Encoding: identity\r\n"), 400, nullptr},
      {req("POST / HTTP/1.1", h + "Transfer-Encoding: chunked, chunked\r\n"), 400, nullptr},
      {req("POST / HTTP/1.1", h + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"), 400, nullptr},
      {req("POST / HTTP/1.1", h + "Transfer-Encoding: chunked, gzip, chunked\r\n"), 400, nullptr},
      {req("POST / HTTP/1.1", h + "Transfer-Encoding:\r\n"), 400, "invalid Transfer-Encoding"},
      {req("POST / HTTP/1.1", h + "Transfer-Encoding: chunked,\r\n"), 400, "invalid Transfer-Encoding"},
      {req("POST / HTTP/1.1", h + "Transfer-Encoding: ,chunked\r\n"), 400, "invalid Transfer-Encoding"},
      {req("POST / HTTP/1.1", h + "Transfer-Encoding: chunked;a=b\r\n"), 400, "invalid Transfer-Encoding"},
      {req("POST / HTTP/1.1", h + "Transfer-Encoding: chun ked\r\n"), 400, "invalid Transfer-Encoding"},
      {req("POST / HTTP/1.1", h + "Transfer-Encoding: \"chunked\"\r\n"), 400, "invalid Transfer-Encoding"},
      {req("POST / HTTP/1.1", h + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"), 400,
       "Content-Length with Transfer-Encoding"},
      {req("POST / HTTP/1.1", h + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"), 400,
       "Content-Length with Transfer-Encoding"},
      {req("POST / HTTP/1.0", "Transfer-Encoding: chunked\r\n"), 400, nullptr},
      // Connection
      {req("GET / HTTP/1.1", h + "Connection: close;x\r\n"), 400, "invalid Connection"},
      {req("GET / HTTP/1.1", h + "Connection: a b\r\n"), 400, "invalid Connection"},
  };
  for (const auto& c : cases) {
    INFO("input: " << c.bytes);
    auto p = parse(c.bytes);
    REQUIRE(p.result == ParseResult::error);
    CHECK(p.error.status == c.status);
    if (c.reason != nullptr) CHECK(std::string_view(p.error.reason) == c.reason);
    CHECK(std::string_view(p.error.reason).size() > 0);
  }
}

TEST_CASE("request: body framing", "[http][parser]") {
  SECTION("no CL or TE: no body") {
    const std::string buf = req("POST / HTTP/1.1");
    auto p = parse(buf);
    REQUIRE(p.result == ParseResult::complete);
    CHECK(p.head.body == BodyKind::none);
  }
  SECTION("Content-Length") {
    const std::string buf = req("POST / HTTP/1.1", "Host: a\r\nContent-Length: 007\r\n");
    auto p = parse(buf);
    REQUIRE(p.result == ParseResult::complete);
    CHECK(p.head.body == BodyKind::content_length);
    CHECK(p.head.content_length == 7);
  }
  SECTION("Content-Length 0") {
    const std::string buf = req("POST / HTTP/1.1", "Host: a\r\nContent-Length: 0\r\n");
    auto p = parse(buf);
    REQUIRE(p.result == ParseResult::complete);
    CHECK(p.head.body == BodyKind::content_length);
    CHECK(p.head.content_length == 0);
  }
  SECTION("chunked") {
    const std::string buf = req("POST / HTTP/1.1", "Host: a\r\nTransfer-Encoding: chunked\r\n");
    auto p = parse(buf);
    REQUIRE(p.result == ParseResult::complete);
    CHECK(p.head.body == BodyKind::chunked);
    CHECK(p.head.content_length == 0);
  }
}

TEST_CASE("request: Connection, Upgrade and Expect", "[http][parser]") {
  struct Case {
    std::string bytes;
    bool keep_alive;
    bool upgrade;
    bool expect_continue;
  };
  const std::vector<Case> cases = {
      {req("GET / HTTP/1.1"), true, false, false},
      {req("GET / HTTP/1.1", "Host: a\r\nConnection: close\r\n"), false, false, false},
      {req("GET / HTTP/1.1", "Host: a\r\nConnection: keep-alive, CLOSE\r\n"), false, false, false},
      {req("GET / HTTP/1.1", "Host: a\r\nConnection: foo\r\nConnection: Close\r\n"), false, false, false},
      {req("GET / HTTP/1.0", ""), false, false, false},
      {req("GET / HTTP/1.0", "Connection: Keep-Alive\r\n"), true, false, false},
      {req("GET / HTTP/1.0", "Connection: keep-alive, close\r\n"), false, false, false},
      {req("GET / HTTP/1.1", "Host: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n"), true, true, false},
      {req("GET / HTTP/1.1", "Host: a\r\nConnection: Upgrade\r\n"), true, false, false},
      {req("GET / HTTP/1.1", "Host: a\r\nUpgrade: websocket\r\n"), true, false, false},
      {req("GET / HTTP/1.0", "Connection: upgrade\r\nUpgrade: websocket\r\n"), false, false, false},
      {req("POST / HTTP/1.1", "Host: a\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n"), true, false, true},
      {req("POST / HTTP/1.1", "Host: a\r\nExpect: 200-ok\r\n"), true, false, false},
      {req("POST / HTTP/1.0", "Expect: 100-continue\r\n"), false, false, false},
  };
  for (const auto& c : cases) {
    INFO("input: " << c.bytes);
    auto p = parse(c.bytes);
    REQUIRE(p.result == ParseResult::complete);
    CHECK(p.head.keep_alive == c.keep_alive);
    CHECK(p.head.upgrade == c.upgrade);
    CHECK(p.head.expect_continue == c.expect_continue);
  }
}

TEST_CASE("request: pipelined requests parse one after another", "[http][parser]") {
  const std::string first = "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n";
  const std::string second = "GET /next?x HTTP/1.1\r\nHost: b\r\n\r\n";
  const std::string third = "HEAD /last HTTP/1.1\r\nHost: c\r\nConnection: close\r\n\r\n";
  const std::string buf = first + "hello" + second + third;

  RequestHead head;
  ParseError err;
  std::string_view rest = buf;
  REQUIRE(parse_request(rest, {}, head, err) == ParseResult::complete);
  CHECK(head.head_size == first.size());
  CHECK(head.content_length == 5);
  rest = rest.substr(head.head_size + head.content_length);

  REQUIRE(parse_request(rest, {}, head, err) == ParseResult::complete);
  CHECK(head.head_size == second.size());
  CHECK(head.path == "/next");
  CHECK(head.host == "b");
  CHECK(head.body == BodyKind::none);
  rest = rest.substr(head.head_size);

  REQUIRE(parse_request(rest, {}, head, err) == ParseResult::complete);
  CHECK(head.method == Method::head);
  CHECK(head.host == "c");
  CHECK_FALSE(head.keep_alive);
  CHECK(head.head_size == rest.size());
}

TEST_CASE("request: every proper prefix of a valid head is incomplete", "[http][parser]") {
  const std::vector<std::string> heads = {
      "\r\nGET /a?b HTTP/1.1\r\nHost: a.test\r\nX-A:  v \r\nX-Empty:\r\n\r\n",
      "POST http://h.test:8080/p HTTP/1.0\r\nContent-Length: 10, 10\r\nConnection: keep-alive\r\n\r\n",
      "CONNECT h.test:443 HTTP/1.1\r\nHost: h.test:443\r\n\r\n",
      "PUT /x HTTP/1.1\r\nHost: [::1]:80\r\nTransfer-Encoding: chunked\r\n\r\n",
  };
  for (const auto& full : heads) {
    for (std::size_t n = 0; n < full.size(); ++n) {
      INFO("prefix length " << n << " of " << full);
      auto p = parse(std::string_view(full).substr(0, n));
      CHECK(p.result == ParseResult::incomplete);
    }
    auto p = parse(full);
    CHECK(p.result == ParseResult::complete);
    CHECK(p.head.head_size == full.size());
  }
}

TEST_CASE("request: request line limit answers 414, early", "[http][parser]") {
  Limits limits;
  limits.max_request_line = 64;
  const std::string line_at_limit = "GET /" + std::string(64 - 14, 'a') + " HTTP/1.1";  // 64 bytes
  REQUIRE(line_at_limit.size() == 64);
  SECTION("a line exactly at the limit is fine") {
    const std::string buf = req(line_at_limit);
    CHECK(parse(buf, limits).result == ParseResult::complete);
  }
  SECTION("one byte more is 414") {
    const std::string buf = req("GET /a" + line_at_limit.substr(5));
    auto p = parse(buf, limits);
    REQUIRE(p.result == ParseResult::error);
    CHECK(p.error.status == 414);
  }
  SECTION("detected before the CRLF arrives, at the first byte over the limit") {
    const std::string partial = "GET /" + std::string(200, 'b');
    for (std::size_t n = 1; n <= partial.size(); ++n) {
      auto p = parse(std::string_view(partial).substr(0, n), limits);
      if (n <= 64) {
        REQUIRE(p.result == ParseResult::incomplete);
      } else {
        INFO("prefix " << n);
        REQUIRE(p.result == ParseResult::error);
        CHECK(p.error.status == 414);
        break;
      }
    }
  }
  SECTION("a CR right at the limit is not over it") {
    CHECK(parse(line_at_limit + "\r", limits).result == ParseResult::incomplete);
  }
}

TEST_CASE("request: header section limits answer 431, early", "[http][parser]") {
  SECTION("head bytes over the limit") {
    Limits limits;
    limits.max_header_bytes = 100;
    std::string buf = "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ";
    buf += std::string(100 - buf.size() - 4, 'p');
    buf += "\r\n\r\n";
    REQUIRE(buf.size() == 100);
    CHECK(parse(buf, limits).result == ParseResult::complete);
    buf.insert(buf.find('p'), "p");
    auto p = parse(buf, limits);
    REQUIRE(p.result == ParseResult::error);
    CHECK(p.error.status == 431);
  }
  SECTION("detected on incomplete input once the buffer reaches the limit") {
    Limits limits;
    limits.max_header_bytes = 256;
    const std::string stream = "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: " + std::string(1000, 'x');
    for (std::size_t n = 1; n <= stream.size(); ++n) {
      auto p = parse(std::string_view(stream).substr(0, n), limits);
      if (n < 256) {
        REQUIRE(p.result == ParseResult::incomplete);
      } else {
        REQUIRE(p.result == ParseResult::error);
        CHECK(p.error.status == 431);
      }
    }
  }
  SECTION("many small fields") {
    Limits limits;
    limits.max_headers = 5;
    std::string fields = "Host: a\r\n";
    for (int i = 0; i < 4; ++i) fields += "X-" + std::to_string(i) + ": v\r\n";
    const std::string ok = req("GET / HTTP/1.1", fields);
    CHECK(parse(ok, limits).result == ParseResult::complete);
    const std::string over = req("GET / HTTP/1.1", fields + "X-5: v\r\n");
    auto p = parse(over, limits);
    REQUIRE(p.result == ParseResult::error);
    CHECK(p.error.status == 431);
  }
  SECTION("endless empty lines before the request line are bounded too") {
    Limits limits;
    limits.max_header_bytes = 64;
    std::string crlfs;
    for (int i = 0; i < 40; ++i) crlfs += "\r\n";
    auto p = parse(crlfs, limits);
    REQUIRE(p.result == ParseResult::error);
    CHECK(p.error.status == 431);
  }
  SECTION("leading empty lines count in head_size") {
    const std::string buf = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    auto p = parse(buf);
    REQUIRE(p.result == ParseResult::complete);
    CHECK(p.head.head_size == buf.size());
  }
}

TEST_CASE("request: parsing reuses the headers vector without allocating", "[http][parser]") {
  const std::string a = req("GET / HTTP/1.1", "Host: a\r\nX-1: 1\r\nX-2: 2\r\nX-3: 3\r\n");
  const std::string b = req("GET /b HTTP/1.1", "Host: b\r\nX-1: 1\r\n");
  RequestHead head;
  ParseError err;
  REQUIRE(parse_request(a, {}, head, err) == ParseResult::complete);
  const auto* storage = head.headers.data();
  const auto capacity = head.headers.capacity();
  REQUIRE(parse_request(b, {}, head, err) == ParseResult::complete);
  CHECK(head.headers.size() == 2);
  CHECK(head.headers.data() == storage);
  CHECK(head.headers.capacity() == capacity);
  CHECK(header_value(head, "host") == "b");
  // A failed parse leaves no stale fields behind.
  REQUIRE(parse_request("GET / HTTP/1.1\r\nHost: a\r\n", {}, head, err) == ParseResult::incomplete);
  head.clear();
  CHECK(head.headers.empty());
  CHECK(head.host.empty());
}
