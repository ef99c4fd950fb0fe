// Route rewrites: upstream targets and redirect Locations.
#include "route/table.hpp"

#include <catch2/catch.hpp>

using namespace rampart;
using config::PathMatch;

namespace {

route::Route prefix_route(std::string path, std::optional<std::string> rewrite) {
  route::Route r;
  r.path = std::move(path);
  r.match = PathMatch::prefix;
  r.rewrite_prefix = std::move(rewrite);
  return r;
}

std::string target(const route::Route& r, std::string_view path, std::string_view query) {
  std::string out = "prefix:";  // upstream_target appends
  r.upstream_target(path, query, out);
  return out.substr(7);
}

}  // namespace

TEST_CASE("upstream target without rewrite keeps path and query", "[route][rewrite]") {
  auto r = prefix_route("/api/", std::nullopt);
  CHECK(target(r, "/api/users", "") == "/api/users");
  CHECK(target(r, "/api/users", "a=1&b=2") == "/api/users?a=1&b=2");
}

TEST_CASE("rewrite_prefix replaces the matched prefix", "[route][rewrite]") {
  SECTION("prefix to another prefix") {
    auto r = prefix_route("/api/", std::string("/v1/"));
    CHECK(target(r, "/api/users", "") == "/v1/users");
    CHECK(target(r, "/api/users", "page=2") == "/v1/users?page=2");
    CHECK(target(r, "/api/", "") == "/v1/");
  }
  SECTION("prefix stripped to root") {
    auto r = prefix_route("/api/", std::string("/"));
    CHECK(target(r, "/api/users/7", "x=y") == "/users/7?x=y");
    CHECK(target(r, "/api/", "") == "/");
  }
  SECTION("a slash-less prefix rewritten to '/' does not produce '//'") {
    auto r = prefix_route("/api", std::string("/"));
    CHECK(target(r, "/api/users", "") == "/users");
    CHECK(target(r, "/api", "") == "/");
  }
  SECTION("empty rewrite still yields an origin-form path") {
    auto r = prefix_route("/api/", std::string(""));
    CHECK(target(r, "/api/users", "") == "/users");
  }
  SECTION("regex routes are not rewritten") {
    route::Route r;
    r.path = "/api/.*";
    r.match = PathMatch::regex;
    r.rewrite_prefix = "/x/";
    CHECK(target(r, "/api/users", "q") == "/api/users?q");
  }
}

TEST_CASE("redirect locations", "[route][redirect]") {
  route::Route r = prefix_route("/old/", std::nullopt);
  r.action = route::Action::redirect;

  SECTION("defaults: same scheme, host, path and query") {
    CHECK(r.redirect_location("http", "example.com", "/old/a", "q=1") == "http://example.com/old/a?q=1");
  }
  SECTION("scheme only: http to https keeps the Host as received") {
    r.redirect.scheme = "https";
    CHECK(r.redirect_location("http", "example.com", "/old/a", "") == "https://example.com/old/a");
    CHECK(r.redirect_location("http", "example.com:8080", "/x", "a=b") == "https://example.com:8080/x?a=b");
  }
  SECTION("host replaced, may include a port") {
    r.redirect.host = "new.example.com:8443";
    CHECK(r.redirect_location("https", "example.com", "/old/a", "") == "https://new.example.com:8443/old/a");
  }
  SECTION("path replaces the whole path") {
    r.redirect.path = "/landing";
    CHECK(r.redirect_location("https", "example.com", "/old/a/b", "z=1") == "https://example.com/landing?z=1");
  }
  SECTION("prefix replaces the matched prefix") {
    r.redirect.prefix = "/new/";
    CHECK(r.redirect_location("https", "example.com", "/old/a/b", "z=1") == "https://example.com/new/a/b?z=1");
  }
  SECTION("prefix is ignored on exact routes") {
    r.match = PathMatch::exact;
    r.path = "/old/a";
    r.redirect.prefix = "/new/";
    CHECK(r.redirect_location("https", "example.com", "/old/a", "") == "https://example.com/old/a");
  }
  SECTION("strip_query drops the query") {
    r.redirect.strip_query = true;
    r.redirect.scheme = "https";
    CHECK(r.redirect_location("http", "example.com", "/old/a", "secret=1") == "https://example.com/old/a");
  }
  SECTION("without any host the location is relative") {
    CHECK(r.redirect_location("http", "", "/old/a", "q") == "/old/a?q");
  }
}
