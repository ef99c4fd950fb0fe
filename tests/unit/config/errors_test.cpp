// Every validation error, with its exact file:line:col and key path.
#include "support.hpp"

#include "config/load.hpp"

#include <catch2/catch.hpp>

using namespace rampart::config;
using rampart::config::test::errors_of;

namespace {

// A valid config whose single route (line 7, column 9) is `route`.
std::string with_route(const std::string& route) {
  return "listeners: [{name: http, address: \"127.0.0.1:0\"}]\n"
         "upstreams: [{name: up, endpoints: [\"127.0.0.1:9000\"]}]\n"
         "servers:\n"
         "  - name: s\n"
         "    hosts: [\"*\"]\n"
         "    routes:\n"
         "      - " + route + "\n";
}

// "t.yaml:7:<col of needle>: error: <message> [servers[0].routes[0]<path>]"
std::string route_error(const std::string& route, const std::string& needle, const std::string& message,
                        const std::string& path) {
  const auto at = route.find(needle);
  REQUIRE(at != std::string::npos);
  return "t.yaml:7:" + std::to_string(9 + at) + ": error: " + message + " [servers[0].routes[0]" + path + "]";
}

struct RouteCase {
  std::string route;
  std::string needle;  // where the error points (first occurrence in `route`)
  std::string message;
  std::string path;    // after servers[0].routes[0]
};

}  // namespace

TEST_CASE("a valid base config loads", "[config][errors]") {
  std::vector<Diagnostic> diagnostics;
  CHECK(load_string(with_route("{name: r, upstream: up}"), "t.yaml", diagnostics));
  CHECK(diagnostics.empty());
}

TEST_CASE("route errors point at the offending node", "[config][errors]") {
  const std::vector<RouteCase> cases{
      {"{name: r, upstream: up, rewrite_prefx: /}", "rewrite_prefx",
       "unknown key 'rewrite_prefx' (did you mean 'rewrite_prefix'?)", ".rewrite_prefx"},
      {"{name: r, upstreem: up, respond: {}}", "upstreem", "unknown key 'upstreem' (did you mean 'upstream'?)",
       ".upstreem"},
      {"{name: r, upstream: up, colour: red}", "colour", "unknown key 'colour'", ".colour"},
      {"{name: r, upstream: nope}", "nope", "unknown upstream 'nope'", ".upstream"},
      {"{name: r, upstream: upp}", "upp", "unknown upstream 'upp' (did you mean 'up'?)", ".upstream"},
      {"{name: r}", "{", "route needs one action: upstream, redirect or respond", ""},
      {"{name: r, upstream: up, respond: {}}", "{",
       "route has several actions (upstream, respond); it needs exactly one", ""},
      {"{name: r, upstream: up, redirect: {path: /a}, respond: {}}", "{",
       "route has several actions (upstream, redirect, respond); it needs exactly one", ""},
      {"{name: r, respond: {}, rewrite_prefix: /x}", "/x",
       "rewrite_prefix needs a proxy route (upstream) with match: prefix", ".rewrite_prefix"},
      {"{name: r, match: exact, path: /a, upstream: up, rewrite_prefix: /b}", "/b",
       "rewrite_prefix needs a proxy route (upstream) with match: prefix", ".rewrite_prefix"},
      {"{name: r, upstream: up, rewrite_prefix: b}", "b}", "path must start with '/'", ".rewrite_prefix"},
      {"{name: r, path: api, upstream: up}", "api", "path must start with '/'", ".path"},
      {"{name: r, match: exact, path: \"\", upstream: up}", "\"\"", "path must start with '/'", ".path"},
      {"{name: r, path: \"/a b\", upstream: up}", "\"/a b\"", "path must not contain whitespace or NUL", ".path"},
      {"{name: r, match: fuzzy, upstream: up}", "fuzzy", "expected one of prefix, exact, regex", ".match"},
      {"{name: r, match: exat, upstream: up}", "exat", "expected one of prefix, exact, regex (did you mean 'exact'?)",
       ".match"},
      {"{name: r, methods: [GET, \"BAD METHOD\"], upstream: up}", "\"BAD", "bad HTTP method 'BAD METHOD'",
       ".methods[1]"},
      {"{name: r, methods: GET, upstream: up}", "GET", "expected a list", ".methods"},
      {"{name: r, headers: [{name: \"x y\", value: a}], upstream: up}", "\"x y\"", "invalid header name 'x y'",
       ".headers[0].name"},
      {"{name: r, headers: [{name: x}], upstream: up}", "{name: x}",
       "a header match needs exactly one of value, regex, present or absent", ".headers[0]"},
      {"{name: r, headers: [{name: x, value: a, present: true}], upstream: up}", "{name: x",
       "a header match needs exactly one of value, regex, present or absent", ".headers[0]"},
      {"{name: r, headers: [{value: a}], upstream: up}", "{value", "missing required key 'name'",
       ".headers[0].name"},
      {"{name: r, headers: [{name: x, present: maybe}], upstream: up}", "maybe", "expected true or false",
       ".headers[0].present"},
      {"{name: r, headers: [{name: x, value: \"a\\rb\"}], upstream: up}", "\"a",
       "header value must not contain CR, LF or NUL", ".headers[0].value"},
      {"{name: r, upstream: up, request_headers: {set: {\"x y\": v}}}", "\"x y\"", "invalid header name 'x y'",
       ".request_headers.set.x y"},
      {"{name: r, upstream: up, request_headers: {add: {x-a: \"a\\nb\"}}}", "\"a",
       "header value must not contain CR, LF or NUL", ".request_headers.add.x-a"},
      {"{name: r, upstream: up, request_headers: {set: {x-a: 1, X-A: 2}}}", "X-A", "header 'x-a' is listed twice",
       ".request_headers.set.X-A"},
      {"{name: r, upstream: up, response_headers: {remove: [x-a, \"b@d\"]}}", "\"b@d\"",
       "invalid header name 'b@d'", ".response_headers.remove[1]"},
      {"{name: r, upstream: up, response_headers: {replace: {}}}", "replace", "unknown key 'replace'",
       ".response_headers.replace"},
      {"{name: r, upstream: up, response_headers: [x]}", "[x]", "expected a mapping", ".response_headers"},
      {"{name: r, redirect: {status: 200, scheme: https}}", "200",
       "redirect status must be 301, 302, 303, 307 or 308", ".redirect.status"},
      {"{name: r, redirect: {status: 301, scheme: ftp}}", "ftp", "scheme must be http or https",
       ".redirect.scheme"},
      {"{name: r, redirect: {host: \"a/b\"}}", "\"a/b\"", "expected a host like example.org or example.org:8443",
       ".redirect.host"},
      {"{name: r, redirect: {path: new}}", "new", "path must start with '/'", ".redirect.path"},
      {"{name: r, redirect: {status: 301}}", "{status",
       "redirect must change at least one of scheme, host, path, prefix or strip_query", ".redirect"},
      {"{name: r, respond: {status: 600}}", "600", "respond status must be between 100 and 599", ".respond.status"},
      {"{name: r, respond: {status: 99}}", "99", "respond status must be between 100 and 599", ".respond.status"},
      {"{name: r, respond: {status: 2OO}}", "2OO", "expected an integer", ".respond.status"},
      {"{name: r, respond: {status: 200.0}}", "200.0", "expected an integer", ".respond.status"},
      {"{name: r, respond: {body: [a]}}", "[a]", "expected a string", ".respond.body"},
      {"{name: r, upstream: up, max_body_size: 10q}", "10q", "expected a size like 16k or 1m", ".max_body_size"},
      {"{name: r, upstream: up, read_timeout: 30}", "30", "expected a duration like 250ms or 60s", ".read_timeout"},
      {"{name: r, upstream: up, connect_timeout: ~}", "connect_timeout",
       "expected a duration like 250ms or 60s", ".connect_timeout"},
      {"{name: r, upstream: [up]}", "[up]", "expected a string", ".upstream"},
      {"{name: \"\", upstream: up}", "\"\"", "must not be empty", ".name"},
      {"{name: r, upstream: up, name: again}", "name: again", "duplicate key 'name' (first at line 7)", ".name"},
  };
  for (const RouteCase& c : cases) {
    INFO(c.route);
    CHECK(errors_of(with_route(c.route)) ==
          std::vector<std::string>{route_error(c.route, c.needle, c.message, c.path)});
  }
}

TEST_CASE("regexes that do not compile are reported", "[config][errors]") {
  for (const auto& [route, needle, path] :
       {std::tuple{"{name: r, match: regex, path: \"a(\", respond: {}}", "\"a(\"", ".path"},
        std::tuple{"{name: r, headers: [{name: x, regex: \"[z-a]\"}], upstream: up}", "\"[z-a]\"",
                   ".headers[0].regex"}}) {
    const std::vector<std::string> errors = errors_of(with_route(route));
    REQUIRE(errors.size() == 1);
    const std::string expected_start = route_error(route, needle, "invalid regex", path);
    CHECK_THAT(errors[0], Catch::StartsWith(expected_start.substr(0, expected_start.find(" [")) + " '"));
    CHECK_THAT(errors[0], Catch::EndsWith(" [servers[0].routes[0]" + std::string(path) + "]"));
  }
}

TEST_CASE("top-level value errors", "[config][errors]") {
  const std::string rest = "listeners: [{name: http, address: \"127.0.0.1:0\"}]\n"
                           "servers: [{name: s, hosts: [\"*\"], routes: [{respond: {}}]}]\n";
  CHECK(errors_of("version: 2\n" + rest) ==
        std::vector<std::string>{"t.yaml:1:10: error: unsupported version 2 (expected 1) [version]"});
  CHECK(errors_of("workers: 2000\n" + rest) ==
        std::vector<std::string>{"t.yaml:1:10: error: must be between 0 and 1024 [workers]"});
  CHECK(errors_of("workers: -1\n" + rest) == std::vector<std::string>{"t.yaml:1:10: error: expected an integer [workers]"});
  CHECK(errors_of("workers: 1.0\n" + rest) == std::vector<std::string>{"t.yaml:1:10: error: expected an integer [workers]"});
  CHECK(errors_of("workers: 0x10\n" + rest) == std::vector<std::string>{"t.yaml:1:10: error: expected an integer [workers]"});
  CHECK(errors_of("drain_timeout: 30\n" + rest) ==
        std::vector<std::string>{"t.yaml:1:16: error: expected a duration like 250ms or 60s [drain_timeout]"});
  CHECK(errors_of("upstream: []\n" + rest) ==
        std::vector<std::string>{"t.yaml:1:1: error: unknown key 'upstream' (did you mean 'upstreams'?) [upstream]"});
  CHECK(errors_of(rest + "listeners: []\n") ==
        std::vector<std::string>{"t.yaml:3:1: error: duplicate key 'listeners' (first at line 1) [listeners]"});
  CHECK(errors_of("listeners: {name: http}\nservers: [{name: s, hosts: [\"*\"], routes: [{respond: {}}]}]\n") ==
        std::vector<std::string>{"t.yaml:1:1: error: no listeners defined [listeners]",
                                 "t.yaml:1:12: error: expected a list [listeners]"});
  CHECK(errors_of("- a\n- b\n") == std::vector<std::string>{"t.yaml:1:1: error: expected a mapping",
                                                            "t.yaml:1:1: error: no listeners defined [listeners]",
                                                            "t.yaml:1:1: error: no servers defined [servers]"});
}

TEST_CASE("an empty config says what is missing", "[config][errors]") {
  CHECK(errors_of("") == std::vector<std::string>{"t.yaml: error: no listeners defined [listeners]",
                                                  "t.yaml: error: no servers defined [servers]"});
  CHECK(errors_of("version: 1\n") == std::vector<std::string>{"t.yaml:1:1: error: no listeners defined [listeners]",
                                                              "t.yaml:1:1: error: no servers defined [servers]"});
}

TEST_CASE("YAML syntax errors carry the parser's position", "[config][errors]") {
  CHECK(errors_of("listeners: [a, b\nservers: x\n") ==
        std::vector<std::string>{"t.yaml:2:8: error: end of sequence flow not found"});
  CHECK(errors_of("a: 1\n  b: 2\n") == std::vector<std::string>{"t.yaml:2:4: error: illegal map value"});
}

TEST_CASE("listener errors", "[config][errors]") {
  const std::string servers = "servers: [{name: s, hosts: [\"*\"], routes: [{respond: {}}]}]\n";
  CHECK(errors_of("listeners:\n  - {name: a, address: \"0.0.0.0:70000\"}\n" + servers) ==
        std::vector<std::string>{"t.yaml:2:24: error: bad address '0.0.0.0:70000': bad port [listeners[0].address]"});
  CHECK(errors_of("listeners:\n  - {name: a, address: localhost}\n" + servers) ==
        std::vector<std::string>{"t.yaml:2:24: error: bad address 'localhost': missing port [listeners[0].address]"});
  CHECK(errors_of("listeners:\n  - {name: a}\n" + servers) ==
        std::vector<std::string>{"t.yaml:2:5: error: missing required key 'address' [listeners[0].address]"});
  CHECK(errors_of("listeners:\n  - {address: \"127.0.0.1:1\"}\n" + servers) ==
        std::vector<std::string>{"t.yaml:2:5: error: missing required key 'name' [listeners[0].name]"});
  CHECK(errors_of("listeners:\n  - {name: a, address: \"127.0.0.1:1\", adress: x}\n" + servers) ==
        std::vector<std::string>{
            "t.yaml:2:39: error: unknown key 'adress' (did you mean 'address'?) [listeners[0].adress]"});
  CHECK(errors_of("listeners:\n"
                  "  - {name: a, address: \"127.0.0.1:8080\"}\n"
                  "  - {name: a, address: \"127.0.0.1:8081\"}\n"
                  "  - {name: b, address: \"127.0.0.1:8080\"}\n"
                  "  - {name: c, address: \"127.0.0.1:0\"}\n"
                  "  - {name: d, address: \"127.0.0.1:0\"}\n" +
                  servers) ==
        std::vector<std::string>{
            "t.yaml:3:12: error: duplicate listener name 'a' (first at t.yaml:2:12) [listeners[1].name]",
            "t.yaml:4:24: error: duplicate listener address '127.0.0.1:8080' (already used by listener 'a' at "
            "t.yaml:2:5) [listeners[2].address]"});
}

TEST_CASE("upstream errors", "[config][errors]") {
  const std::string head = "listeners: [{name: http, address: \"127.0.0.1:0\"}]\n"
                           "servers: [{name: s, hosts: [\"*\"], routes: [{respond: {}}]}]\n"
                           "upstreams:\n";
  CHECK(errors_of(head + "  - {name: u}\n") ==
        std::vector<std::string>{"t.yaml:4:5: error: upstream has no endpoints [upstreams[0].endpoints]"});
  CHECK(errors_of(head + "  - {name: u, endpoints: []}\n") ==
        std::vector<std::string>{"t.yaml:4:26: error: upstream has no endpoints [upstreams[0].endpoints]"});
  CHECK(errors_of(head + "  - {name: u, endpoints: [\"a:1\", \"b:0\", \"::1:80\"]}\n") ==
        std::vector<std::string>{
            "t.yaml:4:34: error: bad address 'b:0': port 0 is not allowed here [upstreams[0].endpoints[1]]",
            "t.yaml:4:41: error: bad address '::1:80': IPv6 addresses must be written in brackets, like [::1]:8080 "
            "[upstreams[0].endpoints[2]]"});
  CHECK(errors_of(head + "  - {name: u, endpoints: [\"a:1\"], max_idle_per_endpoint: many, idle_timeout: 1y}\n") ==
        std::vector<std::string>{
            "t.yaml:4:58: error: expected an integer [upstreams[0].max_idle_per_endpoint]",
            "t.yaml:4:78: error: expected a duration like 250ms or 60s [upstreams[0].idle_timeout]"});
  CHECK(errors_of(head + "  - {name: u, endpoints: [\"a:1\"]}\n  - {name: u, endpoints: [\"a:2\"]}\n") ==
        std::vector<std::string>{
            "t.yaml:5:12: error: duplicate upstream name 'u' (first at t.yaml:4:12) [upstreams[1].name]"});
  CHECK(errors_of(head + "  - {name: u, endpoints: [\"a:1\"], max_requests_per_connection: 4294967296}\n") ==
        std::vector<std::string>{
            "t.yaml:4:64: error: must be between 0 and 4294967295 [upstreams[0].max_requests_per_connection]"});
}

TEST_CASE("defaults errors", "[config][errors]") {
  const std::string rest = "listeners: [{name: http, address: \"127.0.0.1:0\"}]\n"
                           "servers: [{name: s, hosts: [\"*\"], routes: [{respond: {}}]}]\n";
  CHECK(errors_of("defaults:\n  trusted_proxies: [\"10.0.0.0/8\", \"10.0.0.0/33\", nonsense]\n" + rest) ==
        std::vector<std::string>{
            "t.yaml:2:35: error: bad CIDR '10.0.0.0/33' (expected like 10.0.0.0/8 or fd00::/8) "
            "[defaults.trusted_proxies[1]]",
            "t.yaml:2:50: error: bad CIDR 'nonsense' (expected like 10.0.0.0/8 or fd00::/8) "
            "[defaults.trusted_proxies[2]]"});
  CHECK(errors_of("defaults:\n  max_body_size: 1.5m\n  max_header_bytes: 8g\n  max_headers: 0\n  read_timout: 1s\n" +
                  rest) ==
        std::vector<std::string>{
            "t.yaml:2:18: error: expected a size like 16k or 1m [defaults.max_body_size]",
            "t.yaml:3:21: error: size must be at most 4294967295 [defaults.max_header_bytes]",
            "t.yaml:4:16: error: must be between 1 and 4294967295 [defaults.max_headers]",
            "t.yaml:5:3: error: unknown key 'read_timout' (did you mean 'read_timeout'?) [defaults.read_timout]"});
}

TEST_CASE("server errors", "[config][errors]") {
  const std::string head = "listeners: [{name: http, address: \"127.0.0.1:0\"}]\n"
                           "servers:\n";
  // line 3 onwards
  CHECK(errors_of(head + "  - {name: s, hosts: [\"*\"], listeners: [htp], routes: [{respond: {}}]}\n") ==
        std::vector<std::string>{
            "t.yaml:3:41: error: unknown listener 'htp' (did you mean 'http'?) [servers[0].listeners[0]]"});
  CHECK(errors_of(head + "  - {name: s, hosts: [\"exa mple.com\", \"foo.*.com\", \"*.\"], routes: [{respond: {}}]}\n") ==
        std::vector<std::string>{
            "t.yaml:3:23: error: expected a host name like example.com, *.example.com or * [servers[0].hosts[0]]",
            "t.yaml:3:39: error: expected a host name like example.com, *.example.com or * [servers[0].hosts[1]]",
            "t.yaml:3:52: error: expected a host name like example.com, *.example.com or * [servers[0].hosts[2]]"});
  CHECK(errors_of(head + "  - {name: s, hosts: [a.com, A.com], routes: [{respond: {}}]}\n") ==
        std::vector<std::string>{"t.yaml:3:30: error: host 'a.com' is listed twice [servers[0].hosts[1]]"});
  CHECK(errors_of(head + "  - {name: s, routes: [{respond: {}}]}\n") ==
        std::vector<std::string>{"t.yaml:3:5: error: missing required key 'hosts' [servers[0].hosts]"});
  CHECK(errors_of(head + "  - {name: s, hosts: [a.com], routes: []}\n") ==
        std::vector<std::string>{"t.yaml:3:39: error: server has no routes [servers[0].routes]"});
  CHECK(errors_of(head +
                  "  - {name: s, hosts: [a.com, \"*.b.com\"], routes: [{respond: {}}]}\n"
                  "  - {name: s, hosts: [\"*.B.com\"], routes: [{respond: {}}]}\n") ==
        std::vector<std::string>{
            "t.yaml:4:12: error: duplicate server name 's' (first at t.yaml:3:12) [servers[1].name]",
            "t.yaml:4:23: error: host '*.b.com' is already served by server 's' (at t.yaml:3:30) [servers[1].hosts[0]]"});
  CHECK(errors_of(head +
                  "  - name: s\n"
                  "    hosts: [\"*\"]\n"
                  "    routes:\n"
                  "      - {name: a, respond: {}}\n"
                  "      - {name: b, respond: {}}\n"
                  "      - {name: a, respond: {}}\n") ==
        std::vector<std::string>{
            "t.yaml:8:9: error: duplicate route name 'a' in server 's' (first at t.yaml:6:9) [servers[0].routes[2]]"});
}

TEST_CASE("all errors are reported at once, in file order", "[config][errors]") {
  const std::vector<std::string> errors = errors_of(R"(version: 1
workers: lots
listeners:
  - {name: http, address: "0.0.0.0:8080"}
  - {name: http, address: "0.0.0.0:8080"}
servers:
  - name: app
    hosts: ["*"]
    listeners: [https]
    routes:
      - {name: api, path: /api/, upstream: apii}
      - {name: ping, path: /ping, respond: {status: 1000}}
upstreams:
  - {name: api, endpoints: ["127.0.0.1"]}
)");
  CHECK(errors == std::vector<std::string>{
                      "t.yaml:2:10: error: expected an integer [workers]",
                      "t.yaml:5:12: error: duplicate listener name 'http' (first at t.yaml:4:12) [listeners[1].name]",
                      "t.yaml:5:27: error: duplicate listener address '0.0.0.0:8080' (already used by listener "
                      "'http' at t.yaml:4:5) [listeners[1].address]",
                      "t.yaml:9:17: error: unknown listener 'https' (did you mean 'http'?) [servers[0].listeners[0]]",
                      "t.yaml:11:44: error: unknown upstream 'apii' (did you mean 'api'?) [servers[0].routes[0].upstream]",
                      "t.yaml:12:53: error: respond status must be between 100 and 599 "
                      "[servers[0].routes[1].respond.status]",
                      "t.yaml:14:29: error: bad address '127.0.0.1': missing port [upstreams[0].endpoints[0]]",
                  });
}

TEST_CASE("Diagnostic::str formats", "[config]") {
  CHECK(Diagnostic{{"a.yaml", 3, 7}, "boom", "x.y"}.str() == "a.yaml:3:7: error: boom [x.y]");
  CHECK(Diagnostic{{"a.yaml", 0, 0}, "boom", "x"}.str() == "a.yaml: error: boom [x]");
  CHECK(Diagnostic{{"a.yaml", 1, 1}, "boom", ""}.str() == "a.yaml:1:1: error: boom");
  CHECK(Diagnostic{{"", 0, 0}, "boom", ""}.str() == "error: boom");
}
