// A listener's tls block and redirect_https: what load() reads, and its errors. (The certificate
// files themselves are checked by the tls module when the snapshot is built.)
#include "support.hpp"

#include <catch2/catch.hpp>

using namespace rampart::config;
using rampart::config::test::errors_of;
using rampart::config::test::must_load;

namespace {

std::vector<std::string> errors_of_at(const std::string& text) { return errors_of(text, "/etc/rampart/t.yaml"); }

const std::string tail = "servers: [{name: s, hosts: [\"*\"], routes: [{respond: {}}]}]\n";

}  // namespace

TEST_CASE("tls: defaults, relative paths against the declaring file, redirect_https", "[config][tls]") {
  const ConfigSpec spec = must_load("listeners:\n"
                          "  - {name: s, address: \"127.0.0.1:0\", tls: {certificates: [{cert: ../certs/a.pem, key: /k/a.key}]}}\n"
                          "  - {name: p, address: \"127.0.0.1:0\", redirect_https: true}\n"
                          "  - {name: q, address: \"127.0.0.1:0\", redirect_https: 8443}\n" + tail,
                          "/etc/rampart/t.yaml");
  const TlsSpec& t = *spec.listeners[0].tls;
  CHECK(t.certificates[0].cert == "/etc/certs/a.pem");
  CHECK(t.certificates[0].key == "/k/a.key");
  CHECK(t.min_version == "1.2");
  CHECK(t.alpn == std::vector<std::string>{"http/1.1"});
  CHECK(t.session_tickets);
  CHECK(t.session_cache == 20480);
  CHECK(t.ciphers.find("ECDHE") == 0);  // forward secrecy only
  CHECK(t.ciphers.find("CBC") == std::string::npos);
  CHECK(spec.listeners[1].redirect_https_port == 443);
  CHECK(spec.listeners[2].redirect_https_port == 8443);
  CHECK_FALSE(spec.listeners[1].tls.has_value());
}

TEST_CASE("tls: errors", "[config][tls][errors]") {
  CHECK(errors_of_at("listeners:\n  - {name: s, address: \"127.0.0.1:0\", tls: {certificates: []}}\n" + tail) ==
        std::vector<std::string>{"/etc/rampart/t.yaml:2:59: error: tls needs at least one certificate "
                                 "[listeners[0].tls.certificates]"});
  CHECK(errors_of_at("listeners:\n  - {name: s, address: \"127.0.0.1:0\", tls: {certificates: [{cert: a.pem}], "
                  "min_version: \"1.1\", alpn: [h3]}}\n" + tail) ==
        std::vector<std::string>{
            "/etc/rampart/t.yaml:2:60: error: missing required key 'key' [listeners[0].tls.certificates[0].key]",
            "/etc/rampart/t.yaml:2:89: error: expected one of 1.2, 1.3 (did you mean '1.2'?) [listeners[0].tls.min_version]",
            "/etc/rampart/t.yaml:2:103: error: expected one of h2, http/1.1 (did you mean 'h2'?) [listeners[0].tls.alpn[0]]"});
  CHECK(errors_of_at("listeners:\n  - {name: s, address: \"127.0.0.1:0\", tls: {certificates: [{cert: a, key: b}], "
                     "alpn: [h2, h2]}}\n" + tail) ==
        std::vector<std::string>{"/etc/rampart/t.yaml:2:91: error: 'h2' is listed twice [listeners[0].tls.alpn[1]]"});
  CHECK(errors_of_at("listeners:\n  - {name: s, address: \"127.0.0.1:0\", h2c: true, tls: {certificates: "
                     "[{cert: a, key: b}]}}\n" + tail) ==
        std::vector<std::string>{"/etc/rampart/t.yaml:2:44: error: h2c is for plain-HTTP listeners (on TLS listeners "
                                 "offer h2 with tls.alpn) [listeners[0].h2c]"});
  CHECK(errors_of_at("listeners:\n  - {name: s, address: \"127.0.0.1:0\", http2: {initial_window_size: 1k, "
                     "max_concurrent_streams: 0, bogus: 1}}\n" + tail).size() == 3);  // all three at once
  CHECK(errors_of_at("listeners:\n  - {name: s, address: \"127.0.0.1:0\", redirect_https: 443, tls: {certificates: "
                  "[{cert: a, key: b}]}}\n" + tail) ==
        std::vector<std::string>{"/etc/rampart/t.yaml:2:55: error: redirect_https is for plain-HTTP listeners (this "
                                 "one has tls) [listeners[0].redirect_https]"});
}

TEST_CASE("tls: a certificate's ocsp response path resolves like cert and key, and survives a dump", "[config][tls]") {
  const std::string text = "listeners:\n"
                           "  - name: s\n"
                           "    address: \"127.0.0.1:0\"\n"
                           "    tls:\n"
                           "      certificates:\n"
                           "        - {cert: a.pem, key: a.key, ocsp: ../ocsp/a.der}\n"
                           "        - {cert: b.pem, key: b.key}\n" + tail;
  const ConfigSpec spec = must_load(text, "/etc/rampart/t.yaml");
  const TlsSpec& t = *spec.listeners[0].tls;
  REQUIRE(t.certificates.size() == 2);
  CHECK(t.certificates[0].ocsp == "/etc/ocsp/a.der");
  CHECK(t.certificates[0].ocsp_mark.line == 6);
  CHECK(t.certificates[0].ocsp_mark.col == 43);
  CHECK(t.certificates[1].ocsp.empty());

  // The response is part of the certificate's identity: another file is another spec.
  CertificateSpec other = t.certificates[0];
  other.ocsp = "/etc/ocsp/b.der";
  CHECK_FALSE(other == t.certificates[0]);

  const std::string dumped = dump(spec);
  CHECK(dumped.find("ocsp: /etc/ocsp/a.der") != std::string::npos);
  const ConfigSpec again = must_load(dumped, "/elsewhere/dump.yaml");
  CHECK(again.listeners[0].tls == spec.listeners[0].tls);
}

TEST_CASE("tls: ocsp errors", "[config][tls][errors]") {
  CHECK(errors_of_at("listeners:\n  - {name: s, address: \"127.0.0.1:0\", tls: {certificates: "
                     "[{cert: a.pem, key: a.key, ocsp: \"\"}]}}\n" + tail) ==
        std::vector<std::string>{"/etc/rampart/t.yaml:2:92: error: must not be empty "
                                 "[listeners[0].tls.certificates[0].ocsp]"});
  CHECK(errors_of_at("listeners:\n  - {name: s, address: \"127.0.0.1:0\", tls: {certificates: "
                     "[{cert: a.pem, key: a.key, ocsp: [a.der]}]}}\n" + tail)
            .size() == 1);
  CHECK(errors_of_at("listeners:\n  - {name: s, address: \"127.0.0.1:0\", tls: {certificates: "
                     "[{cert: a.pem, key: a.key, ocp: a.der}]}}\n" + tail)
            .at(0)
            .find("unknown key 'ocp' (did you mean 'ocsp'?)") != std::string::npos);
}
