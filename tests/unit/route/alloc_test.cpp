// Hot-path budget: Table::match does no heap allocation for host, prefix/exact path, method and
// exact/present/absent header matching (regex routes allocate inside std::regex and are excluded).
#include "route/table.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <new>

namespace {
// Counts allocations made by this test binary while `counting` is set (test-only replacement of
// the global allocation functions).
std::atomic<bool> counting{false};
std::atomic<long> allocations{0};
}  // namespace

namespace {
void* counted_alloc(std::size_t n) noexcept {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n ? n : 1);
}
void* counted_alloc_or_throw(std::size_t n) {
  if (void* p = counted_alloc(n)) return p;
  throw std::bad_alloc();
}
}  // namespace

// Every non-aligned form is replaced so that allocation and release always pair up (the aligned
// forms stay the library's, consistently).
void* operator new(std::size_t n) { return counted_alloc_or_throw(n); }
void* operator new[](std::size_t n) { return counted_alloc_or_throw(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

using namespace rampart;

TEST_CASE("match() does not allocate", "[route][alloc]") {
  config::ConfigSpec spec;
  config::UpstreamSpec up;
  up.name = "pool";
  spec.upstreams.push_back(up);
  config::ServerSpec s;
  s.name = "s";
  s.hosts = {"a-rather-long-host-name-beyond-sso.example.com", "*.wild.example.com", "*"};
  config::RouteSpec r;
  r.name = "api";
  r.path = "/api/";
  r.upstream = "pool";
  r.methods = {"GET", "POST"};
  r.headers.push_back({"x-tenant", config::HeaderMatchSpec::Kind::exact, "acme"});
  r.headers.push_back({"x-debug", config::HeaderMatchSpec::Kind::absent, ""});
  s.routes.push_back(r);
  s.routes.back().name = "exact";
  s.routes.back().match = config::PathMatch::exact;
  s.routes.back().path = "/exact";
  s.routes.back().headers.clear();
  s.routes.push_back(r);
  spec.servers.push_back(s);
  auto table = route::Table::build(spec, [](const std::string&) { return std::size_t{0}; });

  std::vector<http::Header> headers{{"Accept", "*/*"}, {"X-Tenant", "acme"}};
  const std::string long_host = "A-Rather-Long-Host-Name-Beyond-SSO.example.com.:8443";
  const std::string too_long(400, 'x');

  allocations = 0;
  counting = true;
  auto m1 = table->match(long_host, "/api/users", "POST", headers);
  auto m2 = table->match("deep.sub.wild.example.com", "/exact", "GET", headers);
  auto m3 = table->match(too_long, "/nothing", "GET", headers);
  auto m4 = table->match("[::1]:80", "/api/x", "DELETE", headers);
  counting = false;

  CHECK(allocations == 0);
  REQUIRE(m1.route);
  CHECK(m1.route->name == "api");
  REQUIRE(m2.route);
  CHECK(m2.route->name == "exact");
  CHECK(m3.route == nullptr);
  CHECK(m4.route == nullptr);
}
