// dump(spec, DumpMode::redacted), what GET /config serves: private-key paths and credential
// header values become "<redacted>", everything else stays as `rampart dump` prints it.
#include "support.hpp"

#include "config/load.hpp"

#include <yaml-cpp/yaml.h>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace rampart::config;
using rampart::config::test::must_load;

namespace {

// Every secret kind the spec can hold, next to look-alikes that are not secrets.
const std::string kSecretsYaml = R"(version: 1
listeners:
  - name: https
    address: "127.0.0.1:0"
    tls:
      certificates: [{cert: /etc/rampart/site.pem, key: /etc/rampart/private/site-key.pem}]
      session_tickets: {key_file: /etc/rampart/private/tickets.bin}
servers:
  - name: s
    hosts: ["*"]
    routes:
      - name: api
        path: /api/
        headers: [{name: x-api-key, value: match-key-4242}, {name: x-tenant, value: acme}]
        upstream: u
        request_headers:
          set: {authorization: "Bearer tok-SECRET-1", x-route: api}
          add: {x-internal-token: tok-SECRET-2, cookie: "sid=tok-SECRET-3"}
        response_headers:
          set: {set-cookie: "sid=tok-SECRET-4; HttpOnly", x-served-by: rampart}
      - name: admin
        path: /admin/
        headers: [{name: Proxy-Authorization, regex: "Basic tok-SECRET-5.*"}, {name: x-session-id, present: true}]
        respond: {status: 200, body: "public body\n"}
upstreams:
  - name: u
    endpoints: ["127.0.0.1:9"]
    tls:
      ca: /etc/rampart/upstream-ca.pem
      client_cert: {cert: /etc/rampart/client.pem, key: /etc/rampart/private/client-key.pem}
)";

const std::vector<std::string> kSecrets = {"/etc/rampart/private/site-key.pem", "/etc/rampart/private/tickets.bin",
                                           "/etc/rampart/private/client-key.pem", "match-key-4242", "tok-SECRET"};

}  // namespace

TEST_CASE("the redacted dump hides key paths and credential header values, the full dump keeps them",
          "[config][dump][redact]") {
  const ConfigSpec spec = must_load(kSecretsYaml, "/etc/rampart/rampart.yaml");
  const std::string full = dump(spec, DumpMode::full);
  const std::string redacted = dump(spec, DumpMode::redacted);
  INFO("full:\n" << full << "\nredacted:\n" << redacted);

  // `rampart dump` (DumpMode::full, and the one-argument form) shows everything.
  CHECK(full == dump(spec));
  for (const std::string& s : kSecrets) CHECK(full.find(s) != std::string::npos);
  // GET /config shows none of it.
  for (const std::string& s : kSecrets) CHECK(redacted.find(s) == std::string::npos);

  // Same shape, every secret in its place, everything else untouched.
  const YAML::Node doc = YAML::Load(redacted);
  const YAML::Node tls = doc["listeners"][0]["tls"];
  CHECK(tls["certificates"][0]["cert"].as<std::string>() == "/etc/rampart/site.pem");
  CHECK(tls["certificates"][0]["key"].as<std::string>() == "<redacted>");
  CHECK(tls["session_tickets"]["key_file"].as<std::string>() == "<redacted>");

  const YAML::Node api = doc["servers"][0]["routes"][0];
  CHECK(api["request_headers"]["set"]["authorization"].as<std::string>() == "<redacted>");
  CHECK(api["request_headers"]["set"]["x-route"].as<std::string>() == "api");
  CHECK(api["request_headers"]["add"]["x-internal-token"].as<std::string>() == "<redacted>");
  CHECK(api["request_headers"]["add"]["cookie"].as<std::string>() == "<redacted>");
  CHECK(api["response_headers"]["set"]["set-cookie"].as<std::string>() == "<redacted>");
  CHECK(api["response_headers"]["set"]["x-served-by"].as<std::string>() == "rampart");
  CHECK(api["headers"][0]["name"].as<std::string>() == "x-api-key");
  CHECK(api["headers"][0]["value"].as<std::string>() == "<redacted>");
  CHECK(api["headers"][1]["value"].as<std::string>() == "acme");

  const YAML::Node admin = doc["servers"][0]["routes"][1];
  CHECK(admin["headers"][0]["name"].as<std::string>() == "proxy-authorization");
  CHECK(admin["headers"][0]["regex"].as<std::string>() == "<redacted>");
  CHECK(admin["headers"][1]["present"].as<bool>());
  CHECK(admin["respond"]["body"].as<std::string>() == "public body\n");

  const YAML::Node up = doc["upstreams"][0]["tls"];
  CHECK(up["ca"].as<std::string>() == "/etc/rampart/upstream-ca.pem");
  CHECK(up["client_cert"]["cert"].as<std::string>() == "/etc/rampart/client.pem");
  CHECK(up["client_cert"]["key"].as<std::string>() == "<redacted>");

  // Only secrets differ: with them blanked out of the full dump too, the two texts are equal.
  ConfigSpec blank = spec;
  blank.listeners[0].tls->certificates[0].key = "<redacted>";
  blank.listeners[0].tls->ticket_key_file = "<redacted>";
  blank.upstreams[0].tls->client_cert->key = "<redacted>";
  RouteSpec& r0 = blank.servers[0].routes[0];
  r0.headers[0].value = "<redacted>";
  for (auto* list : {&r0.request_headers.set, &r0.request_headers.add, &r0.response_headers.set})
    for (auto& [name, value] : *list)
      if (name != "x-route" && name != "x-served-by") value = "<redacted>";
  blank.servers[0].routes[1].headers[0].value = "<redacted>";
  CHECK(dump(blank, DumpMode::full) == redacted);
}

TEST_CASE("a config without secrets dumps the same redacted or not", "[config][dump][redact]") {
  const ConfigSpec spec = must_load(R"(listeners: [{name: http, address: "127.0.0.1:0"}]
servers:
  - name: s
    hosts: ["*"]
    routes:
      - {name: r, path: /, upstream: u, request_headers: {set: {x-forwarded-prefix: /app}}, headers: [{name: x-canary, value: "1"}]}
upstreams:
  - {name: u, endpoints: ["127.0.0.1:9"], tls: {ca: /etc/ca.pem}}
)");
  CHECK(dump(spec, DumpMode::redacted) == dump(spec));
  CHECK(dump(spec, DumpMode::redacted).find("<redacted>") == std::string::npos);
}

TEST_CASE("is_sensitive_header names credential headers, case-insensitively", "[config][dump][redact]") {
  for (const char* name : {"authorization", "Authorization", "proxy-authorization", "cookie", "Set-Cookie",
                           "x-auth-token", "x-csrf-token", "x-client-secret", "x-db-password", "x-api-key",
                           "X-API-Key", "apikey", "x-apikey", "api_key", "x-session-id", "x-amz-security-token",
                           "x-credentials"})
    CHECK(is_sensitive_header(name));
  for (const char* name : {"x-route", "host", "x-forwarded-for", "x-served-by", "cache-control", "content-type",
                           "x-request-id", "x-cookie-policy-version", "accept"})
    CHECK_FALSE(is_sensitive_header(name));
}
