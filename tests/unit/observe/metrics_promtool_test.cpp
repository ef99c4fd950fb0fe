// The exposition passes `promtool check metrics` (format and naming lint). promtool comes with the
// Debian package `prometheus`, which scripts/install-deps.sh installs for the tests; without it
// this test fails rather than skipping.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "observe/metrics.hpp"

using namespace rampart::observe;

namespace {

bool have_promtool() { return std::system("command -v promtool >/dev/null 2>&1") == 0; }

// Exit status of `promtool check metrics` on `text`; its output goes to `report`.
int promtool_check(const std::string& text, std::string& report) {
  char in_path[] = "/tmp/rampart-metrics-XXXXXX";
  int fd = ::mkstemp(in_path);
  REQUIRE(fd >= 0);
  ::close(fd);
  std::string out_path = std::string(in_path) + ".out";
  {
    std::ofstream f(in_path, std::ios::binary);
    f << text;
  }
  std::string cmd = std::string("promtool check metrics < ") + in_path + " > " + out_path + " 2>&1";
  int rc = std::system(cmd.c_str());
  std::ifstream r(out_path);
  report.assign(std::istreambuf_iterator<char>(r), std::istreambuf_iterator<char>());
  std::remove(in_path);
  std::remove(out_path.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

}  // namespace

TEST_CASE("render passes promtool check metrics", "[metrics][promtool]") {
  if (!have_promtool())
    FAIL("promtool not found in PATH: install the Debian package 'prometheus' (scripts/install-deps.sh does)");

  Metrics m(2, "0.4.0");
  m.config_loaded(1);
  m.reload_result(false, 2);
  m.reload_result(true, 3);
  auto r = m.route_id("web", "api");
  auto r2 = m.route_id("we\"b", "a\\b\nc");
  auto u = m.upstream_id("app");
  auto e = m.endpoint_id("app", "[::1]:8080");
  auto l = m.listener_id("main");
  for (unsigned i = 0; i < 2; ++i) {
    auto& w = m.worker(i);
    w.request(r, MethodClass::get, 200, 0.01, 10, 20);
    w.request(r2, MethodClass::other, 499, 2, 10, 20);
    w.request(0, MethodClass::post, 404, 0.0001, 10, 20);
    w.upstream_request(u, e, 200, 0.004);
    w.upstream_request(u, e, 0, 1);
    w.upstream_connect(u, true, 0.0003);
    w.upstream_connect(u, false, 5);
    w.upstream_reuse(u);
    w.upstream_retry(u);
    w.upstream_active(u, 1);
    w.upstream_idle(u, 2);
    w.connection_opened(l);
    w.access_log_dropped(1);
  }
  std::string report;
  int rc = promtool_check(m.render(), report);
  INFO(report);
  CHECK(rc == 0);
  CHECK(report.empty());

  // Also a fresh registry (families with no samples yet).
  Metrics fresh(1, "0.4.0");
  rc = promtool_check(fresh.render(), report);
  INFO(report);
  CHECK(rc == 0);
}

TEST_CASE("the promtool check can fail", "[metrics][promtool]") {
  if (!have_promtool())
    FAIL("promtool not found in PATH: install the Debian package 'prometheus' (scripts/install-deps.sh does)");
  std::string report;
  CHECK(promtool_check("# TYPE bad counter\nbad 1\n", report) != 0);  // no HELP, counter without _total
  CHECK(promtool_check("not a metric line {\n", report) != 0);
}
