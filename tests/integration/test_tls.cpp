// TLS termination with real clients (openssl s_client, curl): SNI, ECDSA and RSA for one name,
// versions, resumption across workers and reloads, certificate reload, errors at check time,
// handshake metrics, and the HTTP listener's redirect to HTTPS. Every certificate is made by the
// test with openssl in a temporary directory.
#include "fixtures.hpp"

#include "../unit/observe/access_log_json_check.hpp"

#include <catch2/catch.hpp>

#include <signal.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <string>
#include <vector>

namespace it {
namespace {


// A self-signed certificate for `names` (the first is the CN): "ec" (P-256) or "rsa" (2048).
void make_cert(const std::string& dir, const std::string& stem, const std::vector<std::string>& names,
               const std::string& type = "ec") {
  std::string san = "subjectAltName=";
  for (std::size_t i = 0; i < names.size(); ++i) san += (i ? ",DNS:" : "DNS:") + names[i];
  std::vector<std::string> args{"req", "-x509", "-nodes", "-days", "2", "-subj", "/CN=" + names[0], "-addext", san,
                                "-keyout", dir + "/" + stem + ".key", "-out", dir + "/" + stem + ".pem"};
  if (type == "ec") {
    args.insert(args.begin() + 1, {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"});
  } else {
    args.insert(args.begin() + 1, {"-newkey", "rsa:2048"});
  }
  run_tool("/usr/bin/openssl", args);
  REQUIRE(std::ifstream(dir + "/" + stem + ".pem").good());
}

// openssl s_client against 127.0.0.1:port (stdin at EOF: it ends after the handshake).
std::string s_client(std::uint16_t port, const std::vector<std::string>& extra) {
  std::vector<std::string> args{"s_client", "-connect", "127.0.0.1:" + std::to_string(port)};
  args.insert(args.end(), extra.begin(), extra.end());
  return run_tool("/usr/bin/openssl", args);
}

bool http_iequals(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string subject_of(const std::string& s_client_output) {
  std::smatch m;
  if (std::regex_search(s_client_output, m, std::regex("subject=CN ?= ?([^\\n]+)"))) return m[1];
  return "<none>";
}

}  // namespace

TEST_CASE("tls: SNI picks the certificate, ECDSA or RSA by client capability, default without SNI") {
  TempDir dir;
  make_cert(dir.path(), "default", {"default.test"});
  make_cert(dir.path(), "ec", {"example.test", "*.example.test"});
  make_cert(dir.path(), "rsa", {"example.test", "*.example.test"}, "rsa");
  Upstream web("tlsweb");
  const std::string yaml =
      "version: 1\nworkers: 2\nwatch: false\nadmin: {address: \"127.0.0.1:0\"}\n"
      "listeners:\n  - name: https\n    address: \"127.0.0.1:0\"\n    tls:\n      certificates:\n"
      "        - {cert: \"" + dir.path() + "/default.pem\", key: \"" + dir.path() + "/default.key\"}\n"
      "        - {cert: \"" + dir.path() + "/ec.pem\", key: \"" + dir.path() + "/ec.key\"}\n"
      "        - {cert: \"" + dir.path() + "/rsa.pem\", key: \"" + dir.path() + "/rsa.key\"}\n"
      "servers:\n  - {name: s, hosts: [\"*\"], routes: [{name: all, path: /, upstream: web}]}\n"
      "upstreams:\n  - {name: web, endpoints: [\"" + web.address() + "\"]}\n";
  Proxy p(yaml);
  const auto port = p.port("https");

  CHECK(subject_of(s_client(port, {"-servername", "example.test"})) == "example.test");
  CHECK(subject_of(s_client(port, {"-servername", "api.example.test"})) == "example.test");  // wildcard
  CHECK(subject_of(s_client(port, {"-servername", "a.b.example.test"})) == "default.test");  // one label only
  CHECK(subject_of(s_client(port, {"-servername", "unknown.test"})) == "default.test");
  CHECK(subject_of(s_client(port, {"-noservername"})) == "default.test");

  // A client that only verifies RSA signatures gets the RSA certificate; the others ECDSA.
  std::string rsa = s_client(port, {"-servername", "example.test", "-sigalgs", "RSA-PSS+SHA256:RSA+SHA256"});
  CHECK(rsa.find("Server public key is 2048 bit") != std::string::npos);
  std::string ec = s_client(port, {"-servername", "example.test"});
  CHECK(ec.find("Server public key is 256 bit") != std::string::npos);

  // A real request through it, with the proxy telling the upstream the scheme was https.
  CurlResult r = curl({"--cacert", dir.path() + "/ec.pem", "--resolve", "example.test:" + std::to_string(port) + ":127.0.0.1",
                       "https://example.test:" + std::to_string(port) + "/echo"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  Echo e = parse_echo(r.out);
  REQUIRE(e.ok);
  bool proto = false;
  for (const auto& [name, value] : e.headers)
    if (http_iequals(name, "x-forwarded-proto")) proto = value == "https";
  CHECK(proto);
}

TEST_CASE("tls: versions below the minimum are refused, ALPN offers http/1.1 only") {
  TempDir dir;
  make_cert(dir.path(), "c", {"example.test"});
  Upstream web("tlsweb");
  auto config = [&](const std::string& min) {
    return "version: 1\nworkers: 1\nwatch: false\nadmin: {address: \"127.0.0.1:0\"}\n"
           "listeners:\n  - name: https\n    address: \"127.0.0.1:0\"\n    tls:\n      min_version: \"" + min +
           "\"\n      certificates: [{cert: \"" + dir.path() + "/c.pem\", key: \"" + dir.path() + "/c.key\"}]\n"
           "servers:\n  - {name: s, hosts: [\"*\"], routes: [{name: all, path: /, upstream: web}]}\n"
           "upstreams:\n  - {name: web, endpoints: [\"" + web.address() + "\"]}\n";
  };
  {
    Proxy p(config("1.2"));
    const auto port = p.port("https");
    const std::string old_version = s_client(port, {"-tls1_1"});
    INFO(old_version);
    CHECK(old_version.find("alert protocol version") != std::string::npos);
    CHECK(s_client(port, {"-tls1_2"}).find("New, TLSv1.2") != std::string::npos);
    CHECK(s_client(port, {"-tls1_3"}).find("New, TLSv1.3") != std::string::npos);
    CHECK(s_client(port, {"-alpn", "h2,http/1.1"}).find("ALPN protocol: http/1.1") != std::string::npos);
    CHECK(s_client(port, {"-alpn", "h2"}).find("No ALPN negotiated") != std::string::npos);
    // Only forward-secret suites: a static-RSA-only client finds nothing in common.
    CHECK(s_client(port, {"-tls1_2", "-cipher", "AES128-SHA"}).find("Cipher is (NONE)") != std::string::npos);
    auto samples = scrape(p);
    CHECK(metric(samples, "rampart_tls_handshake_failures_total", {{"listener", "https"}, {"reason", "protocol_version"}}) == 1);
    CHECK(metric(samples, "rampart_tls_handshake_failures_total", {{"listener", "https"}, {"reason", "no_shared_cipher"}}) == 1);
  }
  {
    Proxy p(config("1.3"));
    const auto port = p.port("https");
    const std::string refused = s_client(port, {"-tls1_2"});
    INFO(refused);
    CHECK(refused.find("alert protocol version") != std::string::npos);
    CHECK(s_client(port, {"-tls1_3"}).find("New, TLSv1.3") != std::string::npos);
  }
}

TEST_CASE("tls: sessions resume across workers and across a reload, by ticket and by cache") {
  TempDir dir;
  make_cert(dir.path(), "c", {"example.test"});
  Upstream web("tlsweb");
  auto config = [&](const std::string& tickets) {
    return "version: 1\nworkers: 2\nwatch: false\nadmin: {address: \"127.0.0.1:0\"}\n"
           "listeners:\n  - name: https\n    address: \"127.0.0.1:0\"\n    tls:\n      session_tickets: " + tickets +
           "\n      certificates: [{cert: \"" + dir.path() + "/c.pem\", key: \"" + dir.path() + "/c.key\"}]\n"
           "servers:\n  - {name: s, hosts: [\"*\"], routes: [{name: all, path: /, upstream: web}]}\n"
           "upstreams:\n  - {name: web, endpoints: [\"" + web.address() + "\"]}\n";
  };
  Proxy p(config("true"));
  const auto port = p.port("https");
  const std::string s12 = dir.path() + "/s12", s13 = dir.path() + "/s13";
  CHECK(s_client(port, {"-tls1_2", "-sess_out", s12}).find("New, TLSv1.2") != std::string::npos);
  // TLS 1.3 tickets arrive after the handshake: keep s_client's input open a moment to get one.
  CHECK(run_tool("/bin/sh", {"-c", "sleep 0.5 | openssl s_client -connect 127.0.0.1:" + std::to_string(port) +
                                       " -tls1_3 -sess_out " + s13 + " 2>&1"})
            .find("New, TLSv1.3") != std::string::npos);
  // Several connections land on both workers (SO_REUSEPORT); the keys are the process's.
  for (int i = 0; i < 6; ++i) {
    INFO("resumption " << i);
    CHECK(s_client(port, {"-tls1_2", "-sess_in", s12}).find("Reused, TLSv1.2") != std::string::npos);
  }
  // A TLS 1.3 client uses a ticket once: each resumption must bring a fresh one, or every other
  // connection would be a full handshake.
  std::string in = s13;
  for (int i = 0; i < 3; ++i) {
    INFO("chained resumption " << i);
    const std::string out = dir.path() + "/chain" + std::to_string(i);
    CHECK(run_tool("/bin/sh", {"-c", "sleep 0.5 | openssl s_client -connect 127.0.0.1:" + std::to_string(port) +
                                         " -tls1_3 -sess_in " + in + " -sess_out " + out + " 2>&1"})
              .find("Reused, TLSv1.3") != std::string::npos);
    in = out;
  }
  // A reload keeps the listener's ticket keys.
  REQUIRE(p.reload(config("{rotation: 1h}")).ok);
  CHECK(s_client(port, {"-tls1_2", "-sess_in", s12}).find("Reused, TLSv1.2") != std::string::npos);
  CHECK(metric(scrape(p), "rampart_tls_handshakes_total", {{"listener", "https"}, {"resumed", "true"}}) >= 10);

  // Without tickets, the session cache resumes TLS 1.2 sessions by id.
  REQUIRE(p.reload(config("false")).ok);
  const std::string sid = dir.path() + "/sid";
  CHECK(s_client(port, {"-tls1_2", "-sess_out", sid}).find("New, TLSv1.2") != std::string::npos);
  CHECK(s_client(port, {"-tls1_2", "-sess_in", sid}).find("Reused, TLSv1.2") != std::string::npos);
}

TEST_CASE("tls: certificates reload with the config, a bad one keeps the old in service") {
  TempDir dir;
  make_cert(dir.path(), "c", {"first.test"});
  Upstream web("tlsweb");
  const std::string yaml =
      "version: 1\nworkers: 2\nwatch: false\nadmin: {address: \"127.0.0.1:0\"}\n"
      "listeners:\n  - name: https\n    address: \"127.0.0.1:0\"\n    tls:\n"
      "      certificates: [{cert: \"" + dir.path() + "/c.pem\", key: \"" + dir.path() + "/c.key\"}]\n"
      "servers:\n  - {name: s, hosts: [\"*\"], routes: [{name: all, path: /, upstream: web}]}\n"
      "upstreams:\n  - {name: web, endpoints: [\"" + web.address() + "\"]}\n";
  Proxy p(yaml);
  const auto port = p.port("https");
  CHECK(subject_of(s_client(port, {})) == "first.test");
  // An open keep-alive connection survives the reload.
  CurlResult before = curl({"-k", "https://127.0.0.1:" + std::to_string(port) + "/echo"});
  REQUIRE(before.exit_code == 0);

  // Renewed in place: same paths, new certificate.
  make_cert(dir.path(), "c", {"second.test"});
  REQUIRE(p.reload(yaml).ok);
  CHECK(subject_of(s_client(port, {})) == "second.test");

  // A key that does not match: the reload fails, naming the file, and the old one stays.
  make_cert(dir.path(), "other", {"other.test"});
  std::filesystem::copy_file(dir.path() + "/other.key", dir.path() + "/c.key",
                             std::filesystem::copy_options::overwrite_existing);
  ReloadResult bad = p.reload(yaml);
  CHECK_FALSE(bad.ok);
  CHECK(bad.diagnostics.find("does not match certificate") != std::string::npos);
  CHECK(subject_of(s_client(port, {})) == "second.test");
}

TEST_CASE("tls: rampart check reports unusable certificates with file:line:col") {
  TempDir dir;
  make_cert(dir.path(), "good", {"good.test"});
  make_cert(dir.path(), "other", {"other.test"});
  // An expired certificate, signed by itself through `openssl ca` (req cannot back-date).
  const std::string ca = dir.path() + "/ca";
  std::filesystem::create_directory(ca);
  { std::ofstream(ca + "/index.txt"); }
  { std::ofstream(ca + "/serial") << "01\n"; }
  {
    std::ofstream(ca + "/ca.cnf") << "[ca]\ndefault_ca = d\n[d]\ndatabase = " << ca << "/index.txt\nnew_certs_dir = " << ca
                                  << "\nserial = " << ca << "/serial\ndefault_md = sha256\npolicy = p\n"
                                  << "unique_subject = no\n[p]\ncommonName = supplied\n";
  }
  run_tool("/usr/bin/openssl", {"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                                ca + "/exp.key", "-out", ca + "/exp.csr", "-subj", "/CN=expired.test"});
  run_tool("/usr/bin/openssl", {"ca", "-batch", "-config", ca + "/ca.cnf", "-selfsign", "-keyfile", ca + "/exp.key", "-in",
                                ca + "/exp.csr", "-out", ca + "/exp.pem", "-startdate", "20200101000000Z", "-enddate",
                                "20200102000000Z"});
  const std::string file = dir.write("bad.yaml",
      "version: 1\n"
      "listeners:\n"
      "  - name: https\n"
      "    address: \"127.0.0.1:0\"\n"
      "    tls:\n"
      "      certificates:\n"
      "        - {cert: ca/exp.pem, key: ca/exp.key}\n"
      "        - {cert: good.pem, key: other.key}\n"
      "        - {cert: missing.pem, key: good.key}\n"
      "servers: [{name: s, hosts: [\"*\"], routes: [{respond: {}}]}]\n");
  Process check(rampart_bin(), {"check", "-c", file});
  CHECK(check.wait_exit(20s) == 1);
  const std::string out = check.raw_stdout(true) + check.raw_stderr();
  INFO(out);
  CHECK(out.find("bad.yaml:7:11: error: certificate " + ca + "/exp.pem has expired") != std::string::npos);
  CHECK(out.find("bad.yaml:8:11: error: private key " + dir.path() + "/other.key does not match certificate " +
                 dir.path() + "/good.pem") != std::string::npos);
  CHECK(out.find("bad.yaml:9:11: error: cannot read certificate " + dir.path() + "/missing.pem") != std::string::npos);
}

TEST_CASE("tls: handshake failures are counted by reason, a stalled handshake meets the header deadline") {
  TempDir dir;
  make_cert(dir.path(), "c", {"example.test"});
  Upstream web("tlsweb");
  Proxy p("version: 1\nworkers: 1\nwatch: false\nadmin: {address: \"127.0.0.1:0\"}\n"
          "defaults: {client_header_timeout: 1s}\n"
          "listeners:\n  - name: https\n    address: \"127.0.0.1:0\"\n    tls:\n"
          "      certificates: [{cert: \"" + dir.path() + "/c.pem\", key: \"" + dir.path() + "/c.key\"}]\n"
          "servers:\n  - {name: s, hosts: [\"*\"], routes: [{name: all, path: /, upstream: web}]}\n"
          "upstreams:\n  - {name: web, endpoints: [\"" + web.address() + "\"]}\n");
  const auto port = p.port("https");
  // Plain HTTP to the TLS port.
  Response plain = fetch(port, request("GET", "/"), 3s);
  CHECK_FALSE((plain.ok && plain.status == 200));
  // Connects and says nothing: closed when client_header_timeout (1 s) passes.
  Conn idle(port);
  REQUIRE(idle.ok());
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(idle.is_closed(3s));
  const auto waited = std::chrono::steady_clock::now() - t0;
  CHECK(waited >= 900ms);
  CHECK(waited < 2500ms);
  auto samples = scrape(p);
  CHECK(metric(samples, "rampart_tls_handshake_failures_total", {{"listener", "https"}, {"reason", "http_request"}}) == 1);
  CHECK(metric(samples, "rampart_tls_handshake_failures_total", {{"listener", "https"}, {"reason", "timeout"}}) == 1);
}

TEST_CASE("tls: a plain-HTTP listener with redirect_https sends every request to https") {
  Upstream web("plainweb");
  Proxy p("version: 1\nworkers: 1\nwatch: false\nadmin: {address: \"127.0.0.1:0\"}\n"
          "listeners:\n  - {name: http, address: \"127.0.0.1:0\", redirect_https: 8443}\n"
          "  - {name: other, address: \"127.0.0.1:0\", redirect_https: true}\n"
          "servers:\n  - {name: s, hosts: [\"*\"], routes: [{name: all, path: /, upstream: web}]}\n"
          "upstreams:\n  - {name: web, endpoints: [\"" + web.address() + "\"]}\n");
  Response get_r = get(p.port("http"), "/a/b?x=1&y=2", "", "shop.example:80");
  REQUIRE_RESPONSE(get_r);
  CHECK(get_r.status == 301);
  CHECK(get_r.header("location") == std::optional<std::string>("https://shop.example:8443/a/b?x=1&y=2"));
  Response post_r = fetch(p.port("http"), request("POST", "/form", "", "a=1", "shop.example"));
  REQUIRE_RESPONSE(post_r);
  CHECK(post_r.status == 308);
  CHECK(post_r.header("location") == std::optional<std::string>("https://shop.example:8443/form"));
  Response default_port = get(p.port("other"), "/", "", "[2001:db8::1]:8080");
  CHECK(default_port.header("location") == std::optional<std::string>("https://[2001:db8::1]/"));
}

}  // namespace it

namespace it {

TEST_CASE("tls: big bodies both ways, an idle connection parked and resumed, and an upgrade tunnel") {
  TempDir dir;
  make_cert(dir.path(), "c", {"example.test"});
  Upstream web("tlsweb");
  Proxy p("version: 1\nworkers: 2\nwatch: false\nadmin: {address: \"127.0.0.1:0\"}\n"
          "listeners:\n  - name: https\n    address: \"127.0.0.1:0\"\n    tls:\n"
          "      certificates: [{cert: \"" + dir.path() + "/c.pem\", key: \"" + dir.path() + "/c.key\"}]\n"
          "servers:\n  - {name: s, hosts: [\"*\"], routes: [{name: big, path: /upload, upstream: web, max_body_size: 0, "
          "rewrite_prefix: /echo}, {name: all, path: /, upstream: web}]}\n"
          "upstreams:\n  - {name: web, endpoints: [\"" + web.address() + "\"]}\n");
  const std::string base = "https://127.0.0.1:" + std::to_string(p.port("https"));

  // 3 MB up (many records, streamed) and 5 MB down.
  std::string blob(3'000'000, '\0');
  for (std::size_t i = 0; i < blob.size(); ++i) blob[i] = static_cast<char>((i * 2654435761u) >> 13);
  const std::string file = dir.write("blob", blob);
  CurlResult up = curl({"-k", "--data-binary", "@" + file, "-H", "content-type: application/octet-stream", base + "/upload"});
  INFO(up.err);
  REQUIRE(up.exit_code == 0);
  Echo e = parse_echo(up.out);
  REQUIRE(e.ok);
  CHECK(e.body_bytes == blob.size());
  CHECK(e.crc32 == crc32_hex(blob));
  CurlResult down = curl({"-k", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", base + "/file?size=5000000"});
  REQUIRE(down.exit_code == 0);
  CHECK(down.out == "200 5000000");

  // Two requests on one TLS connection with an idle pause between them: the connection is parked
  // (buffers returned, no coroutine) and resumes on the second request.
  const std::string connect = " | openssl s_client -quiet -no_ign_eof -connect 127.0.0.1:" + std::to_string(p.port("https")) + " 2>/dev/null";
  std::string two = run_tool("/bin/sh", {"-c", "(printf 'GET /echo?i=1 HTTP/1.1\\r\\nHost: t\\r\\n\\r\\n'; sleep 0.6; "
                                               "printf 'GET /echo?i=2 HTTP/1.1\\r\\nHost: t\\r\\nConnection: close\\r\\n\\r\\n'; "
                                               "sleep 1)" + connect});
  std::size_t responses = 0;
  for (std::size_t at = two.find("HTTP/1.1 200"); at != std::string::npos; at = two.find("HTTP/1.1 200", at + 1)) ++responses;
  INFO(two);
  CHECK(responses == 2);
  CHECK(two.find("/echo?i=2") != std::string::npos);

  // An upgrade: after the 101, bytes flow both ways through TLS on one side and TCP on the other.
  std::string ws = run_tool("/bin/sh", {"-c", "(printf 'GET /ws HTTP/1.1\\r\\nHost: t\\r\\nConnection: Upgrade\\r\\n"
                                              "Upgrade: websocket\\r\\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\n"
                                              "Sec-WebSocket-Version: 13\\r\\n\\r\\n'; sleep 0.3; printf 'hello tunnel'; "
                                              "sleep 0.5)" + connect});
  INFO(ws);
  CHECK(ws.find("HTTP/1.1 101") != std::string::npos);
  CHECK(ws.ends_with("hello tunnel"));
}

}  // namespace it

namespace it {

TEST_CASE("tls: testssl finds no protocol below TLS 1.2, no weak cipher, forward secrecy throughout") {
  TempDir dir;
  make_cert(dir.path(), "c", {"example.test"});
  make_cert(dir.path(), "r", {"example.test"}, "rsa");
  Upstream web("tlsweb");
  Proxy p("version: 1\nworkers: 1\nwatch: false\nadmin: {address: \"127.0.0.1:0\"}\n"
          "listeners:\n  - name: https\n    address: \"127.0.0.1:0\"\n    tls:\n"
          "      certificates: [{cert: \"" + dir.path() + "/c.pem\", key: \"" + dir.path() + "/c.key\"}, "
          "{cert: \"" + dir.path() + "/r.pem\", key: \"" + dir.path() + "/r.key\"}]\n"
          "servers:\n  - {name: s, hosts: [\"*\"], routes: [{name: all, path: /, upstream: web}]}\n"
          "upstreams:\n  - {name: web, endpoints: [\"" + web.address() + "\"]}\n");
  const std::string json = dir.path() + "/testssl.json";
  // -p protocols, -s cipher categories, -f forward secrecy.
  std::string out = run_tool("/usr/bin/testssl", {"--quiet", "--color", "0", "--warnings", "off", "-p", "-s", "-f",
                                                  "--jsonfile", json, "127.0.0.1:" + std::to_string(p.port("https"))},
                             120s);
  std::ifstream in(json);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  INFO(out);
  auto doc = rampart::observe::test::parse_json(text);
  REQUIRE(doc.has_value());
  std::map<std::string, std::pair<std::string, std::string>> findings;  // id -> (severity, finding)
  for (const auto& f : doc->items) findings[f.get("id")->text] = {f.get("severity")->text, f.get("finding")->text};
  for (const char* id : {"SSLv2", "SSLv3", "TLS1", "TLS1_1", "cipherlist_NULL", "cipherlist_aNULL", "cipherlist_EXPORT",
                         "cipherlist_LOW", "cipherlist_3DES_IDEA", "cipherlist_AVERAGE"}) {
    INFO(id);
    REQUIRE(findings.count(id) == 1);
    CHECK(findings[id].second == "not offered");
  }
  for (const char* id : {"TLS1_2", "TLS1_3", "cipherlist_STRONG", "PFS"}) {
    INFO(id);
    REQUIRE(findings.count(id) == 1);
    CHECK(findings[id].second.rfind("offered", 0) == 0);
  }
  for (const auto& [id, f] : findings) {
    INFO(id << ": " << f.first << " " << f.second);
    if (id == "engine_problem") continue;  // about the local openssl binary, not the server
    CHECK(f.first != "LOW");
    CHECK(f.first != "MEDIUM");
    CHECK(f.first != "HIGH");
    CHECK(f.first != "CRITICAL");
  }
}

}  // namespace it

namespace it {

TEST_CASE("tls: client certificates (mTLS) are verified and their subject goes upstream, unforgeable") {
  TempDir dir;
  const std::string d = dir.path();
  make_cert(d, "server", {"example.test"});
  auto openssl = [](const std::vector<std::string>& args) { return run_tool("/usr/bin/openssl", args); };
  const std::vector<std::string> ec{"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"};
  auto with = [&](std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  openssl(with({"req", "-x509", "-days", "2", "-subj", "/CN=Test CA", "-keyout", d + "/ca.key", "-out", d + "/ca.pem"}, ec));
  openssl(with({"req", "-new", "-subj", "/CN=alice/O=Example", "-keyout", d + "/alice.key", "-out", d + "/alice.csr"}, ec));
  openssl({"x509", "-req", "-days", "2", "-in", d + "/alice.csr", "-CA", d + "/ca.pem", "-CAkey", d + "/ca.key",
           "-CAcreateserial", "-out", d + "/alice.pem"});
  make_cert(d, "mallory", {"mallory.test"});  // self-signed: not from the CA
  Upstream web("tlsweb");
  auto config = [&](bool required) {
    return "version: 1\nworkers: 2\nwatch: false\nadmin: {address: \"127.0.0.1:0\"}\n"
           "listeners:\n  - name: https\n    address: \"127.0.0.1:0\"\n    tls:\n"
           "      certificates: [{cert: \"" + d + "/server.pem\", key: \"" + d + "/server.key\"}]\n"
           "      client_auth: {ca: \"" + d + "/ca.pem\", required: " + (required ? "true" : "false") +
           ", subject_header: X-Client-Subject}\n"
           "servers:\n  - {name: s, hosts: [\"*\"], routes: [{name: all, path: /, upstream: web}]}\n"
           "upstreams:\n  - {name: web, endpoints: [\"" + web.address() + "\"]}\n";
  };
  Proxy p(config(true));
  const std::string url = "https://127.0.0.1:" + std::to_string(p.port("https")) + "/echo";
  auto subject_seen = [](const Echo& e) {
    std::vector<std::string> values;
    for (const auto& [name, value] : e.headers)
      if (http_iequals(name, "x-client-subject")) values.push_back(value);
    return values;
  };

  // A certificate from the CA: admitted, its subject passed on; a forged header is dropped.
  CurlResult ok = curl({"-k", "--cert", d + "/alice.pem", "--key", d + "/alice.key", "-H", "X-Client-Subject: CN=admin", url});
  INFO(ok.err);
  REQUIRE(ok.exit_code == 0);
  Echo e = parse_echo(ok.out);
  REQUIRE(e.ok);
  CHECK(subject_seen(e) == std::vector<std::string>{"O=Example,CN=alice"});

  // No certificate, or one the CA did not sign: the handshake fails.
  CHECK(curl({"-k", url}).exit_code != 0);
  CHECK(curl({"-k", "--cert", d + "/mallory.pem", "--key", d + "/mallory.key", url}).exit_code != 0);
  CHECK(metric(scrape(p), "rampart_tls_handshake_failures_total",
               {{"listener", "https"}, {"reason", "client_certificate"}}) >= 2);

  // Optional: without a certificate the request goes through, with no subject (and no forgery).
  REQUIRE(p.reload(config(false)).ok);
  CurlResult anon = curl({"-k", "-H", "X-Client-Subject: CN=admin", url});
  REQUIRE(anon.exit_code == 0);
  Echo a = parse_echo(anon.out);
  REQUIRE(a.ok);
  CHECK(subject_seen(a).empty());
}

}  // namespace it
