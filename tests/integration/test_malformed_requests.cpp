// Malformed and ambiguous requests: each is refused with 400 (501 for an unknown transfer
// coding) and its connection closed, while other connections carry on.
#include "fixtures.hpp"

#include <catch2/catch.hpp>

namespace it {
namespace {

struct BadRequest {
  const char* name;
  std::string bytes;
  bool allow_501 = false;
};

std::vector<BadRequest> bad_requests() {
  using namespace std::string_literals;
  const std::string h = "Host: test.local\r\n";
  return {
      {"Content-Length with Transfer-Encoding",
       "POST /echo HTTP/1.1\r\n" + h + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
      {"two different Content-Length",
       "POST /echo HTTP/1.1\r\n" + h + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"},
      {"Content-Length list with different values",
       "POST /echo HTTP/1.1\r\n" + h + "Content-Length: 5, 6\r\n\r\nhello!"},
      {"non-numeric Content-Length", "POST /echo HTTP/1.1\r\n" + h + "Content-Length: abc\r\n\r\n"},
      {"negative Content-Length", "POST /echo HTTP/1.1\r\n" + h + "Content-Length: -1\r\n\r\n"},
      {"Transfer-Encoding gzip, chunked",
       "POST /echo HTTP/1.1\r\n" + h + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", true},
      {"Transfer-Encoding chunked, gzip (chunked not last)",
       "POST /echo HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", true},
      {"unknown Transfer-Encoding", "POST /echo HTTP/1.1\r\n" + h + "Transfer-Encoding: bogus\r\n\r\n", true},
      {"bad chunk size", "POST /echo HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"},
      {"bare LF line endings", "GET /echo HTTP/1.1\nHost: test.local\n\n"},
      {"bare LF inside the header section", "GET /echo HTTP/1.1\r\nHost: test.local\nX-A: b\r\n\r\n"},
      {"obs-fold", "GET /echo HTTP/1.1\r\n" + h + "X-A: a\r\n  folded\r\n\r\n"},
      {"NUL in a header value", "GET /echo HTTP/1.1\r\n" + h + "X-A: a\0b\r\n\r\n"s},
      {"space before the colon", "GET /echo HTTP/1.1\r\n" + h + "X-A : b\r\n\r\n"},
      {"missing Host", "GET /echo HTTP/1.1\r\nX-A: b\r\n\r\n"},
      {"duplicate Host", "GET /echo HTTP/1.1\r\n" + h + "Host: other.local\r\n\r\n"},
      {"garbage request line", "HELLO\r\n" + h + "\r\n"},
      {"bad header name", "GET /echo HTTP/1.1\r\n" + h + "X(A): b\r\n\r\n"},
  };
}

}  // namespace

TEST_CASE("malformed requests get 400 and a close, other connections are unaffected") {
  Stack s;
  // A keep-alive connection opened before any of the bad requests.
  Conn witness(s.port());
  REQUIRE(witness.ok());
  REQUIRE(witness.send(request("GET", "/echo?w=0")));
  require_echo(witness.read_response());

  int n = 0;
  for (auto& bad : bad_requests()) {
    INFO("case: " << bad.name);
    Conn c(s.port());
    REQUIRE(c.ok());
    REQUIRE(c.send(bad.bytes));
    Response r = c.read_response(4s);
    INFO("head: " << r.raw_head);
    CHECK(r.ok);
    if (r.ok) {
      if (bad.allow_501) CHECK((r.status == 400 || r.status == 501));
      else CHECK(r.status == 400);
      CHECK(!r.header("x-upstream-name"));  // never reached the upstream
    }
    CHECK(c.is_closed(3s));

    // The earlier connection still works.
    ++n;
    REQUIRE(witness.send(request("GET", "/echo?w=" + std::to_string(n))));
    Response w = witness.read_response();
    INFO("witness: " << w.error);
    REQUIRE(w.ok);
    CHECK(parse_echo(w.body).path == "/echo?w=" + std::to_string(n));
  }
}

TEST_CASE("a request smuggled behind CL+TE never reaches the upstream") {
  Stack s;
  auto before = upstream_stats(s.web);
  Conn c(s.port());
  REQUIRE(c.ok());
  // If the proxy trusted Content-Length: 4 it would forward "0\r\n\r\n" badly; if it trusted
  // chunked it would then see "GET /smuggled" as a second request. It must do neither.
  REQUIRE(c.send("POST /echo HTTP/1.1\r\nHost: test.local\r\nContent-Length: 4\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: test.local\r\n\r\n"));
  Response r = c.read_response(4s);
  REQUIRE_RESPONSE(r);
  CHECK(r.status == 400);
  std::string rest = c.read_until_close(3s);
  CHECK(rest.find("HTTP/1.1") == std::string::npos);
  auto after = upstream_stats(s.web);
  CHECK(after["requests"] == before["requests"]);
}

}  // namespace it
