// HTTP/2 upstream pools with plain HTTP semantics: rampart A (`protocol: h2` pool) in front of
// rampart B (an h2c listener, or TLS with ALPN h2) in front of rampart-upstream. Bodies both ways,
// HEAD, trailers, many requests in flight over one upstream connection, and the TLS/ALPN path
// (including an upstream that does not choose h2).
#include "fixtures.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

namespace it {
namespace {

void make_cert(const std::string& dir) {
  run_tool("/usr/bin/openssl", {"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                                "-keyout", dir + "/key.pem", "-out", dir + "/cert.pem"});
  REQUIRE(std::ifstream(dir + "/cert.pem").good());
}

// B: an HTTP/2 server in front of rampart-upstream "web" (h2c listener "h2c"; with `tls_dir`, a
// TLS listener "tls" offering `alpn`).
std::string backend_config(const Upstream& web, const std::string& tls_dir = "", const std::string& alpn = "") {
  std::string tls;
  if (!tls_dir.empty())
    tls = "  - name: tls\n    address: \"127.0.0.1:0\"\n    tls: {certificates: [{cert: \"" + tls_dir +
          "/cert.pem\", key: \"" + tls_dir + "/key.pem\"}], alpn: " + alpn + "}\n";
  return "version: 1\nworkers: 1\nwatch: false\nadmin: false\n"
         "listeners:\n  - {name: h2c, address: \"127.0.0.1:0\", h2c: true}\n" + tls +
         "defaults: {max_body_size: 8m}\n"
         "servers:\n  - name: b\n    hosts: [\"*\"]\n    routes:\n      - {name: web, path: /, upstream: web}\n"
         "upstreams:\n  - {name: web, endpoints: [\"" + web.address() + "\"]}\n";
}

// A: HTTP/1.1 and h2c listeners, one h2 pool to `endpoint` (with `tls` settings when given).
std::string front_config(const std::string& endpoint, const std::string& tls = "") {
  return "version: 1\nworkers: 1\nwatch: false\nadmin: {address: \"127.0.0.1:0\"}\n"
         "listeners:\n  - {name: http, address: \"127.0.0.1:0\", h2c: true}\n"
         "defaults: {max_body_size: 8m, connect_timeout: 2s}\n"
         "servers:\n  - name: a\n    hosts: [\"*\"]\n    routes:\n      - {name: all, path: /, upstream: b}\n"
         "upstreams:\n  - {name: b, protocol: h2, endpoints: [\"" + endpoint + "\"]" + tls + "}\n";
}

std::string url(const Proxy& p, const std::string& path) {
  return "http://127.0.0.1:" + std::to_string(p.port("http")) + path;
}

}  // namespace

TEST_CASE("h2 upstream: HTTP/1.1 and HTTP/2 clients reach an h2c upstream multiplexed over one connection") {
  Upstream web{"web"};
  Proxy b(backend_config(web));
  Proxy a(front_config("127.0.0.1:" + std::to_string(b.port("h2c"))));
  INFO(a.process().output());
  INFO(b.process().output());
  TempDir tmp;

  SECTION("bodies both ways, HEAD, trailers") {
    Response r = get(a.port("http"), "/?size=3000");
    REQUIRE_RESPONSE(r);
    CHECK(r.status == 200);
    CHECK(r.body.size() == 3000);

    std::string data(1u << 20, '\0');
    std::uint32_t x = 2463534242u;
    for (auto& ch : data) {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      ch = static_cast<char>(x & 0xff);
    }
    const std::string file = tmp.write("up.bin", data);
    for (const char* mode : {"--http1.1", "--http2-prior-knowledge"}) {
      INFO(mode);
      CurlResult c = curl({mode, "--data-binary", "@" + file, "-o", tmp.path() + "/echo", url(a, "/echo")});
      REQUIRE(c.exit_code == 0);
      std::ifstream in(tmp.path() + "/echo");
      const std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      Echo e = parse_echo(body);
      INFO(e.error << " " << body.substr(0, 300));
      REQUIRE(e.ok);
      CHECK(e.body_bytes == data.size());
      CHECK(e.crc32 == crc32_hex(data));
      // B saw the request over HTTP/2 (its access to the body came as DATA; the echo is from web).
      CHECK(e.method == "POST");
    }

    CurlResult head = curl({"--http1.1", "-I", url(a, "/?size=5000")});
    REQUIRE(head.exit_code == 0);
    CHECK(head.out.rfind("HTTP/1.1 200", 0) == 0);
    CHECK(std::regex_search(head.out, std::regex("\ncontent-length: 5000\r?\n", std::regex::icase)));

    CurlResult tr = curl({"--http1.1", "--raw", url(a, "/?chunked=1&size=2000&trailer=grpc-status:0&trailer=x-sum:42")});
    REQUIRE(tr.exit_code == 0);
    const auto last = tr.out.rfind("\r\n0\r\n");
    REQUIRE(last != std::string::npos);
    CHECK(tr.out.substr(last) == "\r\n0\r\ngrpc-status: 0\r\nx-sum: 42\r\n\r\n");
  }

  SECTION("400 requests, 40 in flight, over one upstream connection") {
    const std::string out = run_tool("/usr/bin/h2load", {"-n400", "-c1", "-m40", url(a, "/?size=200")}, 30s);
    INFO(out);
    CHECK(out.find("400 succeeded, 0 failed, 0 errored, 0 timeout") != std::string::npos);
    const auto m = scrape(a);
    CHECK(metric(m, "rampart_upstream_requests_total", {{"upstream", "b"}, {"code_class", "2xx"}}) == 400);
    CHECK(metric(m, "rampart_upstream_connect_duration_seconds_count", {{"upstream", "b"}}) == 1);
  }
}

TEST_CASE("h2 upstream: TLS with ALPN h2 is verified and multiplexed, an upstream without h2 fails like a connect failure") {
  Upstream web{"web"};
  TempDir certs;
  make_cert(certs.path());
  const std::string tls = ", tls: {ca: \"" + certs.path() + "/cert.pem\", server_name: localhost}";

  Proxy b(backend_config(web, certs.path(), "[h2, \"http/1.1\"]"));
  Proxy a(front_config("127.0.0.1:" + std::to_string(b.port("tls")), tls));
  INFO(a.process().output());
  for (int i = 0; i < 5; ++i) {
    Response r = get(a.port("http"), "/?size=100");
    REQUIRE_RESPONSE(r);
    CHECK(r.status == 200);
  }
  auto m = scrape(a);
  CHECK(metric(m, "rampart_upstream_connect_duration_seconds_count", {{"upstream", "b"}}) == 1);

  // B offers http/1.1 only: A's handshake succeeds but no h2 was chosen: 502, logged once.
  Proxy b1(backend_config(web, certs.path(), "[\"http/1.1\"]"));
  Proxy a1(front_config("127.0.0.1:" + std::to_string(b1.port("tls")), tls));
  Response r = get(a1.port("http"), "/");
  REQUIRE_RESPONSE(r);
  CHECK(r.status == 502);
  a1.process().wait_for_line(std::regex("did not choose h2 by ALPN"), 5s);
}

}  // namespace it

namespace it {

// An HTTP health check of a TLS h2 pool runs over TLS with ALPN h2: it passes against a backend
// that chooses h2, and fails against one that only offers http/1.1 (whose HTTP/1.1 answer would
// otherwise have passed).
TEST_CASE("h2 upstream: HTTP health checks over TLS use ALPN h2 and fail when the endpoint does not choose it") {
  Upstream web{"web"};
  TempDir certs;
  make_cert(certs.path());
  const std::string settings = ", tls: {ca: \"" + certs.path() +
                               "/cert.pem\", server_name: localhost}, health_check: {path: /, interval: 100ms, "
                               "timeout: 1s, jitter: 0, unhealthy_threshold: 1}";
  const auto checks = [](const Proxy& p, const std::string& endpoint, const char* result) {
    return metric(scrape(p), "rampart_upstream_health_checks_total",
                  {{"upstream", "b"}, {"endpoint", endpoint}, {"result", result}});
  };
  const auto healthy = [](const Proxy& p, const std::string& endpoint) {
    return metric(scrape(p), "rampart_upstream_endpoint_healthy", {{"upstream", "b"}, {"endpoint", endpoint}});
  };
  // A backend offering `alpn` (its TLS listener), probed by a front whose pool is h2 over TLS:
  // `passes` says whether every probe passes (or every one fails).
  const auto probe = [&](const std::string& alpn, bool passes) {
    Proxy b(backend_config(web, certs.path(), alpn));
    const std::string endpoint = "127.0.0.1:" + std::to_string(b.port("tls"));
    Proxy a(front_config(endpoint, settings));
    INFO(a.process().output());
    REQUIRE(eventually([&] { return checks(a, endpoint, passes ? "passed" : "failed") >= 3; }, 10s));
    CHECK(checks(a, endpoint, passes ? "failed" : "passed") == 0);
    CHECK(healthy(a, endpoint) == (passes ? 1 : 0));
  };
  probe("[h2, \"http/1.1\"]", true);
  probe("[\"http/1.1\"]", false);
}

}  // namespace it
