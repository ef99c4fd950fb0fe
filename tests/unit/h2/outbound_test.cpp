// h2::OutboundBody, the outbound body both codecs keep: the data provider's answers, the queue
// mark, trailers, and recycling.
#include "h2/outbound.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using rampart::h2::OutboundBody;
using rampart::http::Header;

namespace {

std::vector<std::pair<std::string, std::string>> fields(const std::vector<nghttp2_nv>& nva) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& nv : nva)
    out.emplace_back(std::string(reinterpret_cast<const char*>(nv.name), nv.namelen),
                     std::string(reinterpret_cast<const char*>(nv.value), nv.valuelen));
  return out;
}

}  // namespace

TEST_CASE("outbound body: deferred while empty, frames of the queued bytes, EOF on the last", "[h2][outbound]") {
  OutboundBody body;
  std::vector<nghttp2_nv> nva;
  std::uint32_t flags = 0;
  CHECK(body.read(100, &flags, nva) == NGHTTP2_ERR_DEFERRED);
  CHECK(body.take_deferred());
  CHECK_FALSE(body.take_deferred());  // told once

  body.append("hello world", false, 1000);
  flags = 0;
  CHECK(body.read(5, &flags, nva) == 5);
  CHECK(flags == NGHTTP2_DATA_FLAG_NO_COPY);
  std::string wire;
  CHECK_FALSE(body.send(wire, 5, 1000));
  CHECK(wire == "hello");
  CHECK(body.queued() == 6);

  flags = 0;
  CHECK(body.read(100, &flags, nva) == 6);
  CHECK(flags == NGHTTP2_DATA_FLAG_NO_COPY);  // not ended: no EOF yet
  body.send(wire, 6, 1000);
  CHECK(wire == "hello world");
  CHECK(body.read(100, &flags, nva) == NGHTTP2_ERR_DEFERRED);

  body.append("!", true, 1000);
  CHECK(body.ended());
  flags = 0;
  CHECK(body.read(100, &flags, nva) == 1);
  CHECK(flags == (NGHTTP2_DATA_FLAG_NO_COPY | NGHTTP2_DATA_FLAG_EOF));
  CHECK(nva.empty());

  OutboundBody empty;
  empty.end();
  flags = 0;
  CHECK(empty.read(100, &flags, nva) == 0);  // an empty ended body: a zero-length final frame
  CHECK(flags == (NGHTTP2_DATA_FLAG_NO_COPY | NGHTTP2_DATA_FLAG_EOF));
}

TEST_CASE("outbound body: the mark is reported once the queue drains below it", "[h2][outbound]") {
  OutboundBody body;
  std::string wire;
  body.append(std::string(600, 'a'), false, 1000);
  body.append(std::string(600, 'b'), false, 1000);  // 1200 >= 1000: over the mark
  CHECK_FALSE(body.send(wire, 100, 1000));          // 1100 left: still over
  CHECK_FALSE(body.send(wire, 100, 1000));          // 1000 left: still at the mark
  CHECK(body.send(wire, 1, 1000));                  // 999: below, reported
  CHECK_FALSE(body.send(wire, 1, 1000));            // and only once
  CHECK(wire == std::string(202, 'a'));
  CHECK(body.queued() == 998);
}

TEST_CASE("outbound body: a large queue drained in pieces keeps its bytes in order", "[h2][outbound]") {
  OutboundBody body;
  std::string sent, expected;
  std::vector<nghttp2_nv> nva;
  for (int round = 0; round < 40; ++round) {
    std::string chunk(5000 + round * 37, static_cast<char>('a' + round % 26));
    expected += chunk;
    body.append(chunk, false, 1u << 30);
    while (body.queued() > 3000) {  // leave a tail behind: the queue is compacted, never reordered
      std::uint32_t flags = 0;
      const long n = body.read(16384, &flags, nva);
      REQUIRE(n > 0);
      body.send(sent, static_cast<std::size_t>(std::min<long>(n, 7000)), 1u << 30);
    }
  }
  body.append("", true, 1u << 30);
  std::uint32_t flags = 0;
  const long n = body.read(1u << 20, &flags, nva);
  CHECK((flags & NGHTTP2_DATA_FLAG_EOF) != 0);
  body.send(sent, static_cast<std::size_t>(n), 1u << 30);
  CHECK(sent == expected);
  CHECK(body.queued() == 0);
}

TEST_CASE("outbound body: trailers follow the last DATA, lower-cased, dropped fields left out", "[h2][outbound]") {
  OutboundBody body;
  body.append("data", false, 1000);
  const std::vector<Header> trailers = {{"Grpc-Status", "0"}, {"Connection", "x-drop"}, {"X-Drop", "1"},
                                        {"grpc-message", ""}};
  const auto drop = [](std::span<const Header> all, const Header& h, bool has_connection) {
    return rampart::http::iequals(h.name, "connection") ||
           (has_connection && rampart::h2::listed_in_connection(all, h.name));
  };
  body.end_with_trailers(trailers, drop);
  CHECK(body.ended());
  std::vector<nghttp2_nv> nva;
  std::uint32_t flags = 0;
  CHECK(body.read(2, &flags, nva) == 2);  // not the last bytes: no trailers yet
  CHECK(nva.empty());
  flags = 0;
  CHECK(body.read(100, &flags, nva) == 4);
  CHECK(flags == (NGHTTP2_DATA_FLAG_NO_COPY | NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM));
  CHECK(fields(nva) == std::vector<std::pair<std::string, std::string>>{{"grpc-status", "0"}, {"grpc-message", ""}});

  OutboundBody all_dropped;
  all_dropped.end_with_trailers(std::vector<Header>{{"Connection", "close"}}, drop);
  flags = 0;
  CHECK(all_dropped.read(100, &flags, nva) == 0);
  CHECK(flags == (NGHTTP2_DATA_FLAG_NO_COPY | NGHTTP2_DATA_FLAG_EOF));  // a plain end
  CHECK(nva.empty());
}

TEST_CASE("outbound body: clear() makes a recycled body new", "[h2][outbound]") {
  OutboundBody body;
  body.append(std::string(200000, 'x'), false, 100);
  std::vector<nghttp2_nv> nva;
  std::uint32_t flags = 0;
  body.end_with_trailers(std::vector<Header>{{"a", "b"}}, [](auto, auto&, bool) { return false; });
  body.clear();
  CHECK(body.queued() == 0);
  CHECK_FALSE(body.ended());
  CHECK(body.read(100, &flags, nva) == NGHTTP2_ERR_DEFERRED);
  body.append("z", true, 100);
  flags = 0;
  CHECK(body.read(100, &flags, nva) == 1);
  CHECK(flags == (NGHTTP2_DATA_FLAG_NO_COPY | NGHTTP2_DATA_FLAG_EOF));  // the old trailers are gone
  CHECK(nva.empty());
  std::string wire;
  CHECK_FALSE(body.send(wire, 1, 100));  // the old mark is gone too
}

TEST_CASE("listed_in_connection reads the Connection field's tokens", "[h2][outbound]") {
  const std::vector<Header> h = {{"Connection", " keep-alive ,X-Foo,, "}, {"connection", "Upgrade"}};
  CHECK(rampart::h2::has_connection_field(h));
  CHECK(rampart::h2::listed_in_connection(h, "x-foo"));
  CHECK(rampart::h2::listed_in_connection(h, "Keep-Alive"));
  CHECK(rampart::h2::listed_in_connection(h, "upgrade"));
  CHECK_FALSE(rampart::h2::listed_in_connection(h, "x-bar"));
  CHECK_FALSE(rampart::h2::listed_in_connection(h, ""));
  CHECK_FALSE(rampart::h2::has_connection_field(std::vector<Header>{{"connections", "a"}}));
}
