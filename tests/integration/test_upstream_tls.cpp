// TLS to upstreams end to end: rampart A proxies over TLS to rampart B (a TLS listener in front
// of a plain rampart-upstream), with certificates made by openssl in a temporary directory.
// Checks verification (CA, server name, IP SANs, verify: false), pooled keep-alive connections,
// session resumption, and bodies both ways (chunked and 1 MiB).
#include "fixtures.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <string>
#include <vector>

namespace it {
namespace {


// A self-signed P-256 certificate (its own CA) with subjectAltName `san` ("DNS:x,IP:y").
void make_cert(const std::string& dir, const std::string& stem, const std::string& cn, const std::string& san) {
  run_tool("/usr/bin/openssl", {"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                "-days", "2", "-subj", "/CN=" + cn, "-addext", "subjectAltName=" + san, "-keyout",
                                dir + "/" + stem + ".key", "-out", dir + "/" + stem + ".pem"});
  REQUIRE(std::ifstream(dir + "/" + stem + ".pem").good());
}

// Rampart B: TLS listener "https" with `stem`'s certificate, everything to `backend`.
std::string tls_front_config(const std::string& dir, const std::string& stem, const Upstream& backend) {
  return "version: 1\nworkers: 1\nwatch: false\nadmin: {address: \"127.0.0.1:0\"}\n"
         "listeners:\n  - name: https\n    address: \"127.0.0.1:0\"\n    tls:\n      certificates:\n"
         "        - {cert: \"" + dir + "/" + stem + ".pem\", key: \"" + dir + "/" + stem + ".key\"}\n"
         "servers:\n  - {name: s, hosts: [\"*\"], routes: [{name: all, path: /, upstream: backend}]}\n"
         "upstreams:\n  - {name: backend, endpoints: [\"" + backend.address() + "\"]}\n";
}

// Rampart A: plain listener "http", everything to pool `b` at `endpoint` with `tls` (a YAML flow value).
std::string tls_client_config(const std::string& endpoint, const std::string& tls, const std::string& pool_extra = "") {
  return "version: 1\nworkers: 1\nwatch: false\nadmin: {address: \"127.0.0.1:0\"}\n"
         "listeners:\n  - {name: http, address: \"127.0.0.1:0\"}\n"
         "servers:\n  - {name: s, hosts: [\"*\"], routes: [{name: all, path: /, upstream: b, retry: false}]}\n"
         "upstreams:\n  - {name: b, endpoints: [\"" + endpoint + "\"], tls: " + tls + pool_extra + "}\n";
}

std::string header_of(const Echo& e, const std::string& name) {
  for (const auto& [n, v] : e.headers) {
    if (n.size() != name.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < n.size(); ++i)
      same = same && std::tolower(static_cast<unsigned char>(n[i])) == std::tolower(static_cast<unsigned char>(name[i]));
    if (same) return v;
  }
  return "";
}

}  // namespace

TEST_CASE("upstream tls: requests reach a TLS upstream, verified, pooled, bodies both ways") {
  TempDir dir;
  make_cert(dir.path(), "b", "localhost", "DNS:localhost");
  Upstream backend("tlsbackend");
  Proxy b(tls_front_config(dir.path(), "b", backend));
  const std::string b_addr = "127.0.0.1:" + std::to_string(b.port("https"));
  Proxy a(tls_client_config(b_addr, "{ca: \"" + dir.path() + "/b.pem\", server_name: localhost}"));

  // Over TLS: B saw an https request (it sets X-Forwarded-Proto from its own listener).
  for (int i = 0; i < 20; ++i) {
    Response r = get(a.port(), "/echo");
    REQUIRE_RESPONSE(r);
    REQUIRE(r.status == 200);
    Echo e = require_echo(r);
    CHECK(e.upstream == "tlsbackend");
    CHECK(header_of(e, "x-forwarded-proto") == "https");
  }
  // Keep-alive: 20 requests (and the bodies below) over very few TLS connections.
  {
    auto bm = scrape(b);
    CHECK(metric(bm, "rampart_connections_total", {{"listener", "https"}}) <= 2);
    CHECK(metric(bm, "rampart_tls_handshakes_total", {{"listener", "https"}}) <= 2);
    auto am = scrape(a);
    CHECK(metric(am, "rampart_upstream_connection_reuses_total", {{"upstream", "b"}}) >= 18);
    CHECK(metric(am, "rampart_upstream_connect_failures_total", {{"upstream", "b"}}) == 0);
  }

  // 1 MiB request body (content-length) and its echo.
  const std::string big(1 << 20, 'x');
  {
    Response r = fetch(a.port(), "POST /echo HTTP/1.1\r\nHost: test.local\r\nContent-Length: " +
                                     std::to_string(big.size()) + "\r\nConnection: close\r\n\r\n" + big, 10s);
    REQUIRE_RESPONSE(r);
    REQUIRE(r.status == 200);
    Echo e = require_echo(r);
    CHECK(e.body_bytes == big.size());
    CHECK(e.crc32 == crc32_hex(big));
  }
  // A chunked request body.
  {
    std::string chunked;
    std::string whole;
    for (int i = 0; i < 50; ++i) {
      const std::string piece(1000 + i, static_cast<char>('a' + i % 26));
      char size[16];
      std::snprintf(size, sizeof size, "%zx", piece.size());
      chunked += std::string(size) + "\r\n" + piece + "\r\n";
      whole += piece;
    }
    chunked += "0\r\n\r\n";
    Response r = fetch(a.port(), "POST /echo HTTP/1.1\r\nHost: test.local\r\nTransfer-Encoding: chunked\r\n"
                                 "Connection: close\r\n\r\n" + chunked, 10s);
    REQUIRE_RESPONSE(r);
    REQUIRE(r.status == 200);
    Echo e = require_echo(r);
    CHECK(e.body_bytes == whole.size());
    CHECK(e.crc32 == crc32_hex(whole));
  }
  // 1 MiB response bodies, content-length and chunked.
  for (const std::string target : {"/file?size=1048576", "/file?size=1048576&chunked=1"}) {
    INFO(target);
    Response r = get(a.port(), target);
    REQUIRE_RESPONSE(r);
    CHECK(r.status == 200);
    CHECK(r.body.size() == 1048576);
  }
  auto bm = scrape(b);
  CHECK(metric(bm, "rampart_connections_total", {{"listener", "https"}}) <= 3);
}

TEST_CASE("upstream tls: a new connection resumes the previous TLS session") {
  TempDir dir;
  make_cert(dir.path(), "b", "localhost", "DNS:localhost");
  Upstream backend("tlsbackend");
  Proxy b(tls_front_config(dir.path(), "b", backend));
  const std::string b_addr = "127.0.0.1:" + std::to_string(b.port("https"));
  // One request per connection: every request opens (and resumes) a TLS connection.
  Proxy a(tls_client_config(b_addr, "{ca: \"" + dir.path() + "/b.pem\", server_name: localhost}",
                            ", max_requests_per_connection: 1"));
  for (int i = 0; i < 5; ++i) {
    Response r = get(a.port(), "/echo");
    REQUIRE_RESPONSE(r);
    REQUIRE(r.status == 200);
  }
  auto bm = scrape(b);
  CHECK(metric(bm, "rampart_tls_handshakes_total", {{"listener", "https"}}) == 5);
  CHECK(metric(bm, "rampart_tls_handshakes_total", {{"listener", "https"}, {"resumed", "true"}}) >= 3);
}

TEST_CASE("upstream tls: a wrong CA or server name is a connect failure, verify false accepts any certificate") {
  TempDir dir;
  make_cert(dir.path(), "b", "localhost", "DNS:localhost");
  make_cert(dir.path(), "other", "localhost", "DNS:localhost");  // same name, another key: an unrelated CA
  Upstream backend("tlsbackend");
  Proxy b(tls_front_config(dir.path(), "b", backend));
  const std::string b_addr = "127.0.0.1:" + std::to_string(b.port("https"));

  auto expect_502 = [&](const std::string& tls, const std::string& log_part) {
    INFO("tls: " << tls);
    Proxy a(tls_client_config(b_addr, tls));
    for (int i = 0; i < 3; ++i) {
      Response r = get(a.port(), "/echo");
      REQUIRE_RESPONSE(r);
      CHECK(r.status == 502);
    }
    auto am = scrape(a);
    CHECK(metric(am, "rampart_upstream_connect_failures_total", {{"upstream", "b"}}) == 3);
    // Logged once per reason, not once per request.
    a.process().wait_for_line(std::regex("TLS to endpoint .*" + log_part), 5s);
    sleep_for(200ms);
    std::size_t logged = 0;
    for (const auto& line : a.process().lines())
      if (line.find("TLS to endpoint") != std::string::npos) ++logged;
    CHECK(logged == 1);
  };
  expect_502("{ca: \"" + dir.path() + "/other.pem\", server_name: localhost}", "certificate verification failed");
  expect_502("{ca: \"" + dir.path() + "/b.pem\", server_name: api.internal}", "certificate verification failed");
  // Without server_name an IP endpoint is verified against IP SANs: this certificate has none.
  expect_502("{ca: \"" + dir.path() + "/b.pem\"}", "certificate verification failed");

  Proxy a(tls_client_config(b_addr, "{ca: \"" + dir.path() + "/other.pem\", server_name: localhost, verify: false}"));
  Response r = get(a.port(), "/echo");
  REQUIRE_RESPONSE(r);
  CHECK(r.status == 200);
  CHECK(header_of(require_echo(r), "x-forwarded-proto") == "https");
}

TEST_CASE("upstream tls: an IP endpoint without server_name is verified against the certificate's IP SAN") {
  TempDir dir;
  make_cert(dir.path(), "ip", "127.0.0.1", "IP:127.0.0.1");
  Upstream backend("tlsbackend");
  Proxy b(tls_front_config(dir.path(), "ip", backend));
  const std::string b_addr = "127.0.0.1:" + std::to_string(b.port("https"));
  Proxy a(tls_client_config(b_addr, "{ca: \"" + dir.path() + "/ip.pem\"}"));
  Response r = get(a.port(), "/echo");
  REQUIRE_RESPONSE(r);
  CHECK(r.status == 200);
}

TEST_CASE("upstream tls: a TLS and a plain pool to the same address keep separate connections") {
  TempDir dir;
  make_cert(dir.path(), "b", "localhost", "DNS:localhost");
  Upstream backend("tlsbackend");
  Proxy b(tls_front_config(dir.path(), "b", backend));
  const std::string b_addr = "127.0.0.1:" + std::to_string(b.port("https"));
  // Pool `plain` speaks HTTP to B's TLS port: B must see it as a failed handshake every time,
  // never get a TLS connection of pool `b` handed to it (or the reverse).
  const std::string yaml =
      "version: 1\nworkers: 1\nwatch: false\nadmin: {address: \"127.0.0.1:0\"}\n"
      "listeners:\n  - {name: http, address: \"127.0.0.1:0\"}\n"
      "servers:\n  - {name: s, hosts: [\"*\"], routes: [{name: p, path: /plain/, upstream: plain, retry: false},"
      " {name: all, path: /, upstream: b, retry: false}]}\n"
      "upstreams:\n  - {name: b, endpoints: [\"" + b_addr + "\"], tls: {ca: \"" + dir.path() + "/b.pem\", server_name: localhost}}\n"
      "  - {name: plain, endpoints: [\"" + b_addr + "\"]}\n";
  Proxy a(yaml);
  for (int i = 0; i < 3; ++i) {
    Response tls_r = get(a.port(), "/echo");
    REQUIRE_RESPONSE(tls_r);
    CHECK(tls_r.status == 200);
    Response plain_r = get(a.port(), "/plain/echo");
    REQUIRE_RESPONSE(plain_r);
    CHECK(plain_r.status != 200);
  }
}

TEST_CASE("upstream tls: rampart check reports an unreadable CA bundle with its place") {
  TempDir dir;
  const std::string path = dir.write("rampart.yaml",
      "version: 1\nlisteners:\n  - {name: http, address: \"127.0.0.1:0\"}\n"
      "servers:\n  - {name: s, hosts: [\"*\"], routes: [{name: all, path: /, upstream: b}]}\n"
      "upstreams:\n  - name: b\n    endpoints: [\"127.0.0.1:1\"]\n    tls: {ca: missing-ca.pem}\n");
  Process check(rampart_bin(), {"check", "-c", path});
  auto code = check.try_wait_exit(10s);
  REQUIRE(code.has_value());
  CHECK(*code != 0);
  const std::string out = check.output();
  INFO(out);
  CHECK(out.find("rampart.yaml:9:") != std::string::npos);  // the `tls:` line
  CHECK(out.find("No such file or directory") != std::string::npos);
  CHECK(out.find("missing-ca.pem") != std::string::npos);
  CHECK(out.find("upstreams[0].tls.ca") != std::string::npos);
}

}  // namespace it
