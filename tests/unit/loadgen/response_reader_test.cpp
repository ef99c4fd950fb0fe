#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "response_reader.hpp"

using rampart::bench::response_reader;
using result = response_reader::result;

namespace {

struct outcome {
  result r = result::need_more;
  std::size_t used = 0;  // total bytes consumed
  unsigned status = 0;
  bool keep_alive = false;
  std::uint64_t bytes = 0;
};

// Feeds `text` in pieces of at most `piece` bytes; stops at complete/error. With `eof`, calls
// on_eof() when all input was consumed without completing.
outcome run(const std::string& text, std::size_t piece, bool head = false, bool eof = false) {
  response_reader rd;
  rd.start(head);
  outcome o;
  while (o.used < text.size()) {
    const std::size_t n = std::min(piece, text.size() - o.used);
    std::size_t used = 0;
    o.r = rd.feed(text.data() + o.used, n, used);
    o.used += used;
    if (o.r != result::need_more) break;
    REQUIRE(used == n);
  }
  if (o.r == result::need_more && eof) o.r = rd.on_eof();
  o.status = rd.status();
  o.keep_alive = rd.keep_alive();
  o.bytes = rd.bytes();
  return o;
}

// Runs `text` split at every piece size from 1 to its length and checks all agree.
outcome run_all_splits(const std::string& text, bool head = false, bool eof = false) {
  const outcome whole = run(text, text.size() + 1, head, eof);
  for (std::size_t piece = 1; piece <= text.size(); ++piece) {
    const outcome o = run(text, piece, head, eof);
    INFO("piece " << piece);
    REQUIRE(o.r == whole.r);
    REQUIRE(o.used == whole.used);
    REQUIRE(o.status == whole.status);
    REQUIRE(o.keep_alive == whole.keep_alive);
  }
  return whole;
}

}  // namespace

TEST_CASE("content-length response, split anywhere, leaves the next bytes alone") {
  const std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: y\r\n\r\nhello";
  const auto o = run_all_splits(resp + "HTTP/1.1 200 OK\r\n");
  CHECK(o.r == result::complete);
  CHECK(o.used == resp.size());
  CHECK(o.bytes == resp.size());
  CHECK(o.status == 200);
  CHECK(o.keep_alive);
}

TEST_CASE("chunked response with extensions and trailers") {
  const std::string resp =
      "HTTP/1.1 201 Created\r\ntransfer-encoding: gzip, Chunked\r\n\r\n"
      "5;ext=1\r\nhello\r\nA \r\n0123456789\r\n0\r\nTrailer: v\r\n\r\n";
  const auto o = run_all_splits(resp);
  CHECK(o.r == result::complete);
  CHECK(o.used == resp.size());
  CHECK(o.status == 201);
}

TEST_CASE("interim 1xx responses are skipped, 101 ends the exchange") {
  const std::string resp =
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
      "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno";
  auto o = run_all_splits(resp);
  CHECK(o.r == result::complete);
  CHECK(o.status == 404);
  CHECK(o.bytes == resp.size());

  o = run_all_splits("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n");
  CHECK(o.r == result::complete);
  CHECK(o.status == 101);
  CHECK_FALSE(o.keep_alive);
}

TEST_CASE("Connection: close, HTTP/1.0 and close-delimited bodies") {
  auto o = run_all_splits("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx");
  CHECK(o.r == result::complete);
  CHECK_FALSE(o.keep_alive);

  o = run_all_splits("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
  CHECK(o.r == result::complete);
  CHECK_FALSE(o.keep_alive);

  o = run_all_splits("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n");
  CHECK(o.keep_alive);

  // No length: the body runs to the close.
  o = run("HTTP/1.1 200 OK\r\n\r\nbody until close", 4, false, false);
  CHECK(o.r == result::need_more);
  o = run_all_splits("HTTP/1.1 200 OK\r\n\r\nbody until close", false, true);
  CHECK(o.r == result::complete);
  CHECK_FALSE(o.keep_alive);
}

TEST_CASE("bodiless responses: HEAD, 204, 304") {
  auto o = run_all_splits("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", true);
  CHECK(o.r == result::complete);
  o = run_all_splits("HTTP/1.1 204 No Content\r\n\r\n");
  CHECK(o.r == result::complete);
  CHECK(o.keep_alive);
  o = run_all_splits("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n");
  CHECK(o.r == result::complete);
}

TEST_CASE("bare LF line endings are accepted") {
  const auto o = run_all_splits("HTTP/1.1 200 OK\nContent-Length: 2\n\nok");
  CHECK(o.r == result::complete);
}

TEST_CASE("truncated responses are errors at EOF") {
  CHECK(run("", 10, false, true).r == result::error);
  CHECK(run("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", 100, false, true).r == result::error);
  CHECK(run("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", 100, false, true).r == result::error);
  CHECK(run("HTTP/1.1 200 O", 100, false, true).r == result::error);
}

TEST_CASE("malformed responses are protocol errors") {
  const std::vector<std::string> bad = {
      "HTTP/2.0 200 OK\r\n\r\n",
      "HTTP/1.1 20 OK\r\n\r\n",
      "HTTP/1.1 2000 OK\r\n\r\n",
      "HTTP/1.1 099 Low\r\n\r\n",
      "HTTP/1.1 600 High\r\n\r\n",
      "ICY 200 OK\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx",
      "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n",
      "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
      "HTTP/1.1 200 OK\r\nBad Name: v\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n",
  };
  for (const auto& text : bad) {
    INFO(text);
    CHECK(run(text, text.size(), false, false).r == result::error);
    CHECK(run(text, 1, false, false).r == result::error);
  }
  // Duplicate but equal lengths are fine.
  CHECK(run("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", 3).r == result::complete);
}

TEST_CASE("oversized heads are rejected") {
  std::string resp = "HTTP/1.1 200 OK\r\n";
  while (resp.size() <= response_reader::max_head_bytes) resp += "X-Filler: 0123456789012345678901234567890123456789\r\n";
  resp += "\r\n";
  CHECK(run(resp, 1000).r == result::error);
  CHECK(run(resp, resp.size()).r == result::error);
}

TEST_CASE("the reader is reusable after start()") {
  response_reader rd;
  const std::string a = "HTTP/1.1 500 X\r\nContent-Length: 0\r\n\r\n";
  const std::string b = "HTTP/1.1 302 Y\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
  std::size_t used = 0;
  rd.start(false);
  REQUIRE(rd.feed(a.data(), a.size(), used) == result::complete);
  CHECK(rd.status() == 500);
  rd.start(false);
  REQUIRE(rd.feed(b.data(), b.size(), used) == result::complete);
  CHECK(rd.status() == 302);
  CHECK(rd.bytes() == b.size());
}
