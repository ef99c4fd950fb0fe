// include: globbing in a temp dir: lexical order, dot-files skipped, relative paths, cycles.
#include "config/load.hpp"

#include <catch2/catch.hpp>

#include <stdlib.h>

#include <filesystem>
#include <fstream>

using namespace rampart::config;
namespace fs = std::filesystem;

namespace {

// A fresh directory under the system temp dir, removed when the test ends.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "rampart-config-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  std::string write(const std::string& relative, const std::string& text) const {
    const fs::path p = path_ / relative;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }

 private:
  fs::path path_;
};

std::vector<std::string> strs(const std::vector<Diagnostic>& diagnostics) {
  std::vector<std::string> out;
  for (const Diagnostic& d : diagnostics) out.push_back(d.str());
  return out;
}

const char* const main_head = "listeners: [{name: main, address: \"127.0.0.1:0\"}]\n"
                              "servers: [{name: main, hosts: [\"*\"], routes: [{respond: {}}]}]\n";

}  // namespace

TEST_CASE("include merges lists from globbed files in lexical order", "[config][include]") {
  TempDir dir;
  const std::string main = dir.write("etc/main.yaml", std::string(main_head) +
                                                          "include: [\"../conf.d/*.yaml\", extra/single.yaml]\n");
  dir.write("conf.d/b.yaml", "upstreams: [{name: b, endpoints: [\"b:1\"]}]\ninclude: nested/*.yaml\n");
  dir.write("conf.d/a.yaml", "upstreams: [{name: a, endpoints: [\"a:1\"]}]\n");
  dir.write("conf.d/2-two.yaml", "listeners: [{name: two, address: \"127.0.0.1:0\"}]\n");
  dir.write("conf.d/10-ten.yaml",
            "listeners: [{name: ten, address: \"127.0.0.1:0\"}]\n"
            "servers: [{name: ten, hosts: [ten.example], routes: [{upstream: c}]}]\n");
  dir.write("conf.d/.hidden.yaml", "this is: [not valid yaml\n");
  dir.write("conf.d/..data/x.yaml", "this is: [not valid yaml\n");
  dir.write("conf.d/notes.txt", "not yaml either: [\n");
  dir.write("conf.d/empty.yaml", "");
  dir.write("conf.d/nested/c.yaml", "upstreams: [{name: c, endpoints: [\"c:1\"]}]\n");
  dir.write("etc/extra/single.yaml", "upstreams: [{name: single, endpoints: [\"s:1\"]}]\n");

  std::vector<Diagnostic> diagnostics;
  auto spec = load(main, diagnostics);
  INFO(Catch::Detail::stringify(strs(diagnostics)));
  REQUIRE(spec);
  const std::string etc = (dir.path() / "etc").string();
  CHECK(spec->files == std::vector<std::string>{
                           main,
                           etc + "/../conf.d/10-ten.yaml",
                           etc + "/../conf.d/2-two.yaml",
                           etc + "/../conf.d/a.yaml",
                           etc + "/../conf.d/b.yaml",
                           etc + "/../conf.d/nested/c.yaml",
                           etc + "/../conf.d/empty.yaml",
                           etc + "/extra/single.yaml",
                       });
  std::vector<std::string> listeners, upstreams;
  for (const auto& l : spec->listeners) listeners.push_back(l.name);
  for (const auto& u : spec->upstreams) upstreams.push_back(u.name);
  CHECK(listeners == std::vector<std::string>{"main", "ten", "two"});
  CHECK(upstreams == std::vector<std::string>{"a", "b", "c", "single"});
  REQUIRE(spec->servers.size() == 2);
  CHECK(spec->servers[1].mark.file == etc + "/../conf.d/10-ten.yaml");
  CHECK(spec->servers[1].mark.line == 2);
  CHECK(spec->servers[1].mark.col == 11);
}

TEST_CASE("include of a single string, and globs that match nothing", "[config][include]") {
  TempDir dir;
  const std::string main = dir.write("main.yaml", std::string(main_head) + "include: none/*.yaml\n");
  std::vector<Diagnostic> diagnostics;
  auto spec = load(main, diagnostics);
  CHECK(diagnostics.empty());
  REQUIRE(spec);
  CHECK(spec->files == std::vector<std::string>{main});
}

TEST_CASE("a missing non-glob include is an error", "[config][include]") {
  TempDir dir;
  const std::string main = dir.write("main.yaml", std::string(main_head) + "include: [ok.yaml, missing.yaml]\n");
  dir.write("ok.yaml", "upstreams: []\n");
  std::vector<Diagnostic> diagnostics;
  CHECK_FALSE(load(main, diagnostics));
  CHECK(strs(diagnostics) ==
        std::vector<std::string>{main + ":3:20: error: included file not found: " + (dir.path() / "missing.yaml").string() +
                                 " [include[1]]"});
}

TEST_CASE("included files may not set main-only keys, their errors name the included file", "[config][include]") {
  TempDir dir;
  const std::string main = dir.write("main.yaml", std::string(main_head) + "include: conf.d/*.yaml\n");
  const std::string inc = dir.write("conf.d/x.yaml",
                                    "workers: 4\n"
                                    "defaults: {}\n"
                                    "upstreams: [{name: u, endpoints: []}]\n"
                                    "listeners: [{name: main, address: \"127.0.0.1:1\"}]\n");
  std::vector<Diagnostic> diagnostics;
  CHECK_FALSE(load(main, diagnostics));
  const std::string inc_display = dir.path().string() + "/conf.d/x.yaml";
  CHECK(inc == inc_display);
  CHECK(strs(diagnostics) == std::vector<std::string>{
                                 inc + ":1:10: error: 'workers' is only allowed in the main file [workers]",
                                 inc + ":2:11: error: 'defaults' is only allowed in the main file [defaults]",
                                 inc + ":3:34: error: upstream has no endpoints [upstreams[0].endpoints]",
                                 inc + ":4:20: error: duplicate listener name 'main' (first at " + main +
                                     ":1:20) [listeners[0].name]",
                             });
}

TEST_CASE("a syntax error in an included file is reported there", "[config][include]") {
  TempDir dir;
  const std::string main = dir.write("main.yaml", std::string(main_head) + "include: bad.yaml\n");
  const std::string bad = dir.write("bad.yaml", "upstreams: [{name: u\n");
  std::vector<Diagnostic> diagnostics;
  CHECK_FALSE(load(main, diagnostics));
  REQUIRE(diagnostics.size() == 1);
  CHECK(diagnostics[0].mark.file == bad);
  CHECK(diagnostics[0].mark.line == 2);
  CHECK(diagnostics[0].message == "end of map flow not found");
}

TEST_CASE("include cycles are errors", "[config][include]") {
  TempDir dir;
  const std::string main = dir.write("etc/main.yaml", std::string(main_head) + "include: ../conf.d/*.yaml\n");
  const std::string a = dir.write("conf.d/a.yaml", "include: [\"../etc/main.yaml\"]\n");
  std::vector<Diagnostic> diagnostics;
  CHECK_FALSE(load(main, diagnostics));
  const std::string a_display = (dir.path() / "etc").string() + "/../conf.d/a.yaml";
  CHECK(strs(diagnostics) == std::vector<std::string>{
                                 a_display + ":1:11: error: include cycle: " + main + " -> " + a_display + " -> " +
                                 a_display.substr(0, a_display.size() - std::string("a.yaml").size()) +
                                 "../etc/main.yaml [include[0]]"});
}

TEST_CASE("a file including itself is a cycle", "[config][include]") {
  TempDir dir;
  const std::string main = dir.write("main.yaml", std::string(main_head) + "include: \"*.yaml\"\n");
  std::vector<Diagnostic> diagnostics;
  CHECK_FALSE(load(main, diagnostics));
  CHECK(strs(diagnostics) ==
        std::vector<std::string>{main + ":3:10: error: include cycle: " + main + " -> " + main + " [include]"});
}

TEST_CASE("a file matched twice is read once", "[config][include]") {
  TempDir dir;
  const std::string main =
      dir.write("main.yaml", std::string(main_head) + "include: [\"conf.d/*.yaml\", conf.d/u.yaml]\n");
  dir.write("conf.d/u.yaml", "upstreams: [{name: u, endpoints: [\"u:1\"]}]\n");
  std::vector<Diagnostic> diagnostics;
  auto spec = load(main, diagnostics);
  CHECK(diagnostics.empty());
  REQUIRE(spec);
  CHECK(spec->upstreams.size() == 1);
  CHECK(spec->files.size() == 2);
}

TEST_CASE("load_string resolves includes relative to file_name", "[config][include]") {
  TempDir dir;
  dir.write("conf.d/u.yaml", "upstreams: [{name: u, endpoints: [\"u:1\"]}]\n");
  std::vector<Diagnostic> diagnostics;
  auto spec = load_string(std::string(main_head) + "include: conf.d/*.yaml\n",
                          (dir.path() / "virtual.yaml").string(), diagnostics);
  CHECK(diagnostics.empty());
  REQUIRE(spec);
  CHECK(spec->upstreams.size() == 1);
  CHECK(spec->files.size() == 2);
}

TEST_CASE("operations keys are main-file only", "[config][include]") {
  TempDir dir;
  const std::string main = dir.write("main.yaml", std::string(main_head) + "include: extra.yaml\n");
  const std::string inc = dir.write("extra.yaml",
                                    "shutdown_delay: 5s\n"
                                    "watch: false\n"
                                    "admin: false\n"
                                    "access_log: true\n"
                                    "log: {level: debug}\n");
  std::vector<Diagnostic> diagnostics;
  CHECK_FALSE(load(main, diagnostics));
  CHECK(strs(diagnostics) == std::vector<std::string>{
                                 inc + ":1:17: error: 'shutdown_delay' is only allowed in the main file [shutdown_delay]",
                                 inc + ":2:8: error: 'watch' is only allowed in the main file [watch]",
                                 inc + ":3:8: error: 'admin' is only allowed in the main file [admin]",
                                 inc + ":4:13: error: 'access_log' is only allowed in the main file [access_log]",
                                 inc + ":5:6: error: 'log' is only allowed in the main file [log]",
                             });
}

TEST_CASE("a relative access log path is resolved against the main file's directory", "[config][include]") {
  TempDir dir;
  // The access_log block sits in the main file; an include from a subdirectory changes nothing.
  const std::string main = dir.write("etc/main.yaml", std::string(main_head) +
                                                          "access_log: {path: ../var/log/access.log}\n"
                                                          "include: conf.d/*.yaml\n");
  dir.write("etc/conf.d/a.yaml", "upstreams: [{name: u, endpoints: [\"127.0.0.1:1\"]}]\n");
  std::vector<Diagnostic> diagnostics;
  const auto spec = load(main, diagnostics);
  CHECK(strs(diagnostics).empty());
  REQUIRE(spec);
  CHECK(spec->access_log.enabled);
  CHECK(spec->access_log.path == (dir.path() / "var/log/access.log").string());
  CHECK(fs::path(spec->access_log.path).is_absolute());
}
