// Route table: host selection, route matching order and effective limits.
#include "route/table.hpp"

#include <catch2/catch.hpp>

#include <stdexcept>

using namespace rampart;
using config::PathMatch;
using Kind = config::HeaderMatchSpec::Kind;

namespace {

config::RouteSpec proxy_route(std::string name, std::string path, PathMatch match = PathMatch::prefix,
                              std::string upstream = "pool") {
  config::RouteSpec r;
  r.name = std::move(name);
  r.path = std::move(path);
  r.match = match;
  r.upstream = std::move(upstream);
  return r;
}

config::ServerSpec server(std::string name, std::vector<std::string> hosts, std::vector<config::RouteSpec> routes) {
  config::ServerSpec s;
  s.name = std::move(name);
  s.hosts = std::move(hosts);
  s.routes = std::move(routes);
  return s;
}

config::ConfigSpec spec_with(std::vector<config::ServerSpec> servers) {
  config::ConfigSpec spec;
  spec.servers = std::move(servers);
  for (const char* n : {"pool", "other"}) {
    config::UpstreamSpec u;
    u.name = n;
    spec.upstreams.push_back(u);
  }
  return spec;
}

std::size_t index_of(const std::string& name) { return name == "pool" ? 0 : name == "other" ? 1 : 99; }

std::shared_ptr<const route::Table> build(const config::ConfigSpec& spec) { return route::Table::build(spec, index_of); }

// The server name of the route matched for `host` (every server here has a catch-all route).
std::string server_for(const route::Table& t, std::string_view host) {
  auto m = t.match(host, "/", "GET", {});
  return m.route ? m.route->server_name : "<none>";
}

std::string route_for(const route::Table& t, std::string_view path, std::string_view method = "GET",
                      const std::vector<http::Header>& headers = {}) {
  auto m = t.match("example.com", path, method, headers);
  return m.route ? m.route->name : "<none>";
}

}  // namespace

TEST_CASE("host matching: exact, wildcard, default", "[route][host]") {
  auto spec = spec_with({
      server("first", {"first.test"}, {proxy_route("r", "/")}),
      server("exact", {"example.com", "api.example.com"}, {proxy_route("r", "/")}),
      server("wild", {"*.example.com"}, {proxy_route("r", "/")}),
      server("deep", {"*.eu.example.com"}, {proxy_route("r", "/")}),
      server("dflt", {"*"}, {proxy_route("r", "/")}),
      server("v6", {"[::1]"}, {proxy_route("r", "/")}),
  });
  auto t = build(spec);

  SECTION("exact names beat wildcards") {
    CHECK(server_for(*t, "example.com") == "exact");
    CHECK(server_for(*t, "api.example.com") == "exact");
  }
  SECTION("wildcards match any depth but not the bare domain") {
    CHECK(server_for(*t, "www.example.com") == "wild");
    CHECK(server_for(*t, "a.b.c.example.com") == "wild");
    CHECK(server_for(*t, "xexample.com") == "dflt");
  }
  SECTION("longest suffix wins") {
    CHECK(server_for(*t, "paris.eu.example.com") == "deep");
    CHECK(server_for(*t, "a.paris.eu.example.com") == "deep");
    CHECK(server_for(*t, "eu.example.com") == "wild");
  }
  SECTION("unknown hosts and empty Host go to the '*' server") {
    CHECK(server_for(*t, "unknown.org") == "dflt");
    CHECK(server_for(*t, "") == "dflt");
    CHECK(server_for(*t, "first.test") == "first");
  }
  SECTION("port, case and trailing dot are ignored") {
    CHECK(server_for(*t, "example.com:8080") == "exact");
    CHECK(server_for(*t, "EXAMPLE.Com") == "exact");
    CHECK(server_for(*t, "example.com.") == "exact");
    CHECK(server_for(*t, "Example.COM.:443") == "exact");
    CHECK(server_for(*t, "WWW.Example.com:80") == "wild");
    CHECK(server_for(*t, "www.example.com.") == "wild");
  }
  SECTION("IPv6 literals keep their brackets, lose their port") {
    CHECK(server_for(*t, "[::1]") == "v6");
    CHECK(server_for(*t, "[::1]:8080") == "v6");
    CHECK(server_for(*t, "[::2]:8080") == "dflt");
  }
  SECTION("hosts longer than 255 bytes match no exact name but still wildcards") {
    std::string long_label(300, 'a');
    CHECK(server_for(*t, long_label) == "dflt");
    CHECK(server_for(*t, long_label + ".example.com") == "wild");
  }
}

TEST_CASE("host matching: first server is the default without '*'", "[route][host]") {
  auto t = build(spec_with({
      server("a", {"a.test"}, {proxy_route("r", "/")}),
      server("b", {"b.test", "*.b.test"}, {proxy_route("r", "/")}),
  }));
  CHECK(server_for(*t, "nothing.test") == "a");
  CHECK(server_for(*t, "x.b.test") == "b");
  CHECK(server_for(*t, "B.TEST") == "b");
}

TEST_CASE("config host names are normalized", "[route][host]") {
  auto t = build(spec_with({
      server("a", {"*"}, {proxy_route("r", "/")}),
      server("b", {"Mixed.Example.", "*.Wild.Test."}, {proxy_route("r", "/")}),
  }));
  CHECK(server_for(*t, "mixed.example") == "b");
  CHECK(server_for(*t, "x.wild.test") == "b");
}

TEST_CASE("empty table matches nothing", "[route]") {
  auto t = build(config::ConfigSpec{});
  CHECK(t->match("example.com", "/", "GET", {}).route == nullptr);
}

TEST_CASE("path matching kinds and first match in config order", "[route][path]") {
  auto t = build(spec_with({server(
      "s", {"example.com"},
      {
          proxy_route("exact-login", "/login", PathMatch::exact),
          proxy_route("api", "/api/"),
          proxy_route("img", "^/img/[0-9]+\\.png$", PathMatch::regex),
          proxy_route("api-shadowed", "/api/v2/"),
          proxy_route("catch-all", "/"),
      })}));

  CHECK(route_for(*t, "/login") == "exact-login");
  CHECK(route_for(*t, "/login/x") == "catch-all");
  CHECK(route_for(*t, "/api/x") == "api");
  CHECK(route_for(*t, "/api/") == "api");
  CHECK(route_for(*t, "/api") == "catch-all");  // plain string prefix: "/api/" does not match "/api"
  CHECK(route_for(*t, "/api/v2/users") == "api");  // earlier route wins
  CHECK(route_for(*t, "/img/42.png") == "img");
  CHECK(route_for(*t, "/img/42.png.bak") == "catch-all");  // regex must match the whole path
  CHECK(route_for(*t, "/img/x.png") == "catch-all");
}

TEST_CASE("no route matched gives a null route", "[route][path]") {
  auto t = build(spec_with({server("s", {"*"}, {proxy_route("only", "/only", PathMatch::exact)})}));
  CHECK(t->match("x", "/only", "GET", {}).route != nullptr);
  CHECK(t->match("x", "/other", "GET", {}).route == nullptr);
}

TEST_CASE("regex matching is a full match, partial-looking patterns still anchor", "[route][path]") {
  auto t = build(spec_with({server("s", {"*"}, {proxy_route("re", "/v[0-9]", PathMatch::regex)})}));
  CHECK(t->match("x", "/v1", "GET", {}).route != nullptr);
  CHECK(t->match("x", "/v1/more", "GET", {}).route == nullptr);
  CHECK(t->match("x", "/av1", "GET", {}).route == nullptr);
}

TEST_CASE("an invalid regex makes build throw", "[route][path]") {
  auto bad = spec_with({server("s", {"*"}, {proxy_route("re", "/(unclosed", PathMatch::regex)})});
  CHECK_THROWS_AS(build(bad), std::runtime_error);
  auto r = proxy_route("hdr", "/");
  r.headers.push_back({"x-a", Kind::regex, "[z-a]"});
  auto bad_header = spec_with({server("s", {"*"}, {r})});
  CHECK_THROWS_AS(build(bad_header), std::runtime_error);
}

TEST_CASE("method matching", "[route][method]") {
  auto writes = proxy_route("writes", "/");
  writes.methods = {"POST", "PUT"};
  auto t = build(spec_with({server("s", {"example.com"}, {writes, proxy_route("any", "/")})}));
  CHECK(route_for(*t, "/x", "POST") == "writes");
  CHECK(route_for(*t, "/x", "PUT") == "writes");
  CHECK(route_for(*t, "/x", "GET") == "any");
  CHECK(route_for(*t, "/x", "post") == "any");  // methods are case-sensitive
}

TEST_CASE("header matching", "[route][headers]") {
  auto canary = proxy_route("canary", "/");
  canary.headers.push_back({"x-canary", Kind::exact, "yes"});
  auto beta = proxy_route("beta", "/");
  beta.headers.push_back({"cookie", Kind::regex, ".*beta=1.*"});
  auto both = proxy_route("both", "/");
  both.headers.push_back({"X-Debug", Kind::present, ""});  // name lower-cased at build
  both.headers.push_back({"authorization", Kind::absent, ""});
  auto t = build(spec_with({server("s", {"example.com"}, {canary, beta, both, proxy_route("any", "/")})}));

  using H = std::vector<http::Header>;
  CHECK(route_for(*t, "/", "GET", H{{"X-Canary", "yes"}}) == "canary");
  CHECK(route_for(*t, "/", "GET", H{{"x-canary", "YES"}}) == "any");  // values are case-sensitive
  // Several fields of the same name: one matching field is enough.
  CHECK(route_for(*t, "/", "GET", H{{"x-canary", "no"}, {"X-CANARY", "yes"}}) == "canary");
  CHECK(route_for(*t, "/", "GET", H{{"Cookie", "a=2; beta=1"}}) == "beta");
  CHECK(route_for(*t, "/", "GET", H{{"Cookie", "a=2"}, {"cookie", "beta=1"}}) == "beta");
  CHECK(route_for(*t, "/", "GET", H{{"Cookie", "beta=0"}}) == "any");
  // All matchers must hold: present and absent.
  CHECK(route_for(*t, "/", "GET", H{{"x-debug", ""}}) == "both");
  CHECK(route_for(*t, "/", "GET", H{{"x-debug", "1"}, {"Authorization", "Bearer x"}}) == "any");
  CHECK(route_for(*t, "/", "GET", H{}) == "any");
}

TEST_CASE("actions and upstream indexes", "[route]") {
  auto redir = proxy_route("redir", "/old/");
  redir.upstream.reset();
  redir.redirect = config::RedirectSpec{};
  auto respond = proxy_route("respond", "/ping", PathMatch::exact);
  respond.upstream.reset();
  respond.respond = config::RespondSpec{204, "", "text/plain"};
  auto t = build(spec_with({server(
      "s", {"example.com"}, {redir, respond, proxy_route("other", "/o/", PathMatch::prefix, "other"),
                             proxy_route("pool", "/")})}));
  auto m = t->match("example.com", "/old/x", "GET", {});
  REQUIRE(m.route);
  CHECK(m.route->action == route::Action::redirect);
  m = t->match("example.com", "/ping", "GET", {});
  REQUIRE(m.route);
  CHECK(m.route->action == route::Action::respond);
  CHECK(m.route->respond.status == 204);
  m = t->match("example.com", "/o/1", "GET", {});
  REQUIRE(m.route);
  CHECK(m.route->action == route::Action::proxy);
  CHECK(m.route->upstream == 1);
  m = t->match("example.com", "/z", "GET", {});
  REQUIRE(m.route);
  CHECK(m.route->upstream == 0);
}

TEST_CASE("effective limits merge route overrides over defaults", "[route][limits]") {
  using namespace std::chrono_literals;
  auto plain = proxy_route("plain", "/plain");
  auto tuned = proxy_route("tuned", "/tuned");
  tuned.limits.max_body_size = 0;  // unlimited
  tuned.limits.read_timeout = 5s;
  tuned.limits.send_timeout = 7s;
  tuned.limits.connect_timeout = 1500ms;
  auto slow_pool = proxy_route("slow-pool", "/slow", PathMatch::prefix, "other");
  auto slow_pool_override = proxy_route("slow-pool-override", "/both", PathMatch::prefix, "other");
  slow_pool_override.limits.connect_timeout = 100ms;

  auto spec = spec_with({server("s", {"example.com"}, {plain, tuned, slow_pool, slow_pool_override})});
  spec.defaults.max_body_size = 4096;
  spec.defaults.connect_timeout = 3s;
  spec.defaults.read_timeout = 30s;
  spec.defaults.send_timeout = 20s;
  spec.upstreams[1].connect_timeout = 9s;
  auto t = build(spec);

  auto m = t->match("example.com", "/plain", "GET", {});
  REQUIRE(m.route);
  CHECK(m.route->max_body_size == 4096);
  CHECK(m.route->connect_timeout == 3s);
  CHECK(m.route->read_timeout == 30s);
  CHECK(m.route->send_timeout == 20s);

  m = t->match("example.com", "/tuned", "GET", {});
  REQUIRE(m.route);
  CHECK(m.route->max_body_size == 0);
  CHECK(m.route->connect_timeout == 1500ms);
  CHECK(m.route->read_timeout == 5s);
  CHECK(m.route->send_timeout == 7s);

  m = t->match("example.com", "/slow", "GET", {});
  REQUIRE(m.route);
  CHECK(m.route->connect_timeout == 9s);  // the upstream's override
  CHECK(m.route->read_timeout == 30s);

  m = t->match("example.com", "/both", "GET", {});
  REQUIRE(m.route);
  CHECK(m.route->connect_timeout == 100ms);  // the route's override beats the upstream's
}

TEST_CASE("route carries names, header ops and rewrite settings", "[route]") {
  auto r = proxy_route("api", "/api/");
  r.rewrite_prefix = "/";
  r.request_headers.set.push_back({"x-env", "prod"});
  r.response_headers.remove.push_back("server");
  auto t = build(spec_with({server("edge", {"*"}, {r})}));
  auto m = t->match("h", "/api/x", "GET", {});
  REQUIRE(m.route);
  CHECK(m.route->name == "api");
  CHECK(m.route->server_name == "edge");
  CHECK(m.route->rewrite_prefix == std::optional<std::string>("/"));
  REQUIRE(m.route->request_headers.set.size() == 1);
  CHECK(m.route->request_headers.set[0].second == "prod");
  CHECK(m.route->response_headers.remove == std::vector<std::string>{"server"});
}
