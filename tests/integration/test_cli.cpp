// The command line of rampart: check, dump, version, help and usage errors.
#include "fixtures.hpp"

#include <catch2/catch.hpp>

namespace it {
namespace {

struct RunResult {
  int code = -1;
  std::string out;
  std::string err;
};

RunResult run_rampart(const std::vector<std::string>& args) {
  Process p(rampart_bin(), args);
  RunResult r;
  r.code = p.wait_exit(10s);
  r.out = p.raw_stdout(true);
  r.err = p.raw_stderr();
  return r;
}

const char* const valid_config = R"(version: 1
workers: 1
listeners:
  - {name: http, address: "127.0.0.1:0"}
servers:
  - name: app
    hosts: ["*"]
    routes:
      - {name: ping, path: /ping, match: exact, respond: {status: 200, body: "pong\n"}}
      - {name: web, path: /, upstream: web}
upstreams:
  - {name: web, endpoints: ["127.0.0.1:9"]}
)";

// Two independent errors: a misspelt key (line 9) and a route naming an unknown upstream (line 10).
const char* const invalid_config = R"(version: 1
workers: 1
listeners:
  - {name: http, address: "127.0.0.1:0"}
servers:
  - name: app
    hosts: ["*"]
    routes:
      - {name: ping, path: /ping, match: exact, upstreem: web}
      - {name: web, path: /, upstream: nosuch}
upstreams:
  - {name: web, endpoints: ["127.0.0.1:9"]}
)";

}  // namespace

TEST_CASE("rampart check accepts a valid config with exit 0") {
  TempDir dir;
  std::string file = dir.write("ok.yaml", valid_config);
  auto r = run_rampart({"check", "-c", file});
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.code == 0);
  CHECK(r.err.find("error:") == std::string::npos);
}

TEST_CASE("rampart check rejects an invalid config with every error as file:line:col") {
  TempDir dir;
  std::string file = dir.write("bad.yaml", invalid_config);
  auto r = run_rampart({"check", "-c", file});
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.code == 1);
  // Both mistakes are reported, each with the file name, line and column.
  std::regex line9(std::regex_replace(file, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)") +
                   R"(:9:\d+: error: .*)");
  std::regex line10(std::regex_replace(file, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)") +
                    R"(:10:\d+: error: .*)");
  CHECK(std::regex_search(r.err, line9));
  CHECK(std::regex_search(r.err, line10));
  CHECK(r.err.find("upstreem") != std::string::npos);
  CHECK(r.err.find("nosuch") != std::string::npos);
}

TEST_CASE("rampart check on a missing file fails with exit 1") {
  TempDir dir;
  auto r = run_rampart({"check", "-c", dir.path() + "/does-not-exist.yaml"});
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.code == 1);
  CHECK(r.err.find("does-not-exist.yaml") != std::string::npos);
}

TEST_CASE("rampart dump prints an effective config that checks clean") {
  TempDir dir;
  std::string file = dir.write("ok.yaml", valid_config);
  auto r = run_rampart({"dump", "-c", file});
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.code == 0);
  CHECK(r.out.find("listeners") != std::string::npos);
  CHECK(r.out.find("defaults") != std::string::npos);  // defaults filled in
  CHECK(r.out.find("ping") != std::string::npos);
  std::string dumped = dir.write("dumped.yaml", r.out);
  auto again = run_rampart({"check", "-c", dumped});
  INFO("re-check stderr: " << again.err);
  CHECK(again.code == 0);
}

TEST_CASE("rampart version prints a semantic version") {
  auto r = run_rampart({"version"});
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.code == 0);
  CHECK(std::regex_search(r.out, std::regex(R"(^rampart \d+\.\d+\.\d+)")));
}

TEST_CASE("rampart --help exits 0 and prints usage") {
  auto r = run_rampart({"--help"});
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.code == 0);
  CHECK((r.out + r.err).find("-c") != std::string::npos);
}

TEST_CASE("rampart usage errors exit 64") {
  TempDir dir;
  std::string file = dir.write("ok.yaml", valid_config);
  for (auto args : std::vector<std::vector<std::string>>{
           {"frobnicate", "-c", file},  // unknown subcommand
           {"--no-such-flag", "-c", file},  // unknown flag
           {"check"},                   // missing -c
           {},                          // nothing at all: no config to run
       }) {
    std::string joined;
    for (auto& a : args) joined += a + " ";
    auto r = run_rampart(args);
    INFO("args: " << joined << "\nstdout: " << r.out << "\nstderr: " << r.err);
    CHECK(r.code == 64);
  }
}

}  // namespace it
