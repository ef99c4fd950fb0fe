// Forwarding: the upstream request head.
#include "http/forward.hpp"

#include <catch2/catch.hpp>

using namespace rampart;
using namespace rampart::http;

namespace {

RequestHead get_request(std::vector<Header> headers, std::string_view host = "example.com") {
  RequestHead req;
  req.method_text = "GET";
  req.method = Method::get;
  req.target = "/a?b=1";
  req.path = "/a";
  req.query = "b=1";
  req.headers = std::move(headers);
  req.host = host;
  return req;
}

ForwardInfo untrusted() {
  ForwardInfo info;
  info.client_ip = "203.0.113.7";
  info.from_trusted_proxy = false;
  info.scheme = "https";
  info.request_id = "rid-1";
  return info;
}

std::string upstream(const RequestHead& req, const config::HeaderOps& ops = {}, const ForwardInfo& info = untrusted(),
                     std::string_view target = "/a?b=1") {
  std::string out;
  write_upstream_request(req, target, ops, info, out);
  return out;
}

}  // namespace

TEST_CASE("hop-by-hop names", "[forward]") {
  for (auto n : {"Connection", "keep-alive", "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding", "UPGRADE"})
    CHECK(is_hop_by_hop(n));
  for (auto n : {"Host", "Content-Length", "Proxy-Authenticate", "Accept", "Tea", "X-Upgrade", ""})
    CHECK_FALSE(is_hop_by_hop(n));
}

TEST_CASE("named_in_connection parses comma lists case-insensitively", "[forward]") {
  std::vector<Header> h{{"Connection", "keep-alive , X-Secret,,\tFoo "}, {"connection", "close"}};
  CHECK(named_in_connection(h, "x-secret"));
  CHECK(named_in_connection(h, "FOO"));
  CHECK(named_in_connection(h, "close"));
  CHECK(named_in_connection(h, "Keep-Alive"));
  CHECK_FALSE(named_in_connection(h, "x-secre"));
  CHECK_FALSE(named_in_connection(h, ""));
  CHECK_FALSE(named_in_connection({{"X-Other", "foo"}}, "foo"));
}

TEST_CASE("a plain GET is forwarded with forwarding fields", "[forward][request]") {
  auto req = get_request({{"Host", "example.com"}, {"Accept", "*/*"}, {"User-Agent", "t/1"}});
  CHECK(upstream(req) ==
        "GET /a?b=1 HTTP/1.1\r\n"
        "Accept: */*\r\n"
        "User-Agent: t/1\r\n"
        "Host: example.com\r\n"
        "X-Forwarded-For: 203.0.113.7\r\n"
        "X-Forwarded-Proto: https\r\n"
        "X-Forwarded-Host: example.com\r\n"
        "X-Request-ID: rid-1\r\n"
        "\r\n");
}

TEST_CASE("the given target replaces the received one and output is appended", "[forward][request]") {
  auto req = get_request({{"Host", "example.com"}});
  req.version_minor = 0;  // HTTP/1.0 clients still go upstream as HTTP/1.1
  std::string out = "previous";
  write_upstream_request(req, "/rewritten", {}, untrusted(), out);
  CHECK(out.rfind("previousGET /rewritten HTTP/1.1\r\n", 0) == 0);
}

TEST_CASE("hop-by-hop and Connection-named fields are stripped", "[forward][request]") {
  auto req = get_request({{"Host", "example.com"},
                          {"Connection", "keep-alive, X-Secret, Host, Content-Length"},
                          {"Keep-Alive", "timeout=5"},
                          {"Proxy-Connection", "keep-alive"},
                          {"TE", "trailers"},
                          {"Trailer", "X-Sum"},
                          {"X-Secret", "s3cr3t"},
                          {"x-secret", "again"},
                          {"Content-Length", "3"},
                          {"X-Kept", "1"}});
  req.method_text = "POST";
  req.body = BodyKind::content_length;
  req.content_length = 3;
  auto out = upstream(req);
  CHECK(out ==
        "POST /a?b=1 HTTP/1.1\r\n"
        "X-Kept: 1\r\n"
        "Host: example.com\r\n"
        "X-Forwarded-For: 203.0.113.7\r\n"
        "X-Forwarded-Proto: https\r\n"
        "X-Forwarded-Host: example.com\r\n"
        "X-Request-ID: rid-1\r\n"
        "Content-Length: 3\r\n"
        "\r\n");
}

TEST_CASE("X-Forwarded-* from an untrusted peer are replaced", "[forward][request][xff]") {
  auto req = get_request({{"Host", "example.com"},
                          {"X-Forwarded-For", "10.0.0.1"},
                          {"X-Forwarded-Proto", "http"},
                          {"X-Forwarded-Host", "evil.test"},
                          {"X-Request-ID", "spoofed"}});
  auto out = upstream(req);
  CHECK(out ==
        "GET /a?b=1 HTTP/1.1\r\n"
        "Host: example.com\r\n"
        "X-Forwarded-For: 203.0.113.7\r\n"
        "X-Forwarded-Proto: https\r\n"
        "X-Forwarded-Host: example.com\r\n"
        "X-Request-ID: rid-1\r\n"
        "\r\n");
}

TEST_CASE("X-Forwarded-* from a trusted peer are kept and appended to", "[forward][request][xff]") {
  auto req = get_request({{"Host", "example.com"},
                          {"X-Forwarded-For", "198.51.100.1, 10.0.0.1"},
                          {"x-forwarded-for", "10.0.0.2"},
                          {"X-Forwarded-Proto", "http"},
                          {"X-Forwarded-Host", "public.example"},
                          {"X-Request-ID", "upstream-id"}});
  auto info = untrusted();
  info.from_trusted_proxy = true;
  info.request_id = "upstream-id";  // the caller decided to keep it
  CHECK(upstream(req, {}, info) ==
        "GET /a?b=1 HTTP/1.1\r\n"
        "Host: example.com\r\n"
        "X-Forwarded-For: 198.51.100.1, 10.0.0.1, 10.0.0.2, 203.0.113.7\r\n"
        "X-Forwarded-Proto: http\r\n"
        "X-Forwarded-Host: public.example\r\n"
        "X-Request-ID: upstream-id\r\n"
        "\r\n");
}

TEST_CASE("trusted peer without incoming X-Forwarded-* gets fresh values", "[forward][request][xff]") {
  auto req = get_request({{"Host", "example.com:8443"}}, "example.com:8443");
  auto info = untrusted();
  info.from_trusted_proxy = true;
  CHECK(upstream(req, {}, info) ==
        "GET /a?b=1 HTTP/1.1\r\n"
        "Host: example.com:8443\r\n"
        "X-Forwarded-For: 203.0.113.7\r\n"
        "X-Forwarded-Proto: https\r\n"
        "X-Forwarded-Host: example.com:8443\r\n"
        "X-Request-ID: rid-1\r\n"
        "\r\n");
}

TEST_CASE("X-Forwarded-For named in Connection is not trusted as incoming", "[forward][request][xff]") {
  auto req = get_request({{"Host", "example.com"}, {"Connection", "x-forwarded-for"}, {"X-Forwarded-For", "1.2.3.4"}});
  auto info = untrusted();
  info.from_trusted_proxy = true;
  auto out = upstream(req, {}, info);
  CHECK(out.find("X-Forwarded-For: 203.0.113.7\r\n") != std::string::npos);
  CHECK(out.find("1.2.3.4") == std::string::npos);
}

TEST_CASE("an empty request id is not sent", "[forward][request]") {
  auto req = get_request({{"Host", "example.com"}, {"X-Request-ID", "theirs"}});
  auto info = untrusted();
  info.request_id = {};
  auto out = upstream(req, {}, info);
  CHECK(out.find("X-Request-ID") == std::string::npos);
  CHECK(out.find("theirs") == std::string::npos);
}

TEST_CASE("header ops: remove, set, add", "[forward][request][ops]") {
  auto req = get_request({{"Host", "example.com"},
                          {"Cookie", "a=1"},
                          {"X-Env", "dev"},
                          {"Accept", "text/html"},
                          {"x-env", "test"},
                          {"X-Tag", "orig"}});
  config::HeaderOps ops;
  ops.remove = {"cookie"};
  ops.set = {{"x-env", "prod"}};
  ops.add = {{"x-tag", "added"}, {"x-new", "v"}};
  CHECK(upstream(req, ops) ==
        "GET /a?b=1 HTTP/1.1\r\n"
        "Accept: text/html\r\n"
        "X-Tag: orig\r\n"
        "x-env: prod\r\n"
        "x-tag: added\r\n"
        "x-new: v\r\n"
        "Host: example.com\r\n"
        "X-Forwarded-For: 203.0.113.7\r\n"
        "X-Forwarded-Proto: https\r\n"
        "X-Forwarded-Host: example.com\r\n"
        "X-Request-ID: rid-1\r\n"
        "\r\n");
}

TEST_CASE("header ops on generated and framing fields", "[forward][request][ops]") {
  auto req = get_request({{"Host", "example.com"}});
  req.method_text = "PUT";
  req.body = BodyKind::chunked;
  config::HeaderOps ops;
  ops.set = {{"host", "backend.internal"}, {"content-length", "0"}, {"x-forwarded-proto", "http"}};
  ops.remove = {"x-forwarded-host", "host", "transfer-encoding"};
  ops.add = {{"host", "second"}, {"connection", "close"}};
  CHECK(upstream(req, ops) ==
        "PUT /a?b=1 HTTP/1.1\r\n"
        "host: backend.internal\r\n"
        "x-forwarded-proto: http\r\n"
        "X-Forwarded-For: 203.0.113.7\r\n"
        "X-Request-ID: rid-1\r\n"
        "Transfer-Encoding: chunked\r\n"
        "\r\n");
}

TEST_CASE("op values with CR or LF are never written", "[forward][request][ops]") {
  auto req = get_request({{"Host", "example.com"}});
  config::HeaderOps ops;
  ops.add = {{"x-bad", "a\r\nInjected: 1"}};
  auto out = upstream(req, ops);
  CHECK(out.find("Injected") == std::string::npos);
  CHECK(out.find("x-bad") == std::string::npos);
}

TEST_CASE("request framing lines", "[forward][request][framing]") {
  auto req = get_request({{"Host", "h"}, {"Transfer-Encoding", "gzip, chunked"}}, "h");
  auto info = untrusted();
  info.request_id = {};
  SECTION("chunked is re-declared as plain chunked") {
    req.body = BodyKind::chunked;
    auto out = upstream(req, {}, info);
    CHECK(out.find("gzip") == std::string::npos);
    CHECK(out.ends_with("X-Forwarded-Host: h\r\nTransfer-Encoding: chunked\r\n\r\n"));
  }
  SECTION("content length") {
    req.headers = {{"Host", "h"}, {"Content-Length", "12"}};
    req.body = BodyKind::content_length;
    req.content_length = 12;
    CHECK(upstream(req, {}, info).ends_with("X-Forwarded-Host: h\r\nContent-Length: 12\r\n\r\n"));
  }
  SECTION("zero content length is still declared") {
    req.headers = {{"Host", "h"}, {"Content-Length", "0"}};
    req.body = BodyKind::content_length;
    req.content_length = 0;
    CHECK(upstream(req, {}, info).ends_with("Content-Length: 0\r\n\r\n"));
  }
  SECTION("no body, no framing") {
    req.headers = {{"Host", "h"}};
    req.body = BodyKind::none;
    auto out = upstream(req, {}, info);
    CHECK(out.ends_with("X-Forwarded-Host: h\r\n\r\n"));
    CHECK(out.find("Content-Length") == std::string::npos);
    CHECK(out.find("Connection") == std::string::npos);
  }
}

TEST_CASE("upgrade requests keep Connection: upgrade and Upgrade", "[forward][request][upgrade]") {
  auto req = get_request({{"Host", "example.com"},
                          {"Connection", "Upgrade"},
                          {"Upgrade", "websocket"},
                          {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
                          {"Sec-WebSocket-Version", "13"}});
  req.upgrade = true;
  auto info = untrusted();
  info.request_id = {};
  CHECK(upstream(req, {}, info, "/ws") ==
        "GET /ws HTTP/1.1\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n"
        "Host: example.com\r\n"
        "X-Forwarded-For: 203.0.113.7\r\n"
        "X-Forwarded-Proto: https\r\n"
        "X-Forwarded-Host: example.com\r\n"
        "Connection: upgrade\r\n"
        "Upgrade: websocket\r\n"
        "\r\n");
}

TEST_CASE("a request without Host gets an empty Host upstream", "[forward][request]") {
  auto req = get_request({}, "");
  req.version_minor = 0;
  auto out = upstream(req);
  CHECK(out.find("Host: \r\n") != std::string::npos);
  CHECK(out.find("X-Forwarded-Host") == std::string::npos);
}
