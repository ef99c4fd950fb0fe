// The documented example config loads, with every value where it belongs, and omitted keys
// take the defaults of spec.hpp.
#include "config/load.hpp"

#include <catch2/catch.hpp>

using namespace rampart::config;
using namespace std::chrono_literals;

namespace {

const char* const example = R"(version: 1
workers: 2
drain_timeout: 30s
include: ["../conf.d/*.yaml"]
listeners:
  - {name: http, address: "0.0.0.0:8080"}
defaults: {connect_timeout: 5s, read_timeout: 60s, send_timeout: 60s, max_body_size: 1m, client_header_timeout: 60s, client_body_timeout: 60s, keepalive_timeout: 75s, keepalive_requests: 1000, max_request_line: 8k, max_header_bytes: 32k, max_headers: 100, trusted_proxies: ["10.0.0.0/8"]}
servers:
  - name: app
    hosts: [example.com, "*.example.com"]
    listeners: [http]          # optional
    routes:
      - {name: api, path: /api/, match: prefix, upstream: api, rewrite_prefix: /, methods: [GET, POST], headers: [{name: x-canary, value: "1"}, {name: x-env, regex: "prod|stage"}, {name: x-debug, present: true}, {name: x-block, absent: true}], max_body_size: 10m, connect_timeout: 1s, read_timeout: 30s, send_timeout: 30s, request_headers: {set: {x-a: b}, add: {x-c: d}, remove: [x-e]}, response_headers: {set: {x-frame-options: DENY}}}
      - {name: old, path: /old, match: exact, redirect: {status: 301, scheme: https, host: example.org, path: /new, prefix: /x, strip_query: true}}
      - {name: ping, path: "^/ping/[0-9]+$", match: regex, respond: {status: 200, body: "pong\n", content_type: text/plain}}
      - {name: web, path: /, upstream: web}
upstreams:
  - {name: api, endpoints: ["127.0.0.1:9001", "127.0.0.1:9002"], max_idle_per_endpoint: 32, idle_timeout: 60s, max_requests_per_connection: 10000, connect_timeout: 2s}
  - {name: web, endpoints: ["127.0.0.1:9003"]}
)";

ConfigSpec must_load(const std::string& text, const std::string& file = "/nonexistent/rampart/main.yaml") {
  std::vector<Diagnostic> diagnostics;
  auto spec = load_string(text, file, diagnostics);
  for (const Diagnostic& d : diagnostics) UNSCOPED_INFO(d.str());
  REQUIRE(diagnostics.empty());
  REQUIRE(spec.has_value());
  return *spec;
}

}  // namespace

TEST_CASE("the documented example loads", "[config]") {
  const ConfigSpec spec = must_load(example);
  CHECK(spec.version == 1);
  CHECK(spec.workers == 2);
  CHECK(spec.drain_timeout == 30s);
  REQUIRE(spec.files.size() == 1);
  CHECK(spec.files[0] == "/nonexistent/rampart/main.yaml");

  REQUIRE(spec.listeners.size() == 1);
  CHECK(spec.listeners[0].name == "http");
  CHECK(spec.listeners[0].address == rampart::core::HostPort{"0.0.0.0", 8080});
  CHECK(spec.listeners[0].mark.line == 6);
  CHECK(spec.listeners[0].mark.col == 5);
  CHECK(spec.listeners[0].mark.file == "/nonexistent/rampart/main.yaml");

  const DefaultsSpec& d = spec.defaults;
  CHECK(d.connect_timeout == 5s);
  CHECK(d.read_timeout == 60s);
  CHECK(d.send_timeout == 60s);
  CHECK(d.client_header_timeout == 60s);
  CHECK(d.client_body_timeout == 60s);
  CHECK(d.keepalive_timeout == 75s);
  CHECK(d.keepalive_requests == 1000);
  CHECK(d.max_body_size == 1024 * 1024);
  CHECK(d.max_request_line == 8192);
  CHECK(d.max_header_bytes == 32768);
  CHECK(d.max_headers == 100);
  REQUIRE(d.trusted_proxies.size() == 1);
  CHECK(d.trusted_proxies[0].str() == "10.0.0.0/8");

  REQUIRE(spec.servers.size() == 1);
  const ServerSpec& s = spec.servers[0];
  CHECK(s.name == "app");
  CHECK(s.mark.line == 9);
  CHECK(s.mark.col == 5);
  CHECK(s.hosts == std::vector<std::string>{"example.com", "*.example.com"});
  CHECK(s.listeners == std::vector<std::string>{"http"});
  REQUIRE(s.routes.size() == 4);

  const RouteSpec& api = s.routes[0];
  CHECK(api.mark.line == 13);
  CHECK(api.mark.col == 9);
  CHECK(api.name == "api");
  CHECK(api.path == "/api/");
  CHECK(api.match == PathMatch::prefix);
  CHECK(api.upstream == "api");
  CHECK_FALSE(api.redirect);
  CHECK_FALSE(api.respond);
  CHECK(api.rewrite_prefix == "/");
  CHECK(api.methods == std::vector<std::string>{"GET", "POST"});
  REQUIRE(api.headers.size() == 4);
  CHECK(api.headers[0].name == "x-canary");
  CHECK(api.headers[0].kind == HeaderMatchSpec::Kind::exact);
  CHECK(api.headers[0].value == "1");
  CHECK(api.headers[1].kind == HeaderMatchSpec::Kind::regex);
  CHECK(api.headers[1].value == "prod|stage");
  CHECK(api.headers[2].name == "x-debug");
  CHECK(api.headers[2].kind == HeaderMatchSpec::Kind::present);
  CHECK(api.headers[3].kind == HeaderMatchSpec::Kind::absent);
  CHECK(api.limits.max_body_size == 10u * 1024 * 1024);
  CHECK(api.limits.connect_timeout == 1s);
  CHECK(api.limits.read_timeout == 30s);
  CHECK(api.limits.send_timeout == 30s);
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  CHECK(api.request_headers.set == Pairs{{"x-a", "b"}});
  CHECK(api.request_headers.add == Pairs{{"x-c", "d"}});
  CHECK(api.request_headers.remove == std::vector<std::string>{"x-e"});
  CHECK(api.response_headers.set == Pairs{{"x-frame-options", "DENY"}});
  CHECK(api.response_headers.add.empty());

  const RouteSpec& old = s.routes[1];
  CHECK(old.match == PathMatch::exact);
  REQUIRE(old.redirect);
  CHECK(old.redirect->status == 301);
  CHECK(old.redirect->scheme == "https");
  CHECK(old.redirect->host == "example.org");
  CHECK(old.redirect->path == "/new");
  CHECK(old.redirect->prefix == "/x");
  CHECK(old.redirect->strip_query);
  CHECK_FALSE(old.upstream);
  CHECK(old.request_headers.empty());

  const RouteSpec& ping = s.routes[2];
  CHECK(ping.match == PathMatch::regex);
  CHECK(ping.path == "^/ping/[0-9]+$");
  REQUIRE(ping.respond);
  CHECK(ping.respond->status == 200);
  CHECK(ping.respond->body == "pong\n");
  CHECK(ping.respond->content_type == "text/plain");

  const RouteSpec& web = s.routes[3];
  CHECK(web.path == "/");
  CHECK(web.match == PathMatch::prefix);
  CHECK(web.upstream == "web");
  CHECK_FALSE(web.limits.max_body_size);
  CHECK_FALSE(web.limits.connect_timeout);
  CHECK_FALSE(web.limits.read_timeout);
  CHECK_FALSE(web.limits.send_timeout);
  CHECK(web.methods.empty());
  CHECK(web.headers.empty());

  REQUIRE(spec.upstreams.size() == 2);
  const UpstreamSpec& up = spec.upstreams[0];
  CHECK(up.name == "api");
  REQUIRE(up.endpoints.size() == 2);
  CHECK(up.endpoints[1].address == rampart::core::HostPort{"127.0.0.1", 9002});
  CHECK(up.max_idle_per_endpoint == 32);
  CHECK(up.idle_timeout == 60s);
  CHECK(up.max_requests_per_connection == 10000);
  CHECK(up.connect_timeout == 2s);
  CHECK_FALSE(spec.upstreams[1].connect_timeout);
}

TEST_CASE("omitted keys take the defaults of spec.hpp", "[config]") {
  const ConfigSpec spec = must_load(R"(listeners: [{name: l, address: "127.0.0.1:0"}]
servers:
  - name: s
    hosts: ["*"]
    routes: [{respond: {}}]
upstreams: [{name: u, endpoints: ["localhost:80"]}]
)");
  const DefaultsSpec defaults;
  CHECK(spec.version == 1);
  CHECK(spec.workers == 0);
  CHECK(spec.drain_timeout == 30s);
  CHECK(spec.defaults.connect_timeout == defaults.connect_timeout);
  CHECK(spec.defaults.keepalive_timeout == 75s);
  CHECK(spec.defaults.max_body_size == 1024 * 1024);
  CHECK(spec.defaults.trusted_proxies.empty());
  CHECK(spec.listeners[0].address.port == 0);
  const RouteSpec& r = spec.servers[0].routes[0];
  CHECK(r.name == "route-0");
  CHECK(r.path == "/");
  CHECK(r.match == PathMatch::prefix);
  REQUIRE(r.respond);
  CHECK(r.respond->status == 200);
  CHECK(r.respond->body.empty());
  CHECK(r.respond->content_type == "text/plain; charset=utf-8");
  CHECK(spec.servers[0].listeners.empty());
  const UpstreamSpec& u = spec.upstreams[0];
  CHECK(u.max_idle_per_endpoint == 320);
  CHECK(u.idle_timeout == 60s);
  CHECK(u.max_requests_per_connection == 10000);
  CHECK_FALSE(u.connect_timeout);
}

TEST_CASE("names are normalised: hosts and header names lower-case, methods upper-case", "[config]") {
  const ConfigSpec spec = must_load(R"(listeners: [{name: l, address: "[::1]:8443"}]
upstreams: [{name: u, endpoints: ["Backend.Local:80"]}]
servers:
  - name: s
    hosts: [Example.COM, "*.Example.com", "*"]
    routes:
      - name: r
        upstream: u
        methods: [get, Post]
        headers: [{name: X-Env, value: Prod}, {name: X-Gone, present: false}, {name: X-Here, absent: false}]
        request_headers: {set: {X-Up: A}, remove: [X-Down]}
        response_headers: {add: {Set-Cookie: "a=b"}}
      - {name: r2, redirect: {host: Example.ORG:8443, strip_query: false}}
)");
  const ServerSpec& s = spec.servers[0];
  CHECK(s.hosts == std::vector<std::string>{"example.com", "*.example.com", "*"});
  CHECK(spec.listeners[0].address == rampart::core::HostPort{"::1", 8443});
  CHECK(spec.upstreams[0].endpoints[0].address.host == "backend.local");
  const RouteSpec& r = s.routes[0];
  CHECK(r.methods == std::vector<std::string>{"GET", "POST"});
  CHECK(r.headers[0].name == "x-env");
  CHECK(r.headers[0].value == "Prod");  // values keep their case
  CHECK(r.headers[1].kind == HeaderMatchSpec::Kind::absent);
  CHECK(r.headers[2].kind == HeaderMatchSpec::Kind::present);
  CHECK(r.request_headers.set[0] == std::pair<std::string, std::string>{"x-up", "A"});
  CHECK(r.request_headers.remove == std::vector<std::string>{"x-down"});
  CHECK(r.response_headers.add[0].first == "set-cookie");
  CHECK(s.routes[1].redirect->host == "example.org:8443");
  CHECK(s.routes[1].redirect->status == 302);
  CHECK_FALSE(s.routes[1].redirect->strip_query);
}

TEST_CASE("a host may repeat across servers that share no listener", "[config]") {
  const ConfigSpec spec = must_load(R"(listeners: [{name: a, address: "127.0.0.1:0"}, {name: b, address: "127.0.0.1:0"}]
servers:
  - {name: one, hosts: [example.com], listeners: [a], routes: [{respond: {}}]}
  - {name: two, hosts: [example.com], listeners: [b], routes: [{respond: {}}]}
)");
  CHECK(spec.servers.size() == 2);
}

TEST_CASE("load() reads a file from disk", "[config]") {
  std::vector<Diagnostic> diagnostics;
  auto spec = load(RAMPART_SOURCE_DIR "/tests/unit/config/does-not-exist.yaml", diagnostics);
  CHECK_FALSE(spec);
  REQUIRE(diagnostics.size() == 1);
  CHECK(diagnostics[0].str() == RAMPART_SOURCE_DIR "/tests/unit/config/does-not-exist.yaml: error: cannot read file");
}
