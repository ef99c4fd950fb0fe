// HTTP/2 downstream (issue #6) with real clients (curl, nghttp, h2load, openssl s_client) and
// the raw frame-level client of h2_client.hpp: cleartext prior knowledge and TLS ALPN, many
// streams, access log and metrics per stream, malformed requests, the rapid-reset and
// CONTINUATION-flood attacks (with a well-behaved client measured meanwhile), graceful drain, and
// the memory bound flow control gives against a client that stops reading.
#include "fixtures.hpp"
#include "h2_client.hpp"

#include "../unit/observe/access_log_json_check.hpp"

#include <catch2/catch.hpp>

#include <nghttp2/nghttp2.h>

#include <signal.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <iterator>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>

namespace it {
namespace {

using rampart::observe::test::Json;
using rampart::observe::test::parse_json;

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// A self-signed P-256 certificate (CN localhost) as DIR/cert.pem and DIR/key.pem.
void make_cert(const std::string& dir) {
  run_tool("/usr/bin/openssl", {"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                                "-keyout", dir + "/key.pem", "-out", dir + "/cert.pem"});
  REQUIRE(std::ifstream(dir + "/cert.pem").good());
  REQUIRE(std::ifstream(dir + "/key.pem").good());
}

struct StackOptions {
  int workers = 2;
  bool tls = false;       // add listener "tls" (ALPN h2, http/1.1)
  std::string top;        // complete top-level lines (e.g. access_log), before `listeners:`
  std::string max_body_size = "4m";
};

StackOptions with_tls() {
  StackOptions o;
  o.tls = true;
  return o;
}
StackOptions with_access_log() {
  StackOptions o;
  o.top = "access_log: {path: access.log}\n";
  return o;
}
// One worker: an attacker and the well-behaved client it must not slow down share its thread.
StackOptions one_worker() {
  StackOptions o;
  o.workers = 1;
  return o;
}

// rampart-upstream "web" behind rampart with an h2c listener (and optionally a TLS one). Routes:
// /ping answered by the proxy itself, everything else proxied to web. Test thread only.
class H2Stack {
 public:
  explicit H2Stack(StackOptions o = {}) {
    std::string tls_listener;
    if (o.tls) {
      certs = std::make_unique<TempDir>();
      make_cert(certs->path());
      tls_listener =
          "  - name: tls\n"
          "    address: \"127.0.0.1:0\"\n"
          "    tls: {certificates: [{cert: \"" + certs->path() + "/cert.pem\", key: \"" + certs->path() +
          "/key.pem\"}], alpn: [h2, \"http/1.1\"]}\n"
          "    http2: {max_concurrent_streams: 128, initial_window_size: 256k, connection_window_size: 1m,\n"
          "            max_header_list_size: 64k, max_resets_per_second: 200, max_streams_per_second: 2000}\n";
    }
    yaml = "version: 1\nworkers: " + std::to_string(o.workers) +
           "\nwatch: false\ndrain_timeout: 5s\nadmin: {address: \"127.0.0.1:0\"}\n" + o.top +
           "listeners:\n"
           "  - {name: h2c, address: \"127.0.0.1:0\", h2c: true}\n" +
           tls_listener +
           "defaults: {connect_timeout: 1s, read_timeout: 10s, client_header_timeout: 5s, client_body_timeout: 5s,"
           " keepalive_timeout: 10s, max_body_size: " + o.max_body_size + "}\n"
           "servers:\n"
           "  - name: app\n"
           "    hosts: [\"*\"]\n"
           "    routes:\n"
           "      - {name: ping, path: /ping, match: exact, respond: {status: 200, body: \"pong\\n\", content_type: text/plain}}\n"
           "      - {name: web, path: /, upstream: web}\n"
           "upstreams:\n"
           "  - {name: web, endpoints: [\"" + web.address() + "\"], max_idle_per_endpoint: 64}\n";
    proxy = std::make_unique<Proxy>(yaml);
  }
  std::uint16_t h2c() const { return proxy->port("h2c"); }
  std::uint16_t tls() const { return proxy->port("tls"); }
  std::string h2c_url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(h2c()) + path; }
  std::string tls_url(const std::string& path) const { return "https://127.0.0.1:" + std::to_string(tls()) + path; }

  Upstream web{"web"};
  std::unique_ptr<TempDir> certs;
  std::string yaml;
  std::unique_ptr<Proxy> proxy;
};

// Scrapes until `done(samples)` holds or `timeout` runs out; returns the last scrape.
template <class Pred>
std::vector<Sample> scrape_until(const Proxy& p, Pred done, Ms timeout = 3s) {
  auto deadline = Clock::now() + timeout;
  std::vector<Sample> s = scrape(p);
  while (!done(s) && Clock::now() < deadline) {
    sleep_for(50ms);
    s = scrape(p);
  }
  return s;
}

const std::vector<std::string> kAbuseReasons = {"rapid_reset", "stream_rate", "continuation_flood",
                                                "header_list_too_large", "control_flood", "protocol_error"};

// A handshaken raw client, failing the test when that does not work.
h2::Client connect_h2(std::uint16_t port, const h2::ClientSettings& s = {}) {
  h2::Client c(port);
  INFO("connect: " << c.error());
  REQUIRE(c.ok());
  const bool shaken = c.handshake(s);
  INFO("handshake: " << c.error());
  REQUIRE(shaken);
  return c;
}

// A well-behaved HTTP/2 client on its own thread: one connection, GET /echo?good=N about every
// 10 ms (well under every abuse bound), each waited for; records latencies and failures.
class GoodClient {
 public:
  explicit GoodClient(std::uint16_t port) : thread_([this, port] { run(port); }) {}
  ~GoodClient() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int ok_count() const { return ok_; }
  double max_latency_s() const { return max_latency_s_; }
  std::vector<std::string> failures() const {
    std::lock_guard lock(mu_);
    return failures_;
  }

 private:
  void fail(std::string why) {
    std::lock_guard lock(mu_);
    if (failures_.size() < 20) failures_.push_back(std::move(why));
  }
  void run(std::uint16_t port) {
    h2::Client c(port);
    if (!c.ok() || !c.handshake()) {
      fail("good client: connect/handshake: " + c.error());
      return;
    }
    for (int n = 0; !stop_; ++n) {
      const std::string path = "/echo?good=" + std::to_string(n);
      const auto start = Clock::now();
      const std::uint32_t id = c.request("GET", path);
      if (id == 0) {
        fail(path + ": send: " + c.error());
        return;
      }
      if (!c.wait_stream(id, 3s)) {
        fail(path + ": no complete response within 3 s (" + c.error() + (c.closed() ? ", closed" : "") + ")");
        return;
      }
      const double took = std::chrono::duration<double>(Clock::now() - start).count();
      max_latency_s_ = std::max(max_latency_s_.load(), took);
      const h2::StreamResult& r = c.stream(id);
      Echo e = parse_echo(r.body);
      if (r.reset || r.status != 200 || !e.ok || e.path != path) {
        fail(path + ": status " + std::to_string(r.status) + " reset " + std::to_string(r.reset.value_or(0)) +
             " body " + r.body.substr(0, 200));
      } else {
        ++ok_;
      }
      std::this_thread::sleep_for(10ms);
    }
  }

  std::atomic<bool> stop_{false};
  std::atomic<int> ok_{0};
  std::atomic<double> max_latency_s_{0};
  mutable std::mutex mu_;
  std::vector<std::string> failures_;
  std::thread thread_;  // last: starts once the members above exist
};

// Checks what a GoodClient saw during an attack.
void check_good_client(GoodClient& good) {
  good.stop();
  auto failures = good.failures();
  std::string all;
  for (auto& f : failures) all += f + "\n";
  INFO("well-behaved client: " << good.ok_count() << " responses, max latency " << good.max_latency_s()
                               << " s, failures:\n" << all);
  CHECK(failures.empty());
  CHECK(good.ok_count() >= 10);
  CHECK(good.max_latency_s() < 1.0);
}

// The proxy's peak resident memory without file-backed pages (see test_large.cpp).
long anon_peak_kib(pid_t pid) {
  const long hwm = rss_kib(pid, "VmHWM");
  const long file = rss_kib(pid, "RssFile");
  REQUIRE(hwm > 0);
  REQUIRE(file > 0);
  return hwm - file;
}

std::string describe(const h2::StreamResult& r) {
  std::ostringstream s;
  s << "status " << r.status << ", ended " << r.ended << ", reset ";
  if (r.reset) s << "0x" << std::hex << *r.reset << std::dec;
  else s << "none";
  s << ", body " << r.body_bytes << " bytes: " << r.body.substr(0, 200);
  return s.str();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The test client itself

TEST_CASE("http2: test client HPACK integers follow RFC 7541 and its literals decode with nghttp2") {
  // RFC 7541 C.1: 10 and 1337 with a 5-bit prefix, 42 with an 8-bit prefix.
  std::string a, b, c;
  h2::encode_integer(a, 0xe0, 5, 10);
  h2::encode_integer(b, 0x00, 5, 1337);
  h2::encode_integer(c, 0x00, 8, 42);
  CHECK(a == std::string("\xea", 1));
  CHECK(b == std::string("\x1f\x9a\x0a", 3));
  CHECK(c == std::string("\x2a", 1));

  // Names and values across the 7-bit prefix boundary (126, 127, 128 bytes) and a long one.
  const h2::Fields fields = {{":method", "GET"},
                             {std::string(126, 'a'), std::string(127, 'b')},
                             {std::string(128, 'c'), ""},
                             {"x-long", std::string(20000, 'v')},
                             {"Upper-Case", "kept as sent"}};
  const std::string block = h2::encode_block(fields);
  nghttp2_hd_inflater* inflater = nullptr;
  REQUIRE(nghttp2_hd_inflate_new(&inflater) == 0);
  h2::Fields decoded;
  auto* in = reinterpret_cast<std::uint8_t*>(const_cast<char*>(block.data()));
  std::size_t left = block.size();
  bool final = false;
  for (;;) {
    nghttp2_nv nv;
    int flags = 0;
    const auto rv = nghttp2_hd_inflate_hd2(inflater, &nv, &flags, in, left, 1);
    REQUIRE(rv >= 0);
    in += rv;
    left -= static_cast<std::size_t>(rv);
    if (flags & NGHTTP2_HD_INFLATE_EMIT)
      decoded.push_back({std::string(reinterpret_cast<char*>(nv.name), nv.namelen),
                         std::string(reinterpret_cast<char*>(nv.value), nv.valuelen)});
    if (flags & NGHTTP2_HD_INFLATE_FINAL) {
      final = true;
      break;
    }
    if (!(flags & NGHTTP2_HD_INFLATE_EMIT) && left == 0) break;
  }
  nghttp2_hd_inflate_del(inflater);
  CHECK(final);
  REQUIRE(decoded.size() == fields.size());
  for (std::size_t i = 0; i < fields.size(); ++i) {
    CHECK(decoded[i].name == fields[i].name);
    CHECK(decoded[i].value == fields[i].value);
  }
}

// ---------------------------------------------------------------------------------------------
// 1. Cleartext prior knowledge

TEST_CASE("http2: h2c prior knowledge serves GET, a 1 MiB POST and HEAD, and the listener still speaks HTTP/1.1") {
  H2Stack s;
  INFO(s.proxy->process().output());
  TempDir tmp;

  SECTION("GET through to the upstream, curl --http2-prior-knowledge") {
    CurlResult r = curl({"--http2-prior-knowledge", "-o", tmp.path() + "/get", "-w", "%{http_code} %{http_version}",
                         s.h2c_url("/")});
    INFO("curl: " << r.exit_code << " " << r.out << " " << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.out == "200 2");
    const std::string body = read_file(tmp.path() + "/get");
    CHECK(body.size() == 100);
    CHECK(body.rfind("hello from rampart-upstream web\n", 0) == 0);
  }

  SECTION("a 1 MiB POST arrives intact (more than the 256 KiB stream window)") {
    std::string data(1u << 20, '\0');
    std::uint32_t x = 2463534242u;
    for (auto& ch : data) {  // xorshift32: incompressible, position-dependent bytes
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      ch = static_cast<char>(x & 0xff);
    }
    const std::string file = tmp.write("upload.bin", data);
    CurlResult r = curl({"--http2-prior-knowledge", "--data-binary", "@" + file, "-H", "content-type: application/octet-stream",
                         "-o", tmp.path() + "/echo", "-w", "%{http_code} %{http_version}", s.h2c_url("/echo?post=1")});
    INFO("curl: " << r.exit_code << " " << r.out << " " << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.out == "200 2");
    Echo e = parse_echo(read_file(tmp.path() + "/echo"));
    INFO(e.error);
    REQUIRE(e.ok);
    CHECK(e.method == "POST");
    CHECK(e.path == "/echo?post=1");
    CHECK(e.body_bytes == data.size());
    CHECK(e.crc32 == crc32_hex(data));
  }

  SECTION("HEAD: a head without a body, from curl and from the raw client") {
    CurlResult r = curl({"--http2-prior-knowledge", "-I", s.h2c_url("/?size=5000")});
    INFO("curl: " << r.exit_code << " " << r.out << " " << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.rfind("HTTP/2 200", 0) == 0);
    CHECK(std::regex_search(r.out, std::regex("\ncontent-length: 5000\r?\n", std::regex::icase)));

    h2::Client c = connect_h2(s.h2c());
    const std::uint32_t id = c.request("HEAD", "/?size=5000");
    REQUIRE(id != 0);
    REQUIRE(c.wait_stream(id));
    const h2::StreamResult& res = c.stream(id);
    INFO(describe(res));
    CHECK(res.status == 200);
    CHECK(res.ended);
    CHECK_FALSE(res.reset);
    CHECK(res.body_bytes == 0);
    CHECK(res.header("content-length") == std::optional<std::string>("5000"));
  }

  SECTION("HTTP/1.1 on the same listener") {
    CurlResult r = curl({"--http1.1", "-o", tmp.path() + "/h1", "-w", "%{http_code} %{http_version}", s.h2c_url("/")});
    INFO("curl: " << r.exit_code << " " << r.out << " " << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.out == "200 1.1");
    CHECK(read_file(tmp.path() + "/h1").rfind("hello from rampart-upstream web\n", 0) == 0);
    Response raw = get(s.h2c(), "/ping");
    REQUIRE_RESPONSE(raw);
    CHECK(raw.version == "HTTP/1.1");
    CHECK(raw.status == 200);
    CHECK(raw.body == "pong\n");
  }
}

TEST_CASE("http2: trailers of a chunked upstream response reach HTTP/2 and HTTP/1.1 clients, framing fields dropped") {
  H2Stack s;
  INFO(s.proxy->process().output());
  const std::string path =
      "/?chunked=1&size=3000&chunk=1000&trailer=grpc-status:0&trailer=grpc-message:done&trailer=content-length:7";

  h2::Client c = connect_h2(s.h2c());
  const std::uint32_t id = c.request("GET", path);
  REQUIRE(id != 0);
  REQUIRE(c.wait_stream(id));
  const h2::StreamResult& res = c.stream(id);
  INFO(describe(res));
  CHECK(res.status == 200);
  CHECK(res.ended);
  CHECK_FALSE(res.reset);
  CHECK(res.body_bytes == 3000);
  // The trailer block ends the stream: grpc-status and grpc-message, not content-length.
  REQUIRE(res.trailers.size() == 2);
  CHECK(res.trailers[0].name == "grpc-status");
  CHECK(res.trailers[0].value == "0");
  CHECK(res.trailers[1].name == "grpc-message");
  CHECK(res.trailers[1].value == "done");

  // HTTP/1.1: the last chunk carries them.
  CurlResult r = curl({"--http1.1", "--raw", "-s", s.h2c_url(path)});
  INFO("curl: " << r.exit_code << " " << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.size() > 3000);
  const auto last = r.out.rfind("\r\n0\r\n");
  REQUIRE(last != std::string::npos);
  CHECK(r.out.substr(last) == "\r\n0\r\ngrpc-status: 0\r\ngrpc-message: done\r\n\r\n");
}

// ---------------------------------------------------------------------------------------------
// 2. TLS with ALPN

TEST_CASE("http2: a TLS listener negotiates h2 or http/1.1 by ALPN") {
  H2Stack s(with_tls());
  INFO(s.proxy->process().output());
  TempDir tmp;

  CurlResult h2 = curl({"--http2", "-k", "-o", tmp.path() + "/h2", "-w", "%{http_code} %{http_version}", s.tls_url("/")});
  INFO("curl --http2: " << h2.exit_code << " " << h2.out << " " << h2.err);
  REQUIRE(h2.exit_code == 0);
  CHECK(h2.out == "200 2");
  CHECK(read_file(tmp.path() + "/h2").rfind("hello from rampart-upstream web\n", 0) == 0);

  CurlResult h1 = curl({"--http1.1", "-k", "-o", tmp.path() + "/h1", "-w", "%{http_code} %{http_version}", s.tls_url("/")});
  INFO("curl --http1.1: " << h1.exit_code << " " << h1.out << " " << h1.err);
  REQUIRE(h1.exit_code == 0);
  CHECK(h1.out == "200 1.1");
  CHECK(read_file(tmp.path() + "/h1").rfind("hello from rampart-upstream web\n", 0) == 0);

  const std::string port = "127.0.0.1:" + std::to_string(s.tls());
  const std::string alpn_h2 = run_tool("/usr/bin/openssl", {"s_client", "-connect", port, "-alpn", "h2"});
  INFO(alpn_h2);
  CHECK(alpn_h2.find("ALPN protocol: h2") != std::string::npos);
  const std::string alpn_h1 = run_tool("/usr/bin/openssl", {"s_client", "-connect", port, "-alpn", "http/1.1"});
  INFO(alpn_h1);
  CHECK(alpn_h1.find("ALPN protocol: http/1.1") != std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// 3. Many streams

TEST_CASE("http2: nghttp sends 20 concurrent streams on one connection and all get 200") {
  H2Stack s;
  INFO(s.proxy->process().output());
  const double conns0 = metric(scrape(*s.proxy), "rampart_http2_connections_total", {{"listener", "h2c"}});

  Process p("/usr/bin/nghttp", {"-nv", "-m", "20", s.h2c_url("/echo?many=1")});
  auto code = p.try_wait_exit(15s);
  const std::string out = p.raw_stdout(true, 5s);
  INFO("nghttp exit " << (code ? std::to_string(*code) : "timeout") << ":\n" << out.substr(0, 20000) << p.raw_stderr());
  REQUIRE(code.has_value());
  CHECK(out.find("Some requests were not processed") == std::string::npos);

  // Every request HEADERS goes out before the first response arrives: 20 streams at once.
  static const std::regex sent_headers(R"(send HEADERS frame <[^>]*stream_id=(\d+)>)");
  static const std::regex status_line(R"(recv \(stream_id=(\d+)\) :status: (\d+))");
  std::set<std::string> requested;
  std::map<std::string, std::string> statuses;
  bool response_seen = false;
  int sent_before_first_response = 0;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_search(line, m, sent_headers)) {
      requested.insert(m[1]);
      if (!response_seen) ++sent_before_first_response;
    } else if (std::regex_search(line, m, status_line)) {
      response_seen = true;
      statuses[m[1]] = m[2];
    }
  }
  CHECK(requested.size() == 20);
  CHECK(sent_before_first_response == 20);
  CHECK(statuses.size() == 20);
  for (const auto& [stream, status] : statuses) {
    INFO("stream " << stream);
    CHECK(status == "200");
    CHECK(requested.count(stream) == 1);
  }
  const auto after = scrape_until(*s.proxy, [&](const std::vector<Sample>& m) {
    return metric(m, "rampart_http2_connections_total", {{"listener", "h2c"}}) >= conns0 + 1;
  });
  CHECK(metric(after, "rampart_http2_connections_total", {{"listener", "h2c"}}) == conns0 + 1);
}

TEST_CASE("http2: h2load completes 2000 requests with 4 connections of 32 streams, over h2c and TLS") {
  H2Stack s(with_tls());
  INFO(s.proxy->process().output());
  struct Run {
    std::string url, protocol;
  };
  for (const Run& run : {Run{s.h2c_url("/"), "h2c"}, Run{s.tls_url("/"), "h2"}}) {
    Process p("/usr/bin/h2load", {"-n", "2000", "-c", "4", "-m", "32", run.url});
    auto code = p.try_wait_exit(15s);
    const std::string out = p.raw_stdout(true, 5s) + p.raw_stderr();
    INFO(run.url << ": h2load exit " << (code ? std::to_string(*code) : "timeout") << ":\n" << out);
    REQUIRE(code.has_value());
    CHECK(out.find("Application protocol: " + run.protocol + "\n") != std::string::npos);
    // Debian 12's h2load 1.52: "requests: 2000 total, 2000 started, 2000 done, 2000 succeeded,
    // 0 failed, 0 errored, 0 timeout" and "status codes: 2000 2xx, 0 3xx, 0 4xx, 0 5xx".
    std::smatch m;
    REQUIRE(std::regex_search(out, m,
                              std::regex(R"(requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, )"
                                         R"((\d+) failed, (\d+) errored, (\d+) timeout)")));
    CHECK(m[1] == "2000");
    CHECK(m[3] == "2000");
    CHECK(m[4] == "2000");
    CHECK(m[5] == "0");
    CHECK(m[6] == "0");
    CHECK(m[7] == "0");
    REQUIRE(std::regex_search(out, m, std::regex(R"(status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx)")));
    CHECK(m[1] == "2000");
  }
  auto samples = scrape(*s.proxy);
  CHECK(metric(samples, "rampart_http2_connections_total", {{"listener", "h2c"}}) == 4);
  CHECK(metric(samples, "rampart_http2_connections_total", {{"listener", "tls"}}) == 4);
  CHECK(metric(samples, "rampart_http2_abusive_connections_total") == 0);
  CHECK(metric(samples, "rampart_requests_total", {{"server", "app"}, {"route", "web"}}) == 4000);
}

// ---------------------------------------------------------------------------------------------
// 4. Access log and metrics per stream

TEST_CASE("http2: each stream is one HTTP/2.0 access log line and one count on its route") {
  H2Stack s(with_access_log());
  Proxy& p = *s.proxy;
  INFO(p.process().output());
  const std::string log = p.dir() + "/access.log";
  const std::map<std::string, std::string> ping = {{"server", "app"}, {"route", "ping"}};
  const std::map<std::string, std::string> web = {{"server", "app"}, {"route", "web"}};
  const auto before = scrape(p);
  const double ping0 = metric(before, "rampart_requests_total", ping);
  const double web0 = metric(before, "rampart_requests_total", web);
  const double h2conns0 = metric(before, "rampart_http2_connections_total", {{"listener", "h2c"}});

  // One connection, five /ping streams at once and one proxied /echo.
  h2::Client c = connect_h2(s.h2c());
  std::vector<std::uint32_t> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(c.request("GET", "/ping", {{"user-agent", "raw-h2"}}));
  ids.push_back(c.request("GET", "/echo?log=1", {{"user-agent", "raw-h2"}}));
  for (std::uint32_t id : ids) {
    REQUIRE(id != 0);
    REQUIRE(c.wait_stream(id));
    INFO("stream " << id << ": " << describe(c.stream(id)));
    CHECK(c.stream(id).status == 200);
  }
  CHECK(c.stream(ids[0]).body == "pong\n");
  CHECK(parse_echo(c.stream(ids[5]).body).path == "/echo?log=1");
  // And one HTTP/1.1 request on the same listener.
  Response h1 = get(s.h2c(), "/ping", "User-Agent: raw-h1\r\n");
  REQUIRE_RESPONSE(h1);
  CHECK(h1.status == 200);

  const auto after = scrape_until(p, [&](const std::vector<Sample>& m) {
    return metric(m, "rampart_requests_total", ping) >= ping0 + 6 && metric(m, "rampart_requests_total", web) >= web0 + 1;
  });
  CHECK(metric(after, "rampart_requests_total", ping) == ping0 + 6);
  CHECK(metric(after, "rampart_requests_total", web) == web0 + 1);
  CHECK(metric(after, "rampart_http2_connections_total", {{"listener", "h2c"}}) == h2conns0 + 1);

  std::string text;
  for (auto deadline = Clock::now() + 5s; Clock::now() < deadline; sleep_for(50ms)) {
    text = read_file(log);
    if (std::count(text.begin(), text.end(), '\n') >= 7) break;
  }
  sleep_for(300ms);  // no further line should come
  text = read_file(log);
  INFO("access log:\n" << text);
  auto lines = rampart::observe::test::split_lines(text);
  REQUIRE(lines.has_value());
  REQUIRE(lines->size() == 7);
  int h2_ping = 0, h2_echo = 0, h1_ping = 0;
  for (const auto& line : *lines) {
    INFO("line: " << line);
    auto j = parse_json(line);
    REQUIRE(j.has_value());
    auto field = [&](const char* key) -> std::string {
      const Json* v = j->get(key);
      return v ? v->text : "<absent>";
    };
    CHECK(field("status") == "200");
    CHECK(field("method") == "GET");
    if (field("protocol") == "HTTP/2.0") {
      CHECK(field("user_agent") == "raw-h2");
      CHECK(field("host") == "test.local");
      CHECK(field("scheme") == "http");
      if (field("path") == "/ping") ++h2_ping;
      if (field("path") == "/echo") {  // the query is logged only with access_log.query
        ++h2_echo;
        CHECK(field("route") == "web");
        CHECK(field("upstream") == "web");
      }
    } else if (field("protocol") == "HTTP/1.1") {
      CHECK(field("user_agent") == "raw-h1");
      if (field("path") == "/ping") ++h1_ping;
    }
  }
  CHECK(h2_ping == 5);
  CHECK(h2_echo == 1);
  CHECK(h1_ping == 1);
}

// ---------------------------------------------------------------------------------------------
// 5. Malformed requests

TEST_CASE("http2: malformed requests get RST_STREAM(PROTOCOL_ERROR) while other streams on the connection get 200") {
  H2Stack s;
  INFO(s.proxy->process().output());
  h2::Client c = connect_h2(s.h2c());

  struct Case {
    const char* what;
    std::function<std::string(std::uint32_t)> frames;
  };
  const auto headers = [](std::uint32_t id, const h2::Fields& f, std::uint8_t flags) {
    return h2::frame(h2::type::headers, flags, id, h2::encode_block(f));
  };
  const std::uint8_t whole = h2::flag::end_headers | h2::flag::end_stream;
  const std::vector<Case> cases = {
      {"an upper-case header name",
       [&](std::uint32_t id) { return headers(id, h2::request_fields("GET", "/ping", {{"X-Upper", "1"}}), whole); }},
      {"a connection-specific header (connection: keep-alive)",
       [&](std::uint32_t id) { return headers(id, h2::request_fields("GET", "/ping", {{"connection", "keep-alive"}}), whole); }},
      {"no :path",
       [&](std::uint32_t id) {
         return headers(id, {{":method", "GET"}, {":scheme", "http"}, {":authority", "test.local"}}, whole);
       }},
      {"content-length 10 with 5 bytes of DATA",
       [&](std::uint32_t id) {
         return headers(id, h2::request_fields("POST", "/echo?cl=short", {{"content-length", "10"}}), h2::flag::end_headers) +
                h2::data_frames(id, "hello", true);
       }},
      {"content-length 3 with 5 bytes of DATA",
       [&](std::uint32_t id) {
         return headers(id, h2::request_fields("POST", "/echo?cl=long", {{"content-length", "3"}}), h2::flag::end_headers) +
                h2::data_frames(id, "hello", true);
       }},
  };
  for (const Case& k : cases) {
    INFO("malformed: " << k.what);
    const std::uint32_t bad = c.claim_stream();
    REQUIRE(c.send(k.frames(bad)));
    const std::uint32_t good = c.request("GET", "/ping");
    REQUIRE(good != 0);
    REQUIRE(c.wait_until([&] { return c.stream(bad).done() && c.stream(good).done(); }, 5s));
    INFO("bad stream " << bad << ": " << describe(c.stream(bad)));
    INFO("good stream " << good << ": " << describe(c.stream(good)));
    CHECK(c.stream(bad).reset == std::optional<std::uint32_t>(h2::err::protocol_error));
    CHECK(c.stream(good).status == 200);
    CHECK(c.stream(good).body == "pong\n");
    CHECK_FALSE(c.stream(good).reset);
  }
  // The connection itself is fine.
  c.wait_until([] { return false; }, 200ms);
  CHECK_FALSE(c.goaway().has_value());
  CHECK_FALSE(c.closed());
  CHECK(metric(scrape(*s.proxy), "rampart_http2_abusive_connections_total") == 0);
}

// ---------------------------------------------------------------------------------------------
// 6, 7. Attacks, with a well-behaved client measured meanwhile (one worker: same thread)

TEST_CASE("http2: rapid reset (CVE-2023-44487) ends in GOAWAY(ENHANCE_YOUR_CALM) while others are served") {
  H2Stack s(one_worker());
  Proxy& p = *s.proxy;
  INFO(p.process().output());
  const std::string block = h2::encode_block(h2::request_fields("GET", "/echo?rapid=1"));
  // `n` HEADERS + RST_STREAM(CANCEL) pairs on new streams, 100 per write.
  const auto pairs = [&](h2::Client& c, int n) {
    std::string batch;
    for (int i = 0; i < n; ++i) {
      const std::uint32_t id = c.claim_stream();
      batch += h2::frame(h2::type::headers, h2::flag::end_headers | h2::flag::end_stream, id, block);
      batch += h2::rst_stream_frame(id, h2::err::cancel);
    }
    return batch;
  };

  // Below the bound (200 resets a second) cancelling is legitimate: the connection goes on.
  {
    h2::Client polite = connect_h2(s.h2c());
    REQUIRE(polite.send(pairs(polite, 150)));
    const std::uint32_t id = polite.request("GET", "/ping");
    REQUIRE(polite.wait_stream(id));
    INFO(describe(polite.stream(id)));
    CHECK(polite.stream(id).status == 200);
    polite.wait_until([] { return false; }, 200ms);
    CHECK_FALSE(polite.goaway().has_value());
    CHECK_FALSE(polite.closed());
  }

  GoodClient good(s.h2c());
  sleep_for(200ms);
  // Ten attack connections, one after another, for about a second: each sends up to 5,000
  // pairs as fast as the socket takes them, reading between writes.
  constexpr int attacks = 10;
  for (int a = 0; a < attacks; ++a) {
    h2::Client bad = connect_h2(s.h2c());
    int sent = 0;
    const auto start = Clock::now();
    while (sent < 5000 && !bad.goaway() && !bad.closed()) {
      if (!bad.send(pairs(bad, 100), 2s)) break;
      sent += 100;
      bad.poll(0ms);
    }
    const double flood_s = std::chrono::duration<double>(Clock::now() - start).count();
    INFO("attack " << a << ": " << sent << " HEADERS+RST_STREAM pairs sent in " << flood_s << " s; " << bad.error());
    REQUIRE(bad.wait_goaway(5s));
    CHECK(bad.goaway()->error_code == h2::err::enhance_your_calm);
    CHECK(bad.wait_closed(5s));
    sleep_for(100ms);
  }
  check_good_client(good);

  const std::map<std::string, std::string> rapid = {{"listener", "h2c"}, {"reason", "rapid_reset"}};
  const auto m = scrape_until(p, [&](const std::vector<Sample>& x) {
    return metric(x, "rampart_http2_abusive_connections_total", rapid) >= attacks;
  });
  CHECK(metric(m, "rampart_http2_abusive_connections_total", rapid) == attacks);
  CHECK(metric(m, "rampart_http2_abusive_connections_total") == attacks);
  CurlResult after = curl({"--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_code}", s.h2c_url("/ping")});
  CHECK(after.out == "200");
}

TEST_CASE("http2: a CONTINUATION flood ends in GOAWAY while others are served") {
  H2Stack s(one_worker());
  Proxy& p = *s.proxy;
  INFO(p.process().output());
  // CONTINUATION frames of one small header field each, without END_HEADERS unless `last`.
  const auto continuations = [](std::uint32_t id, int from, int n, bool last) {
    std::string batch;
    for (int i = from; i < from + n; ++i) {
      std::string field;
      h2::encode_literal(field, "x-c" + std::to_string(i), "v");
      batch += h2::frame(h2::type::continuation, last && i == from + n - 1 ? h2::flag::end_headers : 0, id, field);
    }
    return batch;
  };
  const std::string head = h2::encode_block(h2::request_fields("GET", "/echo?flood=1"));

  // A header block split over a few CONTINUATION frames is fine.
  {
    h2::Client polite = connect_h2(s.h2c());
    const std::uint32_t id = polite.claim_stream();
    REQUIRE(polite.send(h2::frame(h2::type::headers, h2::flag::end_stream, id, head) + continuations(id, 0, 8, true)));
    REQUIRE(polite.wait_stream(id));
    const h2::StreamResult& r = polite.stream(id);
    INFO(describe(r));
    CHECK(r.status == 200);
    Echo e = parse_echo(r.body);
    CHECK(e.headers.count("x-c7") == 1);
    CHECK_FALSE(polite.goaway().has_value());
  }

  GoodClient good(s.h2c());
  sleep_for(200ms);
  constexpr int attacks = 10;
  for (int a = 0; a < attacks; ++a) {
    h2::Client bad = connect_h2(s.h2c());
    const std::uint32_t id = bad.claim_stream();
    REQUIRE(bad.send(h2::frame(h2::type::headers, h2::flag::end_stream, id, head)));
    int sent = 0;
    while (sent < 2000 && !bad.goaway() && !bad.closed()) {
      if (!bad.send(continuations(id, sent, 50, false), 2s)) break;
      sent += 50;
      bad.poll(0ms);
    }
    INFO("attack " << a << ": " << sent << " CONTINUATION frames sent; " << bad.error());
    REQUIRE(bad.wait_goaway(5s));
    CHECK(bad.goaway()->error_code == h2::err::enhance_your_calm);
    CHECK(bad.wait_closed(5s));
    CHECK(bad.stream(id).status == 0);  // the request never reached a response
    sleep_for(100ms);
  }
  check_good_client(good);

  const std::map<std::string, std::string> flood = {{"listener", "h2c"}, {"reason", "continuation_flood"}};
  const auto m = scrape_until(p, [&](const std::vector<Sample>& x) {
    return metric(x, "rampart_http2_abusive_connections_total", flood) >= attacks;
  });
  CHECK(metric(m, "rampart_http2_abusive_connections_total", flood) == attacks);
  CHECK(metric(m, "rampart_http2_abusive_connections_total") == attacks);
}

// ---------------------------------------------------------------------------------------------
// 8. Graceful drain

TEST_CASE("http2: SIGTERM sends GOAWAY(NO_ERROR) at once, the stream in flight completes, the proxy exits 0") {
  H2Stack s;
  Proxy& p = *s.proxy;
  INFO(p.process().output());

  // An idle HTTP/2 connection (one finished stream) and a busy one.
  h2::Client idle = connect_h2(s.h2c());
  const std::uint32_t done = idle.request("GET", "/ping");
  REQUIRE(idle.wait_stream(done));
  REQUIRE(idle.stream(done).status == 200);

  h2::Client busy = connect_h2(s.h2c());
  const std::uint32_t slow = busy.request("GET", "/echo?delay=1500");
  REQUIRE(slow != 0);
  sleep_for(300ms);
  const auto signalled = Clock::now();
  p.process().signal(SIGTERM);

  REQUIRE(busy.wait_goaway(3s));
  const double goaway_after = std::chrono::duration<double>(busy.goaway()->at - signalled).count();
  INFO("GOAWAY " << goaway_after << " s after SIGTERM");
  CHECK(busy.goaway()->error_code == h2::err::no_error);
  CHECK(busy.goaway()->last_stream >= slow);
  CHECK(goaway_after < 0.8);
  CHECK(busy.stream(slow).status == 0);  // the GOAWAY came before the response
  // A stream opened after the GOAWAY (above its last stream id) is not served.
  const std::uint32_t late = busy.request("GET", "/echo?late=1");
  REQUIRE(late > busy.goaway()->last_stream);

  REQUIRE(idle.wait_goaway(2s));
  CHECK(idle.goaway()->error_code == h2::err::no_error);
  CHECK(idle.goaway()->last_stream == done);
  CHECK(idle.wait_closed(2s));

  REQUIRE(busy.wait_stream(slow, 5s));
  const h2::StreamResult& r = busy.stream(slow);
  INFO(describe(r));
  CHECK(r.status == 200);
  CHECK(r.ended);
  CHECK_FALSE(r.reset);
  Echo e = parse_echo(r.body);
  INFO(e.error);
  CHECK(e.path == "/echo?delay=1500");
  CHECK(busy.wait_closed(3s));
  INFO("stream opened after the GOAWAY: " << describe(busy.stream(late)));
  CHECK(busy.stream(late).status == 0);

  const int code = p.process().wait_exit(7s);
  const double took = std::chrono::duration<double>(Clock::now() - signalled).count();
  INFO("exited after " << took << " s");
  CHECK(code == 0);
  CHECK(took < 6.0);
}

// ---------------------------------------------------------------------------------------------
// 9. Flow control bounds memory

TEST_CASE("http2: a reload that removes the listener sends GOAWAY, the stream in flight completes") {
  H2Stack s;
  Proxy& p = *s.proxy;
  INFO(p.process().output());
  h2::Client busy = connect_h2(s.h2c());
  const std::uint32_t slow = busy.request("GET", "/echo?delay=1000");
  REQUIRE(slow != 0);
  sleep_for(200ms);

  // The same config without the h2c listener (its routes' server stays on no listener at all).
  std::string yaml = s.yaml;
  const std::string line = "  - {name: h2c, address: \"127.0.0.1:0\", h2c: true}\n";
  const auto at = yaml.find(line);
  REQUIRE(at != std::string::npos);
  yaml.replace(at, line.size(), "  - {name: other, address: \"127.0.0.1:0\"}\n");
  const ReloadResult rr = p.reload(yaml);
  INFO(rr.diagnostics);
  REQUIRE(rr.ok);

  REQUIRE(busy.wait_goaway(3s));
  CHECK(busy.goaway()->error_code == h2::err::no_error);
  CHECK(busy.goaway()->last_stream >= slow);
  REQUIRE(busy.wait_stream(slow, 5s));
  const h2::StreamResult& r = busy.stream(slow);
  INFO(describe(r));
  CHECK(r.status == 200);
  CHECK(r.ended);
  CHECK(busy.wait_closed(3s));
}

TEST_CASE("http2: a 48 MiB upload of unknown length streams through with the proxy's memory bounded") {
  StackOptions o;
  o.max_body_size = "64m";
  H2Stack s(o);
  INFO(s.proxy->process().output());
  TempDir tmp;
  std::string data(48u << 20, '\0');
  std::uint32_t x = 88172645u;
  for (auto& ch : data) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    ch = static_cast<char>(x & 0xff);
  }
  const std::string file = tmp.write("big.bin", data);
  const pid_t pid = s.proxy->process().pid();
  const long base = anon_peak_kib(pid);
  // No content-length ("Content-Length:" removes curl's): the body goes upstream chunked as the
  // DATA frames arrive.
  CurlResult r = curl({"--http2-prior-knowledge", "--data-binary", "@" + file, "-H", "Content-Length:", "-o",
                       tmp.path() + "/echo", "-w", "%{http_code}", s.h2c_url("/echo")}, 60);
  INFO("curl: " << r.exit_code << " " << r.out << " " << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out == "200");
  Echo e = parse_echo(read_file(tmp.path() + "/echo"));
  INFO(e.error);
  REQUIRE(e.ok);
  CHECK(e.body_bytes == data.size());
  CHECK(e.crc32 == crc32_hex(data));
  const long grown = anon_peak_kib(pid) - base;
  INFO("anonymous peak grew by " << grown << " KiB");
  CHECK(grown < 8 * 1024);  // a few windows' worth, not the body
}

TEST_CASE("http2: a client that never opens its stream window holds the proxy's memory bounded") {
  H2Stack s(one_worker());
  Proxy& p = *s.proxy;
  INFO(p.process().output());
  const pid_t pid = p.process().pid();
  // Warm up (allocator arenas, pools) before the baseline.
  for (int i = 0; i < 3; ++i) {
    CurlResult w = curl({"--http2-prior-knowledge", "-o", "/dev/null", s.h2c_url("/?size=300000")});
    REQUIRE(w.exit_code == 0);
  }
  const long base = anon_peak_kib(pid);

  // Stream windows stay at 65,535 bytes; the connection window is wide open for other streams.
  h2::Client c = connect_h2(s.h2c(), {.initial_window_size = 65535, .connection_window = h2::kMaxWindow});
  constexpr std::uint64_t size = 64ull << 20;
  const std::uint32_t big = c.request("GET", "/?size=" + std::to_string(size));
  REQUIRE(big != 0);
  REQUIRE(c.wait_until([&] { return c.stream(big).body_bytes >= 65535; }, 5s));
  c.wait_until([] { return false; }, 2s);  // time for the proxy to read (and hold) what it would
  INFO(describe(c.stream(big)));
  CHECK(c.stream(big).status == 200);
  CHECK(c.stream(big).body_bytes == 65535);
  const long stalled = anon_peak_kib(pid);
  INFO("proxy peak anonymous RSS: " << base << " KiB before, " << stalled << " KiB with the stalled 64 MiB response");
  CHECK(stalled - base < 16 * 1024);

  // Other streams on the same connection, and other connections, still work.
  const std::uint32_t ping = c.request("GET", "/ping");
  const std::uint32_t echo = c.request("GET", "/echo?other=1");
  REQUIRE(c.wait_until([&] { return c.stream(ping).done() && c.stream(echo).done(); }, 5s));
  CHECK(c.stream(ping).status == 200);
  CHECK(c.stream(ping).body == "pong\n");
  CHECK(c.stream(echo).status == 200);
  CHECK(parse_echo(c.stream(echo).body).path == "/echo?other=1");
  CurlResult other = curl({"--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_code}", s.h2c_url("/echo")});
  CHECK(other.out == "200");

  // Opening the window by 1 MiB lets exactly that much more through: the stream was paused, not lost.
  REQUIRE(c.send(h2::window_update_frame(big, 1u << 20)));
  REQUIRE(c.wait_until([&] { return c.stream(big).body_bytes >= 65535 + (1u << 20); }, 5s));
  c.wait_until([] { return false; }, 300ms);
  CHECK(c.stream(big).body_bytes == 65535 + (1u << 20));
  CHECK_FALSE(c.stream(big).done());
  REQUIRE(c.send(h2::rst_stream_frame(big, h2::err::cancel)));

  const std::uint32_t last = c.request("GET", "/ping");
  REQUIRE(c.wait_stream(last));
  CHECK(c.stream(last).status == 200);
  const long end = anon_peak_kib(pid);
  INFO("proxy peak anonymous RSS at the end: " << end << " KiB");
  CHECK(end - base < 16 * 1024);
  CHECK(p.process().running());
}

}  // namespace it
