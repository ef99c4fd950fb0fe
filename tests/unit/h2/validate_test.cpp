// HeaderBlock (RFC 9113 §8 checks and request assembly) without nghttp2, and Request::to_head.
#include "h2/validate.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

using namespace rampart;
using V = h2::HeaderBlock::Verdict;
using Fields = std::vector<std::pair<std::string, std::string>>;

namespace {

V run(const Fields& fields, h2::Request& out, std::uint32_t limit = 64 * 1024) {
  h2::HeaderBlock b(limit);
  b.start(h2::HeaderBlock::Kind::request);
  for (const auto& [n, v] : fields) b.add(n, v);
  return b.finish(out);
}

V run(const Fields& fields) {
  h2::Request r;
  return run(fields, r);
}

Fields base(const Fields& extra = {}) {
  Fields f = {{":method", "GET"}, {":scheme", "https"}, {":authority", "example.com"}, {":path", "/p?q=1"}};
  f.insert(f.end(), extra.begin(), extra.end());
  return f;
}

}  // namespace

TEST_CASE("h2 HeaderBlock assembles a request that owns its bytes", "[h2]") {
  h2::Request r;
  REQUIRE(run(base({{"accept", "text/html"}, {"cookie", "a=1"}, {"host", "example.com"}, {"cookie", "b=2"},
                    {"content-length", "42"}, {"x-e", ""}}),
              r) == V::ok);
  CHECK(r.method == "GET");
  CHECK(r.scheme == "https");
  CHECK(r.authority == "example.com");
  CHECK(r.path == "/p?q=1");
  CHECK(r.content_length == 42u);
  REQUIRE(r.headers.size() == 4);
  CHECK(r.headers[0].name == "accept");
  CHECK(r.headers[0].value == "text/html");
  CHECK(r.headers[1].name == "content-length");
  CHECK(r.headers[2].name == "x-e");
  CHECK(r.headers[2].value.empty());
  CHECK(r.headers[3].name == "cookie");  // crumbs joined, host dropped (it is the authority)
  CHECK(r.headers[3].value == "a=1; b=2");

  // Views survive a move of the Request, whatever the sizes (no small-buffer storage).
  const char* before = r.method.data();
  h2::Request moved = std::move(r);
  CHECK(moved.method.data() == before);
  CHECK(moved.path == "/p?q=1");
  CHECK(moved.headers[3].value == "a=1; b=2");
  h2::Request tiny;
  REQUIRE(run({{":method", "GET"}, {":scheme", "h"}, {":authority", "a"}, {":path", "/"}}, tiny) == V::ok);
  std::vector<h2::Request> v;
  v.push_back(std::move(tiny));
  v.reserve(100);  // moves again
  CHECK(v[0].method == "GET");
  CHECK(v[0].authority == "a");
}

TEST_CASE("h2 HeaderBlock takes the authority from host when :authority is absent", "[h2]") {
  h2::Request r;
  REQUIRE(run({{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {"host", "h.example:8080"}}, r) == V::ok);
  CHECK(r.authority == "h.example:8080");
  CHECK(r.headers.empty());
  CHECK(run(base({{"host", "EXAMPLE.COM"}})) == V::ok);  // equal ignoring case
  CHECK(run(base({{"host", "other.example"}})) == V::malformed);
}

TEST_CASE("h2 HeaderBlock rejects what RFC 9113 calls malformed", "[h2]") {
  CHECK(run(base({{"X-Up", "1"}})) == V::malformed);
  CHECK(run(base({{"x@y", "1"}})) == V::malformed);
  CHECK(run(base({{"x", "a\r"}})) == V::malformed);
  CHECK(run(base({{"x", "a\nb"}})) == V::malformed);
  CHECK(run(base({{"x", std::string("a\0", 2)}})) == V::malformed);
  CHECK(run(base({{"x", "\x7f"}})) == V::malformed);
  CHECK(run(base({{"x", " a"}})) == V::malformed);
  CHECK(run(base({{"x", "a "}})) == V::malformed);
  for (const char* n : {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"})
    CHECK(run(base({{n, "x"}})) == V::malformed);
  CHECK(run(base({{"te", "gzip"}})) == V::malformed);
  CHECK(run(base({{"te", "trailers"}})) == V::ok);
  CHECK(run(base({{":unknown", "1"}})) == V::malformed);
  CHECK(run(base({{":method", "GET"}})) == V::malformed);
  CHECK(run({{":method", "GET"}, {"a", "1"}, {":scheme", "https"}, {":authority", "a"}, {":path", "/"}}) ==
        V::malformed);
  CHECK(run({{":scheme", "https"}, {":authority", "a"}, {":path", "/"}}) == V::malformed);
  CHECK(run({{":method", "GET"}, {":authority", "a"}, {":path", "/"}}) == V::malformed);
  CHECK(run({{":method", "GET"}, {":scheme", "https"}, {":authority", "a"}}) == V::malformed);
  CHECK(run({{":method", "GET"}, {":scheme", "https"}, {":path", "/"}}) == V::malformed);
  CHECK(run({{":method", "GET"}, {":scheme", "https"}, {":authority", "a"}, {":path", "x"}}) == V::malformed);
  CHECK(run({{":method", "GET"}, {":scheme", "https"}, {":authority", "a"}, {":path", "*"}}) == V::malformed);
  CHECK(run({{":method", "OPTIONS"}, {":scheme", "https"}, {":authority", "a"}, {":path", "*"}}) == V::ok);
  CHECK(run({{":method", "GET"}, {":scheme", "https"}, {":authority", "a"}, {":path", "/#frag"}}) == V::malformed);
  CHECK(run(base({{"content-length", "1"}, {"content-length", "1"}})) == V::malformed);
  CHECK(run(base({{"content-length", "1,1"}})) == V::malformed);
  CHECK(run(base({{"content-length", "+1"}})) == V::malformed);
  CHECK(run(base({{"content-length", "99999999999999999999"}})) == V::malformed);
  CHECK(run(base({{"host", "a"}, {"host", "a"}})) == V::malformed);
}

TEST_CASE("h2 HeaderBlock refuses CONNECT and rejects malformed CONNECT", "[h2]") {
  CHECK(run({{":method", "CONNECT"}, {":authority", "up.example:443"}}) == V::connect);
  CHECK(run({{":method", "CONNECT"}, {":authority", "up.example:443"}, {":path", "/"}}) == V::malformed);
  CHECK(run({{":method", "CONNECT"}, {":authority", "up.example:443"}, {":scheme", "https"}}) == V::malformed);
  CHECK(run({{":method", "CONNECT"}}) == V::malformed);
}

TEST_CASE("h2 HeaderBlock stops holding bytes at the header list limit", "[h2]") {
  h2::HeaderBlock b(1024);
  b.start(h2::HeaderBlock::Kind::request);
  for (const auto& [n, v] : base()) b.add(n, v);
  for (int i = 0; i < 1000; ++i) b.add("x-fill", std::string(100, 'f'));
  CHECK(b.verdict() == V::too_large);
  CHECK(b.held_bytes() <= 1024);
  CHECK(b.list_size() > 100000);
  h2::Request r;
  CHECK(b.finish(r) == V::too_large);
  // The next block starts clean and reuses the buffers.
  b.start(h2::HeaderBlock::Kind::request);
  for (const auto& [n, v] : base()) b.add(n, v);
  CHECK(b.finish(r) == V::ok);
}

TEST_CASE("h2 HeaderBlock checks trailers and keeps nothing of them", "[h2]") {
  h2::HeaderBlock b(64 * 1024);
  b.start(h2::HeaderBlock::Kind::trailers);
  b.add("grpc-status", "0");
  b.add("x-sum", "abc");
  CHECK(b.finish_trailers() == V::ok);
  CHECK(b.held_bytes() == 0);
  b.start(h2::HeaderBlock::Kind::trailers);
  b.add(":path", "/");
  CHECK(b.finish_trailers() == V::malformed);
  b.start(h2::HeaderBlock::Kind::trailers);
  b.add("Grpc-Status", "0");
  CHECK(b.finish_trailers() == V::malformed);
}

TEST_CASE("h2 valid_authority", "[h2]") {
  CHECK(h2::valid_authority("example.com"));
  CHECK(h2::valid_authority("example.com:443"));
  CHECK(h2::valid_authority("127.0.0.1:8080"));
  CHECK(h2::valid_authority("[::1]"));
  CHECK(h2::valid_authority("[2001:db8::1]:443"));
  CHECK_FALSE(h2::valid_authority(""));
  CHECK_FALSE(h2::valid_authority("user@example.com"));
  CHECK_FALSE(h2::valid_authority("example.com:44a"));
  CHECK_FALSE(h2::valid_authority(":443"));
  CHECK_FALSE(h2::valid_authority("[::1"));
  CHECK_FALSE(h2::valid_authority("[]"));
  CHECK_FALSE(h2::valid_authority("exa mple.com"));
  CHECK_FALSE(h2::valid_authority("example.com/path"));
}

TEST_CASE("h2 Request to_head gives the HTTP/1.1 forwarding view", "[h2]") {
  h2::Request r;
  REQUIRE(run({{":method", "POST"}, {":scheme", "https"}, {":authority", "api.example"}, {":path", "/v1/x?a=b"},
               {"content-length", "10"}, {"expect", "100-continue"}},
              r) == V::ok);
  http::RequestHead head;
  r.end_stream = false;
  r.to_head(head);
  CHECK(head.method == http::Method::post);
  CHECK(head.method_text == "POST");
  CHECK(head.target == "/v1/x?a=b");
  CHECK(head.path == "/v1/x");
  CHECK(head.query == "a=b");
  CHECK(head.host == "api.example");
  CHECK(head.version_minor == 1);
  CHECK(head.body == http::BodyKind::content_length);
  CHECK(head.content_length == 10);
  CHECK(head.expect_continue);
  CHECK(head.headers.size() == 2);

  h2::Request g;
  REQUIRE(run(base(), g) == V::ok);
  g.end_stream = true;
  g.to_head(head);
  CHECK(head.method == http::Method::get);
  CHECK(head.body == http::BodyKind::none);
  CHECK_FALSE(head.expect_continue);
  CHECK(head.query == "q=1");

  h2::Request u;
  REQUIRE(run({{":method", "PUT"}, {":scheme", "https"}, {":authority", "a"}, {":path", "/"}}, u) == V::ok);
  u.end_stream = false;
  u.to_head(head);
  CHECK(head.body == http::BodyKind::chunked);  // length unknown
  CHECK(head.query.empty());
}
