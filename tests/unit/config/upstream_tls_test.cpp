// `upstreams[].tls`: what load() makes of it (defaults, paths, forms), its errors, and its dump.
#include "support.hpp"

#include "config/load.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace rampart::config;
using rampart::config::test::errors_of;
using rampart::config::test::must_load;

namespace {

const std::string& head = rampart::config::test::upstream_head;

bool any_contains(const std::vector<std::string>& errors, const std::string& part) {
  return std::any_of(errors.begin(), errors.end(), [&](const std::string& e) { return e.find(part) != std::string::npos; });
}

}  // namespace

TEST_CASE("upstream tls is off by default and true gives verified TLS with the defaults", "[config][upstream][tls]") {
  const ConfigSpec plain = must_load(head + "  - {name: u, endpoints: [\"127.0.0.1:1\"]}\n");
  CHECK_FALSE(plain.upstreams[0].tls.has_value());

  const ConfigSpec on = must_load(head + "  - {name: u, endpoints: [\"api:443\"], tls: true}\n");
  REQUIRE(on.upstreams[0].tls.has_value());
  const UpstreamTlsSpec& t = *on.upstreams[0].tls;
  CHECK_FALSE(t.ca.has_value());
  CHECK_FALSE(t.server_name.has_value());
  CHECK(t.verify);
  CHECK(t.min_version == "1.2");
  CHECK(t.alpn == std::vector<std::string>{"http/1.1"});
  CHECK_FALSE(t.client_cert.has_value());

  const ConfigSpec off = must_load(head + "  - {name: u, endpoints: [\"127.0.0.1:1\"], tls: false}\n");
  CHECK_FALSE(off.upstreams[0].tls.has_value());
}

TEST_CASE("upstream tls settings: paths resolve against the config file, names are lower-cased",
          "[config][upstream][tls]") {
  const ConfigSpec spec = must_load(head +
                                        "  - name: u\n"
                                        "    endpoints: [\"10.0.0.1:443\"]\n"
                                        "    tls:\n"
                                        "      ca: certs/upstream-ca.pem\n"
                                        "      server_name: API.Internal\n"
                                        "      alpn: [http/1.1]\n"
                                        "      verify: true\n"
                                        "      min_version: TLSv1.3\n"
                                        "      client_cert: {cert: /etc/c.pem, key: k.pem}\n",
                                    "/etc/rampart/main.yaml");
  const UpstreamTlsSpec& t = *spec.upstreams[0].tls;
  CHECK(t.ca == "/etc/rampart/certs/upstream-ca.pem");
  CHECK(t.ca_mark.line == 7);
  CHECK(t.server_name == "api.internal");
  CHECK(t.min_version == "1.3");
  REQUIRE(t.client_cert.has_value());
  CHECK(t.client_cert->cert == "/etc/c.pem");
  CHECK(t.client_cert->key == "/etc/rampart/k.pem");

  const ConfigSpec short_version =
      must_load(head + "  - {name: u, endpoints: [\"127.0.0.1:1\"], tls: {min_version: \"1.2\", verify: false, alpn: []}}\n");
  CHECK(short_version.upstreams[0].tls->min_version == "1.2");
  CHECK_FALSE(short_version.upstreams[0].tls->verify);
  CHECK(short_version.upstreams[0].tls->alpn.empty());

  // protocol: h2 offers h2 by ALPN unless told otherwise; HTTP/1.1 pools offer http/1.1.
  const ConfigSpec h2 = must_load(head + "  - {name: u, protocol: h2, h2_max_streams: 30, endpoints: [\"127.0.0.1:1\"], tls: {}}\n");
  CHECK(h2.upstreams[0].protocol == "h2");
  CHECK(h2.upstreams[0].h2_max_streams == 30);
  CHECK(h2.upstreams[0].tls->alpn == std::vector<std::string>{"h2"});
  const ConfigSpec h1 = must_load(head + "  - {name: u, endpoints: [\"127.0.0.1:1\"], tls: {}}\n");
  CHECK(h1.upstreams[0].protocol == "http/1.1");
  CHECK(h1.upstreams[0].tls->alpn == std::vector<std::string>{"http/1.1"});

  const ConfigSpec ip_name = must_load(head + "  - {name: u, endpoints: [\"127.0.0.1:1\"], tls: {server_name: 10.1.2.3}}\n");
  CHECK(ip_name.upstreams[0].tls->server_name == "10.1.2.3");
}

TEST_CASE("upstream tls errors name the place and the key", "[config][upstream][tls]") {
  auto errors = errors_of(head + "  - {name: u, endpoints: [\"127.0.0.1:1\"], tls: {verfy: false}}\n");
  CHECK(any_contains(errors, "t.yaml:4:"));
  CHECK(any_contains(errors, "unknown key 'verfy' (did you mean 'verify'?)"));

  errors = errors_of(head + "  - {name: u, endpoints: [\"127.0.0.1:1\"], tls: {min_version: TLSv1.1}}\n");
  CHECK(any_contains(errors, "upstreams[0].tls.min_version"));

  errors = errors_of(head + "  - {name: u, endpoints: [\"127.0.0.1:1\"], tls: {alpn: [h2]}}\n");
  CHECK(any_contains(errors, "tls.alpn must be [http/1.1] or [] for protocol http/1.1 (h2 needs protocol: h2)"));
  CHECK(any_contains(errors, "upstreams[0].tls.alpn"));
  errors = errors_of(head + "  - {name: u, protocol: h2, endpoints: [\"127.0.0.1:1\"], tls: {alpn: [http/1.1]}}\n");
  CHECK(any_contains(errors, "tls.alpn must be [h2] for protocol h2"));
  errors = errors_of(head + "  - {name: u, protocol: h3, h2_max_streams: 0, endpoints: [\"127.0.0.1:1\"]}\n");
  CHECK(any_contains(errors, "expected one of http/1.1, h2"));
  CHECK(any_contains(errors, "upstreams[0].h2_max_streams"));

  errors = errors_of(head + "  - {name: u, endpoints: [\"127.0.0.1:1\"], tls: {server_name: \"bad name\"}}\n");
  CHECK(any_contains(errors, "expected a DNS name or an IP address"));

  errors = errors_of(head + "  - {name: u, endpoints: [\"127.0.0.1:1\"], tls: {client_cert: {cert: c.pem}}}\n");
  CHECK(any_contains(errors, "key"));
  CHECK(any_contains(errors, "upstreams[0].tls.client_cert"));

  errors = errors_of(head + "  - {name: u, endpoints: [\"127.0.0.1:1\"], tls: yes please}\n");
  CHECK(any_contains(errors, "expected true, false or a mapping"));
}

TEST_CASE("upstream tls round-trips through the dump", "[config][upstream][tls]") {
  const ConfigSpec spec = must_load(head + "  - {name: u, endpoints: [\"127.0.0.1:1\"], tls: {ca: /c/ca.pem, "
                                           "server_name: api.internal, verify: false, min_version: \"1.3\", "
                                           "client_cert: {cert: /c/c.pem, key: /c/k.pem}}}\n");
  const std::string dumped = dump(spec);
  INFO(dumped);
  const ConfigSpec again = must_load(dumped);
  REQUIRE(again.upstreams[0].tls.has_value());
  CHECK(*again.upstreams[0].tls == *spec.upstreams[0].tls);
}
