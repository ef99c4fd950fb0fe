// access: address rules, methods, and denied paths on the normalised path.
#include "policy/access.hpp"

#include <catch2/catch.hpp>

using namespace rampart;

namespace {

config::AccessSpec spec() {
  config::AccessSpec s;
  s.allow = {*core::parse_cidr("10.0.0.0/8"), *core::parse_cidr("fd00::/8")};
  s.deny = {*core::parse_cidr("10.9.9.9/32")};
  s.methods = {"GET", "POST"};
  s.deny_paths = {"/.git", "/.env", "/admin"};
  s.deny_status = 404;
  return s;
}

int ask(const policy::Access& a, std::string_view method, std::string_view path, const char* ip) {
  auto addr = core::parse_ip(ip);
  return a.on_request({method, path, "", "", addr ? &*addr : nullptr});
}

}  // namespace

TEST_CASE("access: normalisation undoes encoding and dot segments") {
  using policy::Access;
  CHECK(Access::normalise("/a/b") == "/a/b");
  CHECK(Access::normalise("//a///b/") == "/a/b");
  CHECK(Access::normalise("/a/./b/../c") == "/a/c");
  CHECK(Access::normalise("/x/%2e%2e/.git/config") == "/.git/config");
  CHECK(Access::normalise("/%2E%2e/%2e%2E/.env") == "/.env");
  CHECK(Access::normalise("/x/%252e%252e/.env") == "/.env");  // double encoding
  CHECK(Access::normalise("/x\\..\\.git") == "/.git");
  CHECK(Access::normalise("/../../etc") == "/etc");            // never above the root
  CHECK(Access::normalise("") == "/");
}

TEST_CASE("access: addresses, methods and paths") {
  policy::Access a(spec());
  CHECK(ask(a, "GET", "/", "10.1.2.3") == 0);
  CHECK(ask(a, "GET", "/", "fd12::1") == 0);
  CHECK(ask(a, "GET", "/", "192.168.1.1") == 404);   // not in allow
  CHECK(ask(a, "GET", "/", "10.9.9.9") == 404);      // denied first
  CHECK(ask(a, "GET", "/", "bogus") == 404);         // unknown client: no address rule passes
  CHECK(ask(a, "DELETE", "/x", "10.1.2.3") == 405);
  CHECK(ask(a, "GET", "/.git", "10.1.2.3") == 404);
  CHECK(ask(a, "GET", "/.git/HEAD", "10.1.2.3") == 404);
  CHECK(ask(a, "GET", "/.github/workflows", "10.1.2.3") == 0);  // whole segments only
  CHECK(ask(a, "GET", "/static/%2e%2e/.env", "10.1.2.3") == 404);
  CHECK(ask(a, "GET", "//admin//users", "10.1.2.3") == 404);
  CHECK(ask(a, "GET", "/Admin", "10.1.2.3") == 0);  // paths are case-sensitive

  http::HeaderEdits e;
  a.on_response({405, "", "/x", false}, e);
  REQUIRE(e.count == 1);
  CHECK(e.items[0].name == "allow");
  CHECK(e.items[0].value == "GET, POST");
}
