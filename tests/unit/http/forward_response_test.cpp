// Forwarding: the downstream response head and local responses.
#include "http/forward.hpp"

#include <catch2/catch.hpp>

using namespace rampart;
using namespace rampart::http;

namespace {

ResponseHead response(int status, std::string_view reason, std::vector<Header> headers,
                      BodyKind body = BodyKind::none, std::uint64_t length = 0) {
  ResponseHead r;
  r.status = status;
  r.reason = reason;
  r.headers = std::move(headers);
  r.body = body;
  r.content_length = length;
  return r;
}

std::string downstream(const ResponseHead& resp, const ResponseInfo& info = {}, const config::HeaderOps& ops = {}) {
  std::string out;
  write_downstream_response(resp, ops, info, out);
  return out;
}

ResponseInfo with_id(std::string_view id) {
  ResponseInfo info;
  info.request_id = id;
  return info;
}

}  // namespace

TEST_CASE("a content-length response", "[forward][response]") {
  auto resp = response(200, "OK",
                       {{"Content-Type", "text/plain"},
                        {"Content-Length", "5"},
                        {"Connection", "keep-alive, X-Internal"},
                        {"Keep-Alive", "timeout=5"},
                        {"X-Internal", "node-3"},
                        {"ETag", "\"x\""}},
                       BodyKind::content_length, 5);
  CHECK(downstream(resp, with_id("rid-9")) ==
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: text/plain\r\n"
        "ETag: \"x\"\r\n"
        "X-Request-ID: rid-9\r\n"
        "Content-Length: 5\r\n"
        "\r\n");
}

TEST_CASE("status line is HTTP/1.1 and keeps the upstream reason", "[forward][response]") {
  auto resp = response(404, "Nope", {{"Content-Length", "0"}}, BodyKind::content_length, 0);
  resp.version_minor = 0;
  CHECK(downstream(resp).rfind("HTTP/1.1 404 Nope\r\n", 0) == 0);
  resp.reason = {};
  CHECK(downstream(resp).rfind("HTTP/1.1 404 Not Found\r\n", 0) == 0);
}

TEST_CASE("Connection: close when the downstream connection ends", "[forward][response]") {
  auto resp = response(200, "OK", {{"Content-Length", "2"}}, BodyKind::content_length, 2);
  ResponseInfo info;
  info.keep_alive = false;
  CHECK(downstream(resp, info) == "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n");
}

TEST_CASE("chunked responses are re-declared as chunked", "[forward][response]") {
  auto resp = response(200, "OK", {{"Transfer-Encoding", "gzip, chunked"}, {"Trailer", "X-Sum"}}, BodyKind::chunked);
  CHECK(downstream(resp) == "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
}

TEST_CASE("until_close bodies", "[forward][response]") {
  auto resp = response(200, "OK", {{"Content-Type", "text/html"}}, BodyKind::until_close);
  SECTION("HTTP/1.1 clients get chunked and keep the connection") {
    CHECK(downstream(resp) == "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n");
  }
  SECTION("HTTP/1.0 clients get the body delimited by close") {
    ResponseInfo info;
    info.client_http11 = false;
    CHECK(downstream(resp, info) == "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n");
  }
}

TEST_CASE("HTTP/1.0 clients that stay connected are told keep-alive", "[forward][response]") {
  auto resp = response(200, "OK", {{"Content-Length", "1"}}, BodyKind::content_length, 1);
  ResponseInfo info;
  info.client_http11 = false;
  CHECK(downstream(resp, info) == "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\n");
}

TEST_CASE("responses to HEAD pass Content-Length on as received", "[forward][response][head]") {
  ResponseInfo info;
  info.head_request = true;
  SECTION("content length") {
    auto resp = response(200, "OK", {{"Content-Length", "1234"}}, BodyKind::none);
    CHECK(downstream(resp, info) == "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n");
  }
  SECTION("folded duplicate list is written once") {
    auto resp = response(200, "OK", {{"Content-Length", "7, 7"}}, BodyKind::none);
    CHECK(downstream(resp, info) == "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n");
  }
  SECTION("no Content-Length received: none written, no chunked either") {
    auto resp = response(200, "OK", {{"Transfer-Encoding", "chunked"}}, BodyKind::none);
    CHECK(downstream(resp, info) == "HTTP/1.1 200 OK\r\n\r\n");
  }
}

TEST_CASE("204 and 304 responses", "[forward][response]") {
  SECTION("204 never carries Content-Length") {
    auto resp = response(204, "No Content", {{"Content-Length", "0"}, {"X-A", "1"}});
    CHECK(downstream(resp) == "HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n");
  }
  SECTION("304 passes the received Content-Length") {
    auto resp = response(304, "Not Modified", {{"ETag", "\"e\""}, {"Content-Length", "99"}});
    CHECK(downstream(resp) == "HTTP/1.1 304 Not Modified\r\nETag: \"e\"\r\nContent-Length: 99\r\n\r\n");
  }
}

TEST_CASE("interim 1xx responses carry only end-to-end headers", "[forward][response][1xx]") {
  config::HeaderOps ops;
  ops.add = {{"x-added", "1"}};
  ResponseInfo info = with_id("rid");
  info.keep_alive = false;
  auto resp = response(103, "Early Hints", {{"Link", "</a.css>; rel=preload"}, {"Connection", "keep-alive"}});
  CHECK(downstream(resp, info, ops) == "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n");
  auto cont = response(100, "Continue", {});
  CHECK(downstream(cont, info, ops) == "HTTP/1.1 100 Continue\r\n\r\n");
}

TEST_CASE("101 switching protocols keeps the upgrade fields", "[forward][response][upgrade]") {
  auto resp = response(101, "Switching Protocols",
                       {{"Upgrade", "websocket"}, {"Connection", "Upgrade"}, {"Sec-WebSocket-Accept", "abc="}});
  ResponseInfo info = with_id("rid-5");
  info.upgrade = true;
  CHECK(downstream(resp, info) ==
        "HTTP/1.1 101 Switching Protocols\r\n"
        "Sec-WebSocket-Accept: abc=\r\n"
        "X-Request-ID: rid-5\r\n"
        "Connection: upgrade\r\n"
        "Upgrade: websocket\r\n"
        "\r\n");
  info.upgrade = false;  // not an upgrade we asked for: treated as interim, fields stripped
  CHECK(downstream(resp, info) == "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: abc=\r\n\r\n");
}

TEST_CASE("response header ops and request id", "[forward][response][ops]") {
  auto resp = response(200, "OK",
                       {{"Server", "backend/1.0"},
                        {"X-Request-ID", "from-upstream"},
                        {"Cache-Control", "no-cache"},
                        {"cache-control", "private"},
                        {"Vary", "Accept"},
                        {"Content-Length", "0"}},
                       BodyKind::content_length, 0);
  config::HeaderOps ops;
  ops.remove = {"server"};
  ops.set = {{"cache-control", "max-age=60"}, {"transfer-encoding", "identity"}};
  ops.add = {{"vary", "Origin"}};
  CHECK(downstream(resp, with_id("ours"), ops) ==
        "HTTP/1.1 200 OK\r\n"
        "Vary: Accept\r\n"
        "cache-control: max-age=60\r\n"
        "vary: Origin\r\n"
        "X-Request-ID: ours\r\n"
        "Content-Length: 0\r\n"
        "\r\n");
  // Without an id of our own the upstream's is passed through.
  CHECK(downstream(resp, {}, {}).find("X-Request-ID: from-upstream\r\n") != std::string::npos);
}

TEST_CASE("local responses", "[forward][local]") {
  std::string out = "kept:";
  SECTION("body with type, id, extra lines, keep-alive") {
    write_local_response(404, "text/plain", "not found\n", "X-A: 1\r\n", "rid", true, false, out);
    CHECK(out ==
          "kept:HTTP/1.1 404 Not Found\r\n"
          "Content-Type: text/plain\r\n"
          "Content-Length: 10\r\n"
          "X-Request-ID: rid\r\n"
          "X-A: 1\r\n"
          "\r\n"
          "not found\n");
  }
  SECTION("HEAD keeps Content-Length but omits the body; close announced") {
    write_local_response(200, "text/plain", "hello", "", "", false, true, out);
    CHECK(out == "kept:HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\n");
  }
  SECTION("redirect without body") {
    write_local_response(301, "", "", "Location: https://example.com/\r\n", "r", true, false, out);
    CHECK(out ==
          "kept:HTTP/1.1 301 Moved Permanently\r\n"
          "Content-Length: 0\r\n"
          "X-Request-ID: r\r\n"
          "Location: https://example.com/\r\n"
          "\r\n");
  }
  SECTION("a body without a type defaults to text/plain") {
    write_local_response(502, "", "bad gateway", "", "", true, false, out);
    CHECK(out.find("Content-Type: text/plain; charset=utf-8\r\nContent-Length: 11\r\n") != std::string::npos);
    CHECK(out.ends_with("\r\n\r\nbad gateway"));
  }
  SECTION("204 has no Content-Length and no body") {
    write_local_response(204, "text/plain", "ignored", "", "", true, false, out);
    CHECK(out == "kept:HTTP/1.1 204 No Content\r\n\r\n");
  }
}
