// dump(): every key explicit, human units, and loading the dump gives an equal spec.
#include "config/load.hpp"

#include <catch2/catch.hpp>

using namespace rampart::config;
using namespace std::chrono_literals;

namespace {

ConfigSpec must_load(const std::string& text, const std::string& file) {
  std::vector<Diagnostic> diagnostics;
  auto spec = load_string(text, file, diagnostics);
  for (const Diagnostic& d : diagnostics) UNSCOPED_INFO(d.str());
  REQUIRE(diagnostics.empty());
  REQUIRE(spec);
  return *spec;
}

// Field-by-field equality of everything but marks and the file list.
void check_same(const ConfigSpec& a, const ConfigSpec& b) {
  CHECK(a.version == b.version);
  CHECK(a.workers == b.workers);
  CHECK(a.drain_timeout == b.drain_timeout);
  CHECK(a.shutdown_delay == b.shutdown_delay);
  CHECK(a.watch == b.watch);
  CHECK(a.admin.enabled == b.admin.enabled);
  CHECK(a.admin.address == b.admin.address);
  CHECK(a.access_log.enabled == b.access_log.enabled);
  CHECK(a.access_log.path == b.access_log.path);
  CHECK(a.access_log.fields == b.access_log.fields);
  CHECK(a.access_log.sample == b.access_log.sample);  // exact: the dump must not round
  CHECK(a.access_log.query == b.access_log.query);
  CHECK(a.access_log.buffer_size == b.access_log.buffer_size);
  CHECK(a.log.format == b.log.format);
  CHECK(a.log.level == b.log.level);
  REQUIRE(a.listeners.size() == b.listeners.size());
  for (std::size_t i = 0; i < a.listeners.size(); ++i) {
    CHECK(a.listeners[i].name == b.listeners[i].name);
    CHECK(a.listeners[i].address == b.listeners[i].address);
    CHECK(a.listeners[i].tls == b.listeners[i].tls);
    CHECK(a.listeners[i].redirect_https_port == b.listeners[i].redirect_https_port);
  }
  const DefaultsSpec& da = a.defaults;
  const DefaultsSpec& db = b.defaults;
  CHECK(da.connect_timeout == db.connect_timeout);
  CHECK(da.read_timeout == db.read_timeout);
  CHECK(da.send_timeout == db.send_timeout);
  CHECK(da.client_header_timeout == db.client_header_timeout);
  CHECK(da.client_body_timeout == db.client_body_timeout);
  CHECK(da.keepalive_timeout == db.keepalive_timeout);
  CHECK(da.keepalive_requests == db.keepalive_requests);
  CHECK(da.max_body_size == db.max_body_size);
  CHECK(da.max_request_line == db.max_request_line);
  CHECK(da.max_header_bytes == db.max_header_bytes);
  CHECK(da.max_headers == db.max_headers);
  REQUIRE(da.trusted_proxies.size() == db.trusted_proxies.size());
  for (std::size_t i = 0; i < da.trusted_proxies.size(); ++i) {
    CHECK(da.trusted_proxies[i].base == db.trusted_proxies[i].base);
    CHECK(da.trusted_proxies[i].prefix == db.trusted_proxies[i].prefix);
  }
  REQUIRE(a.servers.size() == b.servers.size());
  for (std::size_t i = 0; i < a.servers.size(); ++i) {
    const ServerSpec& sa = a.servers[i];
    const ServerSpec& sb = b.servers[i];
    CHECK(sa.name == sb.name);
    CHECK(sa.hosts == sb.hosts);
    CHECK(sa.listeners == sb.listeners);
    REQUIRE(sa.routes.size() == sb.routes.size());
    for (std::size_t j = 0; j < sa.routes.size(); ++j) {
      const RouteSpec& ra = sa.routes[j];
      const RouteSpec& rb = sb.routes[j];
      INFO("route " << ra.name);
      CHECK(ra.name == rb.name);
      CHECK(ra.path == rb.path);
      CHECK(ra.match == rb.match);
      CHECK(ra.methods == rb.methods);
      REQUIRE(ra.headers.size() == rb.headers.size());
      for (std::size_t k = 0; k < ra.headers.size(); ++k) {
        CHECK(ra.headers[k].name == rb.headers[k].name);
        CHECK(ra.headers[k].kind == rb.headers[k].kind);
        CHECK(ra.headers[k].value == rb.headers[k].value);
      }
      CHECK(ra.upstream == rb.upstream);
      REQUIRE(ra.redirect.has_value() == rb.redirect.has_value());
      if (ra.redirect) {
        CHECK(ra.redirect->status == rb.redirect->status);
        CHECK(ra.redirect->scheme == rb.redirect->scheme);
        CHECK(ra.redirect->host == rb.redirect->host);
        CHECK(ra.redirect->path == rb.redirect->path);
        CHECK(ra.redirect->prefix == rb.redirect->prefix);
        CHECK(ra.redirect->strip_query == rb.redirect->strip_query);
      }
      REQUIRE(ra.respond.has_value() == rb.respond.has_value());
      if (ra.respond) {
        CHECK(ra.respond->status == rb.respond->status);
        CHECK(ra.respond->body == rb.respond->body);
        CHECK(ra.respond->content_type == rb.respond->content_type);
      }
      CHECK(ra.rewrite_prefix == rb.rewrite_prefix);
      for (const auto& [oa, ob] : {std::pair{&ra.request_headers, &rb.request_headers},
                                   std::pair{&ra.response_headers, &rb.response_headers}}) {
        CHECK(oa->set == ob->set);
        CHECK(oa->add == ob->add);
        CHECK(oa->remove == ob->remove);
      }
      CHECK(ra.limits.max_body_size == rb.limits.max_body_size);
      CHECK(ra.limits.connect_timeout == rb.limits.connect_timeout);
      CHECK(ra.limits.read_timeout == rb.limits.read_timeout);
      CHECK(ra.limits.send_timeout == rb.limits.send_timeout);
      CHECK(ra.access_log == rb.access_log);
      CHECK(ra.access_log_sample == rb.access_log_sample);
      CHECK(ra.retry == rb.retry);
    }
  }
  REQUIRE(a.upstreams.size() == b.upstreams.size());
  for (std::size_t i = 0; i < a.upstreams.size(); ++i) {
    const UpstreamSpec& ua = a.upstreams[i];
    const UpstreamSpec& ub = b.upstreams[i];
    CHECK(ua.name == ub.name);
    CHECK(ua.endpoints == ub.endpoints);
    CHECK(ua.max_idle_per_endpoint == ub.max_idle_per_endpoint);
    CHECK(ua.idle_timeout == ub.idle_timeout);
    CHECK(ua.max_requests_per_connection == ub.max_requests_per_connection);
    CHECK(ua.connect_timeout == ub.connect_timeout);
    CHECK(ua.balance == ub.balance);
    CHECK(ua.health_check == ub.health_check);
    CHECK(ua.outlier == ub.outlier);
    CHECK(ua.panic == ub.panic);
    CHECK(ua.circuit == ub.circuit);
    CHECK(ua.retry_budget == ub.retry_budget);
    CHECK(ua.discovery == ub.discovery);
    CHECK(ua.max_connection_lifetime == ub.max_connection_lifetime);
  }
}

// Values chosen to trip YAML quoting: booleans, nulls, numbers, colons, '#', quotes, newlines,
// leading '*', '&', '!', '%', '@' and empty strings.
const char* const tricky = R"(version: 1
workers: 1024
drain_timeout: 1500ms
shutdown_delay: 1500ms
watch: false
admin: {address: "[::1]:0"}
access_log:
  path: "logs/a #1: x.log"
  fields: [status, ts, path, "flags"]
  sample: 0.1
  query: true
  buffer_size: 4k
log: {format: json, level: debug}
listeners:
  - {name: "yes", address: "[::1]:0", redirect_https: 8443}
  - name: "123"
    address: "0.0.0.0:443"
    tls:
      certificates: [{cert: "certs/a #1.pem", key: certs/a.key}, {cert: /etc/b.pem, key: /etc/b.key}]
      min_version: "1.3"
      ciphers: "ECDHE-ECDSA-AES256-GCM-SHA384"
      groups: "X25519"
      alpn: http/1.1
      session_tickets: {key_file: "keys/t: 1", rotation: 90m}
      session_cache: 0
      client_auth: {ca: ca.pem, required: false, subject_header: X-Cert}
defaults:
  max_body_size: 0
  max_request_line: 1000
  keepalive_timeout: 1d
  trusted_proxies: ["192.168.1.77/28", "fd00::/8", "::1", "10.0.0.1"]
servers:
  - name: "null"
    hosts: ["*", "*.Example.com", a.example.com]
    listeners: ["yes", "123"]
    routes:
      - name: "~"
        path: "^/a: #b['\"]*$"
        match: regex
        methods: [get, PURGE]
        headers:
          - {name: x-a, value: "true"}
          - {name: x-b, value: ""}
          - {name: x-c, regex: "^&anchor|!tag|%x|@y$"}
          - {name: x-d, present: true}
          - {name: x-e, absent: true}
        respond: {status: 418, body: "line one\nline \"two\": #3\n\ttabbed\n", content_type: "application/json; charset=utf-8"}
        response_headers: {set: {x-yes: "no", x-empty: "", x-colon: "a: b"}, add: {x-star: "*", x-hash: "# not a comment"}, remove: [x-old]}
        access_log: {sample: 0.30000000000000004}
      - name: redirect-all
        path: /old/
        redirect: {status: 308, prefix: /new/}
        access_log: false
      - name: redirect-host
        path: /exact
        match: exact
        redirect: {host: "Example.org:8443", strip_query: true}
        access_log: true
      - name: proxy
        path: /
        upstream: "on"
        rewrite_prefix: /v2/
        request_headers: {add: {x-forwarded-proto: https}}
        max_body_size: 0
        send_timeout: 90s
        retry: {attempts: 4, on: [timeout, 503, "502"], per_try_timeout: 1500ms, buffer_body: 1m}
upstreams:
  - name: "on"
    endpoints: ["[2001:db8::1]:8080", {address: "Backend.internal:65535", weight: 7}]
    balance: {policy: hash, key: {cookie: sid}}
    health_check: {path: "/h?x=1", host: h.internal, expect_status: [200, "300-304"], body_contains: "ok: yes", interval: 250ms, timeout: 100ms, jitter: 0.25, healthy_threshold: 3, unhealthy_threshold: 4, start: unknown}
    outlier: {consecutive_failures: 0, consecutive_5xx: 3, base_ejection_time: 2s, max_ejection_time: 20s, max_ejected_percent: 30}
    when_all_unhealthy: fail
    circuit: {max_connections: 10, max_pending: 5, max_requests: 100}
    retry_budget: {percent: 12.5, min_retries: 0}
    discovery: {refresh: 5s, resolver: "127.0.0.1:5353"}
    max_connection_lifetime: 10m
    max_idle_per_endpoint: 0
    idle_timeout: 0
    max_requests_per_connection: 1
    connect_timeout: 250ms
)";

}  // namespace

TEST_CASE("dump writes every key in human units", "[config][dump]") {
  const ConfigSpec spec = must_load(R"(listeners: [{name: l, address: "127.0.0.1:8080"}]
servers: [{name: s, hosts: ["*"], routes: [{upstream: u}]}]
upstreams: [{name: u, endpoints: ["127.0.0.1:9000"]}]
)", "min.yaml");
  CHECK(dump(spec) == R"(version: 1
workers: 0
drain_timeout: 30s
shutdown_delay: 0
watch: true
admin: {enabled: true, address: 127.0.0.1:9901}
access_log:
  enabled: false
  path: stdout
  fields: []
  sample: 1
  query: false
  buffer_size: 1m
log: {format: text, level: info}
listeners:
  - {name: l, address: 127.0.0.1:8080}
defaults:
  connect_timeout: 5s
  read_timeout: 1m
  send_timeout: 1m
  client_header_timeout: 1m
  client_body_timeout: 1m
  keepalive_timeout: 75s
  keepalive_requests: 1000
  max_body_size: 1m
  max_request_line: 8k
  max_header_bytes: 32k
  max_headers: 100
  trusted_proxies: []
servers:
  - name: s
    hosts: ["*"]
    listeners: []
    routes:
      - name: route-0
        path: /
        match: prefix
        methods: []
        headers: []
        upstream: u
        request_headers:
          set: {}
          add: {}
          remove: []
        response_headers:
          set: {}
          add: {}
          remove: []
        retry:
          attempts: 2
          on: [connect-failure, reset]
          buffer_body: 64k
upstreams:
  - name: u
    endpoints:
      - {address: 127.0.0.1:9000, weight: 1}
    balance:
      policy: round_robin
    outlier:
      consecutive_failures: 5
      consecutive_5xx: 0
      base_ejection_time: 30s
      max_ejection_time: 5m
      max_ejected_percent: 50
    when_all_unhealthy: panic
    circuit: {max_connections: 0, max_requests: 0}
    retry_budget: {percent: 20, min_retries: 3}
    max_idle_per_endpoint: 320
    idle_timeout: 1m
    max_requests_per_connection: 10000
)");
}

TEST_CASE("loading the dump gives an equal spec", "[config][dump]") {
  const ConfigSpec first = must_load(tricky, "tricky.yaml");
  // Sanity: the tricky values really are what the test means them to be.
  CHECK(first.listeners[0].name == "yes");
  CHECK(first.listeners[0].redirect_https_port == 8443);
  REQUIRE(first.listeners[1].tls.has_value());
  CHECK(first.listeners[1].tls->certificates[0].cert.ends_with("/certs/a #1.pem"));
  CHECK(first.listeners[1].tls->certificates[1].key == "/etc/b.key");
  CHECK(first.listeners[1].tls->ticket_rotation == std::chrono::minutes(90));
  CHECK(first.listeners[1].tls->client_ca.value_or("").ends_with("/ca.pem"));
  CHECK_FALSE(first.listeners[1].tls->client_cert_required);
  CHECK(first.listeners[1].tls->client_subject_header == "x-cert");
  CHECK(first.servers[0].name == "null");
  CHECK(first.servers[0].routes[0].name == "~");
  CHECK(first.servers[0].routes[0].respond->body == "line one\nline \"two\": #3\n\ttabbed\n");
  CHECK(first.servers[0].routes[0].headers[1].value.empty());
  CHECK(first.servers[0].routes[3].limits.max_body_size == 0u);
  CHECK(first.defaults.trusted_proxies[0].str() == "192.168.1.64/28");
  CHECK(first.servers[0].routes[0].access_log_sample == 0.1 + 0.2);
  CHECK(first.servers[0].routes[1].access_log == false);
  CHECK(first.servers[0].routes[2].access_log == true);
  CHECK_FALSE(first.servers[0].routes[3].access_log.has_value());
  CHECK(first.access_log.enabled);
  CHECK(first.access_log.path.ends_with("/logs/a #1: x.log"));

  const std::string text = dump(first);
  INFO(text);
  const ConfigSpec second = must_load(text, "dump.yaml");
  check_same(first, second);
  CHECK(dump(second) == text);
}

TEST_CASE("the dump of an included config is self-contained", "[config][dump]") {
  // Includes are resolved into one document: the dump has no include key and loads alone.
  const ConfigSpec spec = must_load(R"(listeners: [{name: l, address: "127.0.0.1:0"}]
servers: [{name: s, hosts: ["*"], routes: [{respond: {status: 204}}]}]
include: ["does-not-exist/*.yaml"]
)", "/nonexistent/dir/main.yaml");
  const std::string text = dump(spec);
  CHECK(text.find("include") == std::string::npos);
  check_same(spec, must_load(text, "/nonexistent/other/dump.yaml"));
}

TEST_CASE("dump writes the resolved access log path and route switches", "[config][dump]") {
  // The relative path is stored resolved against the main file's directory, so the dump loads
  // from anywhere to the same file.
  const ConfigSpec spec = must_load(R"(access_log: {path: ../log/access.log, fields: [ts, status], sample: 0.25}
admin: false
listeners: [{name: l, address: "127.0.0.1:8080"}]
servers: [{name: s, hosts: ["*"], routes: [{name: a, respond: {}, access_log: {sample: 0.5}}, {name: b, respond: {}, access_log: false}]}]
)", "/etc/rampart/main.yaml");
  const std::string text = dump(spec);
  CHECK_THAT(text, Catch::Contains("admin: {enabled: false, address: 127.0.0.1:9901}\n"));
  CHECK_THAT(text, Catch::Contains("access_log:\n"
                                   "  enabled: true\n"
                                   "  path: /etc/log/access.log\n"
                                   "  fields: [ts, status]\n"
                                   "  sample: 0.25\n"
                                   "  query: false\n"
                                   "  buffer_size: 1m\n"));
  CHECK_THAT(text, Catch::Contains("        access_log: {sample: 0.5}\n"));
  CHECK_THAT(text, Catch::Contains("        access_log: false\n"));
  const ConfigSpec again = must_load(text, "/somewhere/else/dump.yaml");
  check_same(spec, again);
  CHECK(again.access_log.path == "/etc/log/access.log");
  CHECK(dump(again) == text);
}
