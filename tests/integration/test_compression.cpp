// Response compression end to end: negotiation, the skip rules, framing (Content-Length for a
// whole small body, chunked or close-delimited for streamed ones), ETag weakening, and bodies
// decompressed by the real tools (gzip -d, brotli -d) and compared byte for byte with what the
// upstream sent.
#include "fixtures.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <string>
#include <sys/wait.h>

namespace it {
namespace {

const char* const compression_config = R"(version: 1
workers: 1
watch: false
admin: {address: "127.0.0.1:0"}
listeners:
  - {name: http, address: "127.0.0.1:0"}
policies:
  - name: squeeze
    compression: {algorithms: [br, gzip], gzip_level: 6, brotli_level: 4, min_length: 1k, content_types: [text/plain, application/json, text/html]}
servers:
  - name: app
    hosts: ["*"]
    routes:
      - {name: plain, path: /plain/, upstream: web, rewrite_prefix: /}
      - {name: web, path: /, upstream: web, policies: [squeeze]}
upstreams:
  - {name: web, endpoints: ["{{WEB}}"]}
)";

// Runs `tool -dc` on `data` (through a file in `dir`) and returns what it printed; fails the test
// when the tool does not exit 0.
std::string decompress(const TempDir& dir, const std::string& tool, const std::string& data) {
  const std::string in = dir.write("body." + tool, data);
  const std::string cmd = tool + " -dc < '" + in + "' 2>&1";
  std::FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[65536];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = ::pclose(p);
  INFO(tool << " output: " << out.substr(0, 300));
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  return out;
}

struct Fixture {
  Upstream web{"web"};
  Proxy proxy{subst(compression_config, {{"WEB", web.address()}})};
  std::uint16_t port = proxy.port("http");
  TempDir dir;

  // The upstream's own bytes for `target` (through the route without compression).
  std::string original(const std::string& target) {
    Response r = get(port, "/plain" + target);
    REQUIRE_RESPONSE(r);
    REQUIRE(r.status == 200);
    REQUIRE_FALSE(r.header("content-encoding"));
    return r.body;
  }
};

}  // namespace

TEST_CASE("compression: gzip of a 20 KB JSON is whole, sized and decodes to the upstream's bytes") {
  Fixture f;
  const std::string want = f.original("/?json=20480");
  REQUIRE(want.size() == 20480);
  Response r = get(f.port, "/?json=20480", "Accept-Encoding: gzip\r\n");
  REQUIRE_RESPONSE(r);
  CHECK(r.status == 200);
  CHECK(r.header("content-encoding") == std::optional<std::string>("gzip"));
  CHECK(r.header("vary") == std::optional<std::string>("Accept-Encoding"));
  CHECK_FALSE(r.chunked);  // the whole body was compressed in memory: it has a length
  REQUIRE(r.header("content-length"));
  CHECK(std::stoull(*r.header("content-length")) == r.body.size());
  CHECK(r.body.size() < want.size() / 2);
  CHECK(decompress(f.dir, "gzip", r.body) == want);
}

TEST_CASE("compression: brotli is preferred at equal q and decodes with brotli -d") {
  Fixture f;
  const std::string want = f.original("/?json=20480");
  Response r = get(f.port, "/?json=20480", "Accept-Encoding: gzip, deflate, br\r\n");
  REQUIRE_RESPONSE(r);
  CHECK(r.header("content-encoding") == std::optional<std::string>("br"));
  CHECK(decompress(f.dir, "brotli", r.body) == want);

  // A higher q for gzip wins over the server's preference; q=0 refuses a coding.
  r = get(f.port, "/?json=20480", "Accept-Encoding: br;q=0.5, gzip;q=0.9\r\n");
  CHECK(r.header("content-encoding") == std::optional<std::string>("gzip"));
  r = get(f.port, "/?json=20480", "Accept-Encoding: br;q=0, gzip\r\n");
  CHECK(r.header("content-encoding") == std::optional<std::string>("gzip"));
  r = get(f.port, "/?json=20480", "Accept-Encoding: br;q=0, gzip;q=0\r\n");
  CHECK_FALSE(r.header("content-encoding"));
  CHECK(r.body == want);
  // No Accept-Encoding: the body as it was, but caches are told it depends on the header.
  r = get(f.port, "/?json=20480");
  CHECK_FALSE(r.header("content-encoding"));
  CHECK(r.header("vary") == std::optional<std::string>("Accept-Encoding"));
  CHECK(r.body == want);
}

TEST_CASE("compression: a 1 MiB body and a body in many 7-byte chunks stream through chunked") {
  Fixture f;
  for (const std::string target : {"/?size=1048576", "/?size=100000&chunked=1&chunk=7", "/?json=300000&chunked=1&chunk=1000"}) {
    INFO(target);
    const std::string want = f.original(target);
    for (const std::string tool : {"gzip", "brotli"}) {
      INFO(tool);
      Response r = get(f.port, target, std::string("Accept-Encoding: ") + (tool == "gzip" ? "gzip" : "br") + "\r\n", "test.local");
      REQUIRE_RESPONSE(r);
      CHECK(r.status == 200);
      CHECK(r.chunked);
      CHECK_FALSE(r.header("content-length"));
      CHECK(r.body.size() < want.size());
      CHECK(decompress(f.dir, tool, r.body) == want);
    }
  }
}

TEST_CASE("compression: skipped for small, encoded, ranged, no-transform and unlisted responses") {
  Fixture f;
  struct Case {
    std::string target;
    const char* why;
  };
  const Case cases[] = {
      {"/?size=500", "below min_length"},
      {"/?size=5000&header=Content-Encoding:identity2", "already encoded"},
      {"/?size=5000&status=206&header=Content-Range:bytes%200-4999/9000", "a range"},
      {"/?size=5000&header=Cache-Control:public,%20no-transform", "no-transform"},
      {"/?size=5000&type=image/png", "not an allowed type"},
  };
  for (const Case& c : cases) {
    INFO(c.why);
    Response r = get(f.port, c.target, "Accept-Encoding: gzip, br\r\n");
    REQUIRE_RESPONSE(r);
    if (c.target.find("identity2") != std::string::npos)
      CHECK(r.header("content-encoding") == std::optional<std::string>("identity2"));
    else
      CHECK_FALSE(r.header("content-encoding"));
    CHECK(r.header("content-length"));
  }
}

TEST_CASE("compression: a strong ETag turns weak, HEAD gets the encoding without a length, HTTP/1.0 streams until close") {
  Fixture f;
  Response r = get(f.port, "/?size=5000&header=ETag:%22v1%22", "Accept-Encoding: gzip\r\n");
  REQUIRE_RESPONSE(r);
  CHECK(r.header("content-encoding") == std::optional<std::string>("gzip"));
  CHECK(r.header("etag") == std::optional<std::string>("W/\"v1\""));
  r = get(f.port, "/?size=5000&header=ETag:W/%22v2%22", "Accept-Encoding: gzip\r\n");
  CHECK(r.header("etag") == std::optional<std::string>("W/\"v2\""));

  r = fetch(f.port, request("HEAD", "/?size=5000", "Accept-Encoding: gzip\r\n"), 5s, ReadOptions{.head = true});
  REQUIRE_RESPONSE(r);
  CHECK(r.header("content-encoding") == std::optional<std::string>("gzip"));
  CHECK_FALSE(r.header("content-length"));
  CHECK(r.body.empty());

  const std::string want = f.original("/?size=200000");
  Conn c(f.port);
  REQUIRE(c.ok());
  REQUIRE(c.send("GET /?size=200000 HTTP/1.0\r\nHost: test.local\r\nAccept-Encoding: gzip\r\n\r\n"));
  bool closed = false;
  const std::string raw = c.read_until_close(5s, &closed);
  CHECK(closed);
  const auto end = raw.find("\r\n\r\n");
  REQUIRE(end != std::string::npos);
  const std::string head = raw.substr(0, end);
  std::string lower = head;
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  CHECK(lower.find("content-encoding: gzip") != std::string::npos);
  CHECK(lower.find("transfer-encoding") == std::string::npos);
  CHECK(decompress(f.dir, "gzip", raw.substr(end + 4)) == want);
}

TEST_CASE("compression: counted in rampart_compression_* by coding") {
  Fixture f;
  for (int i = 0; i < 3; ++i) REQUIRE(get(f.port, "/?json=20480", "Accept-Encoding: gzip\r\n").ok);
  REQUIRE(get(f.port, "/?json=20480", "Accept-Encoding: br\r\n").ok);
  const auto samples = scrape(f.proxy);
  CHECK(metric(samples, "rampart_compression_responses_total", {{"coding", "gzip"}}) == 3);
  CHECK(metric(samples, "rampart_compression_responses_total", {{"coding", "br"}}) == 1);
  CHECK(metric(samples, "rampart_compression_input_bytes_total", {{"coding", "gzip"}}) == 3 * 20480);
  const double out = metric(samples, "rampart_compression_output_bytes_total", {{"coding", "gzip"}});
  CHECK(out > 0);
  CHECK(out < 3 * 20480 / 2);
}

}  // namespace it

namespace it {

TEST_CASE("compression: curl --compressed gets the upstream's bytes back, gzip and brotli") {
  Fixture f;
  const std::string want = f.original("/?json=20480");
  for (const char* encoding : {"gzip", "br"}) {
    INFO(encoding);
    const std::string url = "http://127.0.0.1:" + std::to_string(f.port) + "/?json=20480";
    // curl decodes what it asked for; -D - shows the head it received before the body.
    CurlResult r = curl({"--compressed", "-H", std::string("Accept-Encoding: ") + encoding, "-D", "-", url});
    REQUIRE(r.exit_code == 0);
    const auto end = r.out.find("\r\n\r\n");
    REQUIRE(end != std::string::npos);
    std::string head = r.out.substr(0, end);
    for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    CHECK(head.find(std::string("content-encoding: ") + encoding) != std::string::npos);
    CHECK(r.out.substr(end + 4) == want);
  }
}

TEST_CASE("policies: rampart check reports every rate-limit, compression and CORS error at once, with file:line:col") {
  TempDir dir;
  const std::string file = dir.write("bad.yaml", R"(version: 1
listeners:
  - {name: http, address: "127.0.0.1:0"}
policies:
  - name: limit
    rate_limit: {rate: 100}
  - name: squeeze
    compression: {algorithms: [br, gzipp], gzip_level: 12}
  - name: open
    cors: {allow_origins: ["*"], allow_credentials: true}
  - name: secure
    security_headers: {x_frame_options: {value: DENY, mode: replace}}
servers:
  - name: app
    hosts: ["*"]
    routes:
      - {name: web, path: /, upstream: web, policies: [limit, squeeze, open, secure]}
upstreams:
  - {name: web, endpoints: ["127.0.0.1:9"]}
)");
  Process p(rampart_bin(), {"check", "-c", file});
  const int code = p.wait_exit(10s);
  const std::string err = p.raw_stderr();
  INFO(err);
  CHECK(code == 1);
  CHECK(err.find(file + ":6:24: error: rate '100' needs a unit: 100/s, 6000/m or 10/h") != std::string::npos);
  CHECK(err.find(file + ":8:36: error: unknown algorithm 'gzipp'") != std::string::npos);
  CHECK(err.find(file + ":8:56: error: must be between 1 and 9") != std::string::npos);  // gzip_level
  CHECK(err.find(file + ":10:11: error: allow_origins \"*\" cannot go with allow_credentials") != std::string::npos);
  CHECK(err.find(file + ":12:61: error: expected one of set, default") != std::string::npos);  // an unknown header mode
}

}  // namespace it
