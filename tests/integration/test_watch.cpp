// File watching (issue #4) beyond the main file's rename and the ConfigMap swap
// (test_operations.cpp): an edited or added conf.d include reloads, a certificate replaced on
// disk is served without SIGHUP, and a burst of writes gives one reload, not one per write.
#include "fixtures.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

namespace it {
namespace {

// GETs `target` (with Host `host`) until the body equals `body` or `timeout` runs out; returns
// the last body (or the error).
std::string wait_for_body(std::uint16_t port, const std::string& target, const std::string& host,
                          const std::string& body, Ms timeout) {
  auto deadline = Clock::now() + timeout;
  std::string last;
  for (;;) {
    Response r = get(port, target, "", host);
    last = r.ok ? r.body : "error: " + r.error;
    if (last == body || Clock::now() >= deadline) return last;
    sleep_for(50ms);
  }
}

// Writes `content` over `path` in place (truncate, write, close), as an editor without
// rename does: one IN_CLOSE_WRITE per call.
void write_in_place(const std::string& path, const std::string& content) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << content;
  f.close();
  REQUIRE(f.good());
}

double generation(const Proxy& p) { return metric(scrape(p), "rampart_config_generation"); }
double reloads(const Proxy& p, const std::string& result) {
  return metric(scrape(p), "rampart_config_reloads_total", {{"result", result}});
}

// How many of the process's lines so far match `re`.
std::size_t count_lines(Process& p, const std::regex& re) {
  std::size_t n = 0;
  for (const std::string& line : p.lines())
    if (std::regex_search(line, re)) ++n;
  return n;
}

// A server for `host` answering `body` on /msg, as a conf.d file holds it.
std::string include_server(const std::string& name, const std::string& host, const std::string& body) {
  return "servers:\n  - name: " + name + "\n    hosts: [\"" + host + "\"]\n    routes:\n" +
         "      - {name: " + name + "-msg, path: /msg, match: exact, respond: {status: 200, body: \"" + body +
         "\\n\"}}\n";
}

// A self-signed P-256 certificate for `name` written to DIR/STEM.pem and DIR/STEM.key.
void make_cert(const std::string& dir, const std::string& stem, const std::string& name) {
  run_tool("/usr/bin/openssl", {"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                "-days", "2", "-subj", "/CN=" + name, "-addext", "subjectAltName=DNS:" + name,
                                "-keyout", dir + "/" + stem + ".key", "-out", dir + "/" + stem + ".pem"});
  REQUIRE(std::ifstream(dir + "/" + stem + ".pem").good());
  REQUIRE(std::ifstream(dir + "/" + stem + ".key").good());
}

// The CN of the certificate `openssl s_client` was served on 127.0.0.1:port.
std::string served_subject(std::uint16_t port) {
  std::string out = run_tool("/usr/bin/openssl", {"s_client", "-connect", "127.0.0.1:" + std::to_string(port)});
  std::smatch m;
  if (std::regex_search(out, m, std::regex("subject=CN ?= ?([^\\n]+)"))) return m[1];
  return "<none>";
}

}  // namespace

TEST_CASE("watch: editing an included conf.d file reloads it, and a new file beside it is picked up") {
  TempDir dir;
  REQUIRE(std::filesystem::create_directory(dir.path() + "/conf.d"));
  const std::string main = dir.write("rampart.yaml", R"(version: 1
workers: 1
watch: true
admin: {address: "127.0.0.1:0"}
include: ["conf.d/*.yaml"]
listeners:
  - {name: http, address: "127.0.0.1:0"}
servers:
  - name: main
    hosts: ["main.example"]
    routes:
      - {name: main-msg, path: /msg, match: exact, respond: {status: 200, body: "main\n"}}
)");
  const std::string extra = dir.write("conf.d/extra.yaml", include_server("extra", "extra.example", "v1"));
  Proxy p(ExistingConfig{main});
  INFO(p.process().output());
  const std::uint16_t port = p.port();
  REQUIRE(get(port, "/msg", "", "extra.example").body == "v1\n");
  REQUIRE(generation(p) == 1);

  // The included file edited in place: no rename, no SIGHUP.
  p.process().set_cursor(p.process().line_count());
  write_in_place(extra, include_server("extra", "extra.example", "v2"));
  CHECK(wait_for_body(port, "/msg", "extra.example", "v2\n", 4s) == "v2\n");
  p.process().wait_for_line(std::regex("rampart: configuration files changed"), 2s);
  p.process().wait_for_line(std::regex("rampart: reload ok generation=2"), 2s);
  CHECK(generation(p) == 2);
  CHECK(get(port, "/msg", "", "main.example").body == "main\n");  // the main file's routes stay

  // A new file matching the glob adds its server.
  REQUIRE(get(port, "/msg", "", "new.example").body != "new\n");  // (the first server is the default)
  dir.write("conf.d/new.yaml", include_server("fresh", "new.example", "new"));
  CHECK(wait_for_body(port, "/msg", "new.example", "new\n", 4s) == "new\n");
  p.process().wait_for_line(std::regex("rampart: reload ok generation=3"), 2s);
  CHECK(get(port, "/msg", "", "extra.example").body == "v2\n");
  CHECK(reloads(p, "success") == 2);
  CHECK(reloads(p, "failure") == 0);
}

TEST_CASE("watch: a certificate replaced on disk is served without SIGHUP") {
  TempDir certs;
  TempDir staging;
  make_cert(certs.path(), "site", "first.test");
  Upstream web("tlsweb");
  Proxy p("version: 1\nworkers: 2\nwatch: true\nadmin: {address: \"127.0.0.1:0\"}\n"
          "listeners:\n  - name: https\n    address: \"127.0.0.1:0\"\n    tls:\n"
          "      certificates: [{cert: \"" + certs.path() + "/site.pem\", key: \"" + certs.path() + "/site.key\"}]\n"
          "servers:\n  - {name: s, hosts: [\"*\"], routes: [{name: all, path: /, upstream: web}]}\n"
          "upstreams:\n  - {name: web, endpoints: [\"" + web.address() + "\"]}\n");
  INFO(p.process().output());
  const std::uint16_t port = p.port("https");
  REQUIRE(served_subject(port) == "first.test");

  // Renewal as cert-manager or certbot's deploy hook does it: the new pair is made elsewhere and
  // moved over the old files, key first. Both renames fall in one quiet window: one reload.
  make_cert(staging.path(), "site", "second.test");
  p.process().set_cursor(p.process().line_count());
  REQUIRE(std::rename((staging.path() + "/site.key").c_str(), (certs.path() + "/site.key").c_str()) == 0);
  REQUIRE(std::rename((staging.path() + "/site.pem").c_str(), (certs.path() + "/site.pem").c_str()) == 0);
  p.process().wait_for_line(std::regex("rampart: configuration files changed"), 3s);
  p.process().wait_for_line(std::regex("rampart: reload ok generation=2"), 3s);
  CHECK(served_subject(port) == "second.test");
  CurlResult c = curl({"-k", "https://127.0.0.1:" + std::to_string(port) + "/echo"});
  CHECK(c.exit_code == 0);
  CHECK(reloads(p, "success") == 1);
  CHECK(reloads(p, "failure") == 0);
}

TEST_CASE("watch: a burst of five writes to the main file within 100 ms gives exactly one reload") {
  auto msg_route = [](const std::string& body) {
    return "      - {name: msg, path: /msg, match: exact, respond: {status: 200, body: \"" + body + "\\n\"}}\n";
  };
  Stack s({{"EXTRA_ROUTES", msg_route("v0")}, {"WATCH", "true"}});
  Proxy& p = *s.proxy;
  INFO(p.process().output());
  REQUIRE(get(s.port(), "/msg").body == "v0\n");
  const std::regex changed("rampart: configuration files changed");
  const std::regex reloaded("rampart: reload (ok|failed)");
  REQUIRE(count_lines(p.process(), reloaded) == 0);

  // Five complete writes, 20 ms apart (each one a valid config: whichever a reload read would
  // load); the watcher waits 500 ms of quiet after the last.
  p.process().set_cursor(p.process().line_count());
  auto start = Clock::now();
  for (int i = 1; i <= 5; ++i) {
    write_in_place(p.config_path(), s.config({{"EXTRA_ROUTES", msg_route("v" + std::to_string(i))}}));
    if (i < 5) sleep_for(20ms);
  }
  const double burst_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  INFO("burst took " << burst_ms << " ms");
  REQUIRE(burst_ms < 300);  // the premise: all five inside one quiet window

  CHECK(wait_for_body(s.port(), "/msg", "test.local", "v5\n", 4s) == "v5\n");
  p.process().wait_for_line(std::regex("rampart: reload ok generation=2"), 2s);
  sleep_for(1500ms);  // a second reload, if the burst had been split, would have run by now
  CHECK(count_lines(p.process(), changed) == 1);
  CHECK(count_lines(p.process(), reloaded) == 1);
  CHECK(generation(p) == 2);
  CHECK(reloads(p, "success") == 1);
  CHECK(reloads(p, "failure") == 0);
}

}  // namespace it
