// OCSP stapling from a response file: the served certificate's response is stapled (by SNI and by
// key type), none without one; a reload with a revoked or expired response is refused and the old
// staple stays; the file watcher picks up a renewed response; `rampart check` reports unusable
// responses with file:line:col. Every certificate and response is made by the test with openssl
// (`openssl ocsp` as a one-shot responder: -reqin / -respout) in a temporary directory.
#include "fixtures.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <string>
#include <vector>

namespace it {
namespace {


std::string openssl(const std::vector<std::string>& args) { return run_tool("/usr/bin/openssl", args); }

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

void write_all(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// A test CA (RSA, so its signatures have a fixed size) in `dir`, which issues leaf certificates and
// answers OCSP requests for them.
class Pki {
 public:
  explicit Pki(std::string dir) : d_(std::move(dir)) {
    openssl({"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Test OCSP CA", "-keyout",
             d_ + "/ca.key", "-out", d_ + "/ca.pem"});
    REQUIRE(std::ifstream(d_ + "/ca.pem").good());
  }

  // STEM.pem (the leaf alone), STEM.chain.pem (leaf, then the CA) and STEM.key, for `name`;
  // "ec" (P-256) or "rsa" (2048). Returns the leaf's serial as openssl prints it (hex).
  std::string leaf(const std::string& stem, const std::string& name, const std::string& type = "ec") {
    const std::string p = d_ + "/" + stem;
    std::vector<std::string> args{"req", "-new", "-nodes", "-subj", "/CN=" + name, "-addext", "subjectAltName=DNS:" + name,
                                  "-keyout", p + ".key", "-out", p + ".csr"};
    if (type == "ec") args.insert(args.begin() + 2, {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"});
    else args.insert(args.begin() + 2, {"-newkey", "rsa:2048"});
    openssl(args);
    openssl({"x509", "-req", "-days", "2", "-in", p + ".csr", "-CA", d_ + "/ca.pem", "-CAkey", d_ + "/ca.key",
             "-CAcreateserial", "-CAserial", d_ + "/ca.srl", "-copy_extensions", "copy", "-out", p + ".pem"});
    const std::string pem = read_all(p + ".pem");
    REQUIRE(pem.find("BEGIN CERTIFICATE") != std::string::npos);
    write_all(p + ".chain.pem", pem + read_all(d_ + "/ca.pem"));
    std::smatch m;
    const std::string serial = openssl({"x509", "-in", p + ".pem", "-noout", "-serial"});
    REQUIRE(std::regex_search(serial, m, std::regex("serial=([0-9A-F]+)")));
    serials_[stem] = m[1];
    return m[1];
  }

  // The CA's DER response about leaf `stem`, valid for `days`, written to `out`: status good, or
  // revoked (at 2025-01-01).
  void respond(const std::string& stem, const std::string& out, bool revoked = false, int days = 1) {
    const std::string p = d_ + "/" + stem;
    write_all(d_ + "/index.txt", std::string(revoked ? "R" : "V") + "\t301231000000Z\t" +
                                     (revoked ? "250101000000Z" : "") + "\t" + serials_.at(stem) + "\tunknown\t/CN=" +
                                     stem + "\n");
    openssl({"ocsp", "-issuer", d_ + "/ca.pem", "-cert", p + ".pem", "-no_nonce", "-reqout", p + ".req.der"});
    openssl({"ocsp", "-index", d_ + "/index.txt", "-rsigner", d_ + "/ca.pem", "-rkey", d_ + "/ca.key", "-CA",
             d_ + "/ca.pem", "-reqin", p + ".req.der", "-respout", out, "-ndays", std::to_string(days),
             "-resp_no_certs"});
    REQUIRE(std::filesystem::file_size(out) > 0);
  }

  // A copy of response `in` made in the past: producedAt and thisUpdate 2020-01-01, nextUpdate
  // 2020-01-02, signed again by the CA (`openssl ocsp` cannot back-date), written to `out`.
  void backdate(const std::string& in, const std::string& out) {
    std::string der = read_all(in);
    // OCSPResponse { status, [0] { type, OCTET STRING { BasicOCSPResponse { tbsResponseData, ... } } } }
    std::size_t at = enter(der, 0);  // OCSPResponse
    at = skip(der, at);              // responseStatus
    at = enter(der, at);             // [0]
    at = enter(der, at);             // ResponseBytes
    at = skip(der, at);              // responseType
    at = enter(der, at);             // response (OCTET STRING)
    at = enter(der, at);             // BasicOCSPResponse
    const std::size_t tbs_begin = at, tbs_end = skip(der, at);
    std::vector<std::size_t> times;  // GeneralizedTime contents: producedAt, thisUpdate, nextUpdate
    for (std::size_t i = tbs_begin; i + 17 <= tbs_end; ++i)
      if (der[i] == 0x18 && der[i + 1] == 0x0f && der[i + 16] == 'Z') times.push_back(i + 2);
    REQUIRE(times.size() == 3);
    der.replace(times[0], 15, "20200101000000Z");
    der.replace(times[1], 15, "20200101000000Z");
    der.replace(times[2], 15, "20200102000000Z");
    write_all(d_ + "/tbs.der", der.substr(tbs_begin, tbs_end - tbs_begin));
    openssl({"dgst", "-sha256", "-sign", d_ + "/ca.key", "-out", d_ + "/tbs.sig", d_ + "/tbs.der"});
    const std::string signature = read_all(d_ + "/tbs.sig");
    // Without certificates the response ends with the signature (a 2048-bit RSA one: 256 bytes).
    REQUIRE(signature.size() == 256);
    REQUIRE(der.size() > 256);
    der.replace(der.size() - 256, 256, signature);
    write_all(out, der);
  }

  const std::string& dir() const { return d_; }

 private:
  // DER: the offset of the content of the element at `at`, and the offset just past it.
  static std::pair<std::size_t, std::size_t> element(const std::string& der, std::size_t at) {
    REQUIRE(at + 2 <= der.size());
    std::size_t length = static_cast<unsigned char>(der[at + 1]);
    std::size_t header = 2;
    if (length & 0x80) {
      const std::size_t n = length & 0x7f;
      REQUIRE(at + 2 + n <= der.size());
      length = 0;
      for (std::size_t i = 0; i < n; ++i) length = (length << 8) | static_cast<unsigned char>(der[at + 2 + i]);
      header += n;
    }
    REQUIRE(at + header + length <= der.size());
    return {at + header, at + header + length};
  }
  static std::size_t enter(const std::string& der, std::size_t at) { return element(der, at).first; }
  static std::size_t skip(const std::string& der, std::size_t at) { return element(der, at).second; }

  std::string d_;
  std::map<std::string, std::string> serials_;
};

// openssl s_client asking for a staple (stdin at EOF: it ends after the handshake).
std::string s_client_status(std::uint16_t port, const std::vector<std::string>& extra) {
  std::vector<std::string> args{"s_client", "-connect", "127.0.0.1:" + std::to_string(port), "-status"};
  args.insert(args.end(), extra.begin(), extra.end());
  return run_tool("/usr/bin/openssl", args);
}

// What s_client printed of the stapled response: the serial it is about, its cert status and its
// next update; all "" when no response was sent.
struct Staple {
  bool sent = false;
  bool successful = false;
  std::string serial, status, next_update;
};

Staple staple_of(const std::string& out) {
  Staple s;
  if (out.find("OCSP response: no response sent") != std::string::npos) return s;
  if (out.find("OCSP Response Data:") == std::string::npos) return s;
  s.sent = true;
  s.successful = out.find("OCSP Response Status: successful") != std::string::npos;
  std::smatch m;
  if (std::regex_search(out, m, std::regex("Serial Number: ([0-9A-F]+)"))) s.serial = m[1];
  if (std::regex_search(out, m, std::regex("Cert Status: ([a-z]+)"))) s.status = m[1];
  if (std::regex_search(out, m, std::regex("Next Update: ([^\\n]+)"))) s.next_update = m[1];
  return s;
}

std::string yaml_with(const std::string& certificates, bool watch, const std::string& upstream) {
  return std::string("version: 1\nworkers: 2\nwatch: ") + (watch ? "true" : "false") +
         "\nadmin: {address: \"127.0.0.1:0\"}\n"
         "listeners:\n  - name: https\n    address: \"127.0.0.1:0\"\n    tls:\n      certificates:\n" +
         certificates +
         "servers:\n  - {name: s, hosts: [\"*\"], routes: [{name: all, path: /, upstream: web}]}\n"
         "upstreams:\n  - {name: web, endpoints: [\"" + upstream + "\"]}\n";
}

std::string cert_line(const std::string& d, const std::string& stem, const std::string& ocsp = "") {
  return "        - {cert: \"" + d + "/" + stem + ".chain.pem\", key: \"" + d + "/" + stem + ".key\"" +
         (ocsp.empty() ? "" : ", ocsp: \"" + ocsp + "\"") + "}\n";
}

}  // namespace

TEST_CASE("tls ocsp: the served certificate's response is stapled, by SNI and by key type, none without ocsp") {
  TempDir dir;
  const std::string d = dir.path();
  Pki pki(d);
  pki.leaf("plain", "plain.test");
  const std::string ec_serial = pki.leaf("ec", "example.test");
  const std::string rsa_serial = pki.leaf("rsa", "example.test", "rsa");
  REQUIRE(ec_serial != rsa_serial);
  pki.respond("ec", d + "/ec.der");
  pki.respond("rsa", d + "/rsa.der");
  Upstream web("ocspweb");
  Proxy p(yaml_with(cert_line(d, "plain") + cert_line(d, "ec", d + "/ec.der") + cert_line(d, "rsa", d + "/rsa.der"),
                    false, web.address()));
  const auto port = p.port("https");

  for (const char* version : {"-tls1_3", "-tls1_2"}) {
    const std::string out = s_client_status(port, {version, "-servername", "example.test"});
    INFO(version << "\n" << out);
    const Staple s = staple_of(out);
    CHECK(s.sent);
    CHECK(s.successful);
    CHECK(s.status == "good");
    CHECK(s.serial == ec_serial);
    CHECK(out.find("Server public key is 256 bit") != std::string::npos);
  }
  // A client that verifies only RSA signatures is served the RSA certificate, and its response.
  const std::string rsa = s_client_status(port, {"-servername", "example.test", "-sigalgs", "RSA-PSS+SHA256:RSA+SHA256"});
  INFO(rsa);
  CHECK(rsa.find("Server public key is 2048 bit") != std::string::npos);
  CHECK(staple_of(rsa).serial == rsa_serial);
  CHECK(staple_of(rsa).status == "good");

  // The default certificate has no response: nothing is stapled (and the handshake succeeds).
  const std::string plain = s_client_status(port, {"-servername", "plain.test"});
  INFO(plain);
  CHECK(plain.find("OCSP response: no response sent") != std::string::npos);
  CHECK(plain.find("subject=CN = plain.test") != std::string::npos);
  CHECK_FALSE(staple_of(plain).sent);
  // A client that does not ask gets no staple either.
  const std::string quiet = run_tool("/usr/bin/openssl", {"s_client", "-connect", "127.0.0.1:" + std::to_string(port),
                                                          "-servername", "example.test"});
  INFO(quiet);
  CHECK(quiet.find("OCSP response") == std::string::npos);
  CHECK(quiet.find("OCSP Response Data") == std::string::npos);
  CHECK(quiet.find("subject=CN = example.test") != std::string::npos);
}

TEST_CASE("tls ocsp: a reload with a revoked or expired response is refused and the old staple stays") {
  TempDir dir;
  const std::string d = dir.path();
  Pki pki(d);
  const std::string serial = pki.leaf("c", "example.test");
  const std::string live = d + "/live.der";
  pki.respond("c", live, false, 1);
  pki.respond("c", d + "/revoked.der", true);
  pki.respond("c", d + "/renewed.der", false, 2);
  pki.backdate(d + "/renewed.der", d + "/expired.der");
  // The back-dated fixture is a genuine response: signed by the CA, only its times are past.
  const std::string verified = openssl({"ocsp", "-respin", d + "/expired.der", "-CAfile", d + "/ca.pem", "-issuer",
                                        d + "/ca.pem", "-cert", d + "/c.pem", "-no_nonce"});
  INFO(verified);
  REQUIRE(verified.find("Response verify OK") != std::string::npos);
  REQUIRE(verified.find("Status times invalid") != std::string::npos);

  Upstream web("ocspweb");
  const std::string yaml = yaml_with(cert_line(d, "c", live), false, web.address());
  Proxy p(yaml);
  const auto port = p.port("https");
  const Staple first = staple_of(s_client_status(port, {"-servername", "example.test"}));
  CHECK(first.status == "good");
  CHECK(first.serial == serial);
  REQUIRE_FALSE(first.next_update.empty());

  std::filesystem::copy_file(d + "/revoked.der", live, std::filesystem::copy_options::overwrite_existing);
  ReloadResult revoked = p.reload(yaml);
  INFO(revoked.diagnostics);
  CHECK_FALSE(revoked.ok);
  CHECK(revoked.diagnostics.find("OCSP response " + live + " says certificate " + d + "/c.chain.pem was revoked at "
                                 "2025-01-01T00:00:00Z") != std::string::npos);
  Staple kept = staple_of(s_client_status(port, {"-servername", "example.test"}));
  CHECK(kept.status == "good");
  CHECK(kept.next_update == first.next_update);

  std::filesystem::copy_file(d + "/expired.der", live, std::filesystem::copy_options::overwrite_existing);
  ReloadResult expired = p.reload(yaml);
  INFO(expired.diagnostics);
  CHECK_FALSE(expired.ok);
  CHECK(expired.diagnostics.find("OCSP response " + live + " expired at 2020-01-02T00:00:00Z") != std::string::npos);
  kept = staple_of(s_client_status(port, {"-servername", "example.test"}));
  CHECK(kept.status == "good");
  CHECK(kept.next_update == first.next_update);

  // A renewed response is taken by the next reload.
  std::filesystem::copy_file(d + "/renewed.der", live, std::filesystem::copy_options::overwrite_existing);
  REQUIRE(p.reload(yaml).ok);
  const Staple renewed = staple_of(s_client_status(port, {"-servername", "example.test"}));
  CHECK(renewed.status == "good");
  CHECK_FALSE(renewed.next_update.empty());
  CHECK(renewed.next_update != first.next_update);

  // Without `ocsp` nothing is stapled any more.
  REQUIRE(p.reload(yaml_with(cert_line(d, "c"), false, web.address())).ok);
  CHECK(s_client_status(port, {"-servername", "example.test"}).find("OCSP response: no response sent") !=
        std::string::npos);
}

TEST_CASE("tls ocsp: the file watcher picks up a renewed response") {
  TempDir dir;
  const std::string d = dir.path();
  Pki pki(d);
  pki.leaf("c", "example.test");
  const std::string live = d + "/live.der";
  pki.respond("c", live, false, 1);
  pki.respond("c", d + "/renewed.der", false, 3);
  Upstream web("ocspweb");
  Proxy p(yaml_with(cert_line(d, "c", live), true, web.address()));
  const auto port = p.port("https");
  const Staple first = staple_of(s_client_status(port, {"-servername", "example.test"}));
  REQUIRE(first.status == "good");

  // Replaced the way renewal tools do it: a new file renamed over the old one.
  p.process().set_cursor(p.process().line_count());
  std::filesystem::copy_file(d + "/renewed.der", live + ".tmp");
  std::filesystem::rename(live + ".tmp", live);
  p.process().wait_for_line(std::regex("rampart: configuration files changed"), 5s);
  p.process().wait_for_line(std::regex("rampart: reload ok"), 5s);
  const Staple renewed = staple_of(s_client_status(port, {"-servername", "example.test"}));
  CHECK(renewed.status == "good");
  CHECK_FALSE(renewed.next_update.empty());
  CHECK(renewed.next_update != first.next_update);
}

TEST_CASE("tls ocsp: rampart check reports unusable responses with file:line:col") {
  TempDir dir;
  const std::string d = dir.path();
  Pki pki(d);
  for (const char* stem : {"a", "b", "c", "e", "f", "g"}) pki.leaf(stem, std::string(stem) + ".test");
  pki.respond("b", d + "/b.der");
  pki.respond("g", d + "/g.der", true);
  dir.write("junk.der", "not a response\n");
  // An OCSPResponse that is only a status: malformedRequest.
  write_all(d + "/malformed.der", std::string("\x30\x03\x0a\x01\x01", 5));
  const std::vector<std::string> lines{
      "        - {cert: a.chain.pem, key: a.key, ocsp: b.der}\n",         // another certificate's response
      "        - {cert: b.pem, key: b.key, ocsp: b.der}\n",               // the chain lacks the issuer
      "        - {cert: c.chain.pem, key: c.key, ocsp: junk.der}\n",      // not DER
      "        - {cert: e.chain.pem, key: e.key, ocsp: missing.der}\n",   // no such file
      "        - {cert: f.chain.pem, key: f.key, ocsp: malformed.der}\n", // not successful
      "        - {cert: g.chain.pem, key: g.key, ocsp: g.der}\n",         // revoked
  };
  std::string yaml = "version: 1\nlisteners:\n  - name: https\n    address: \"127.0.0.1:0\"\n    tls:\n      certificates:\n";
  for (const std::string& l : lines) yaml += l;
  yaml += "servers: [{name: s, hosts: [\"*\"], routes: [{respond: {}}]}]\n";
  const std::string file = dir.write("bad.yaml", yaml);
  Process check(rampart_bin(), {"check", "-c", file});
  CHECK(check.wait_exit(20s) == 1);
  const std::string out = check.raw_stdout(true) + check.raw_stderr();
  INFO(out);
  // Line 7 is the first certificate; each error points at its `ocsp` value.
  auto at = [&](std::size_t i) {
    return "bad.yaml:" + std::to_string(7 + i) + ":" + std::to_string(lines[i].find("ocsp: ") + 7) + ": error: ";
  };
  auto has = [&](const std::string& text) {
    INFO("expected: " << text);
    CHECK(out.find(text) != std::string::npos);
  };
  has(at(0) + "OCSP response " + d + "/b.der has no status for certificate " + d + "/a.chain.pem");
  has(at(0) + "OCSP response " + d + "/b.der has no status for certificate " + d + "/a.chain.pem "
              "[listeners[0].tls.certificates[0].ocsp]");
  has(at(1) + "ocsp needs the issuer certificate in the cert file");
  has(at(2) + d + "/junk.der is not a DER OCSP response");
  has(at(3) + "cannot read OCSP response " + d + "/missing.der: No such file or directory");
  has(at(4) + "OCSP response " + d + "/malformed.der has status malformedrequest, not successful");
  has(at(5) + "OCSP response " + d + "/g.der says certificate " + d + "/g.chain.pem was revoked at 2025-01-01T00:00:00Z");

  // The same certificates with their own responses pass.
  pki.respond("a", d + "/a.der");
  const std::string good = dir.write("good.yaml",
      "version: 1\nlisteners:\n  - name: https\n    address: \"127.0.0.1:0\"\n    tls:\n      certificates:\n"
      "        - {cert: a.chain.pem, key: a.key, ocsp: a.der}\n"
      "        - {cert: b.chain.pem, key: b.key, ocsp: b.der}\n"
      "servers: [{name: s, hosts: [\"*\"], routes: [{respond: {}}]}]\n");
  Process ok(rampart_bin(), {"check", "-c", good});
  const int code = ok.wait_exit(20s);
  INFO(ok.raw_stdout(true) + ok.raw_stderr());
  CHECK(code == 0);
}

}  // namespace it
