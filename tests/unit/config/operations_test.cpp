// The operations keys: shutdown_delay, watch, admin, access_log (top level and per route), log.
// Values, defaults, shorthands, and every error with its exact position.
#include "config/load.hpp"

#include <catch2/catch.hpp>

#include <filesystem>

using namespace rampart::config;
using namespace std::chrono_literals;
using rampart::core::HostPort;

namespace {

const char* const main_file = "/nonexistent/rampart/main.yaml";

// Listener `http` on line 1 (its address at column 35), one server on line 2.
const std::string tail = "listeners: [{name: http, address: \"127.0.0.1:8080\"}]\n"
                         "servers: [{name: s, hosts: [\"*\"], routes: [{respond: {}}]}]\n";

ConfigSpec must_load(const std::string& text, const std::string& file = main_file) {
  std::vector<Diagnostic> diagnostics;
  auto spec = load_string(text, file, diagnostics);
  for (const Diagnostic& d : diagnostics) UNSCOPED_INFO(d.str());
  REQUIRE(diagnostics.empty());
  REQUIRE(spec.has_value());
  return *spec;
}

std::vector<std::string> errors_of(const std::string& text) {
  std::vector<Diagnostic> diagnostics;
  auto spec = load_string(text, "t.yaml", diagnostics);
  CHECK_FALSE(spec.has_value());
  std::vector<std::string> out;
  for (const Diagnostic& d : diagnostics) out.push_back(d.str());
  return out;
}

// "t.yaml:<line>:<col of needle in line_text>: error: <message> [<path>]"
std::string at(int line, const std::string& line_text, const std::string& needle, const std::string& message,
               const std::string& path) {
  const auto pos = line_text.find(needle);
  REQUIRE(pos != std::string::npos);
  return "t.yaml:" + std::to_string(line) + ":" + std::to_string(pos + 1) + ": error: " + message + " [" + path + "]";
}

struct Case {
  std::string line;     // the first line of the file
  std::string needle;   // where the error points (first occurrence in `line`)
  std::string message;
  std::string path;
};

// The single route of a config (on line 3) is `route`.
std::string with_route(const std::string& route) {
  return "listeners: [{name: http, address: \"127.0.0.1:0\"}]\n"
         "servers:\n"
         "  - {name: s, hosts: [\"*\"], routes: [" + route + "]}\n";
}

}  // namespace

TEST_CASE("operations keys left out take the documented defaults", "[config][operations]") {
  const ConfigSpec spec = must_load(tail);
  CHECK(spec.shutdown_delay == 0s);
  CHECK(spec.watch);
  CHECK(spec.admin.enabled);
  CHECK(spec.admin.address == HostPort{"127.0.0.1", 9901});
  CHECK_FALSE(spec.access_log.enabled);
  CHECK(spec.access_log.path == "stdout");
  CHECK(spec.access_log.fields.empty());
  CHECK(spec.access_log.sample == 1.0);
  CHECK_FALSE(spec.access_log.query);
  CHECK(spec.access_log.buffer_size == 1024u * 1024u);
  CHECK(spec.log.format == "text");
  CHECK(spec.log.level == "info");
  // Blocks that are not written point at the main file as a whole.
  for (const Mark* m : {&spec.admin.mark, &spec.access_log.mark, &spec.log.mark}) {
    CHECK(m->file == main_file);
    CHECK(m->line == 0);
  }
  const RouteSpec& route = spec.servers[0].routes[0];
  CHECK_FALSE(route.access_log.has_value());
  CHECK_FALSE(route.access_log_sample.has_value());
}

TEST_CASE("every operations key is read", "[config][operations]") {
  const ConfigSpec spec = must_load("shutdown_delay: 5s\n"
                                    "watch: false\n"
                                    "admin: {enabled: true, address: \"[::1]:9902\"}\n"
                                    "access_log:\n"
                                    "  enabled: true\n"
                                    "  path: /var/log/rampart/access.log\n"
                                    "  fields: [ts, status, path, flags, referer]\n"
                                    "  sample: 0.5\n"
                                    "  query: true\n"
                                    "  buffer_size: 64k\n"
                                    "log: {format: json, level: warn}\n" +
                                    tail);
  CHECK(spec.shutdown_delay == 5s);
  CHECK_FALSE(spec.watch);
  CHECK(spec.admin.enabled);
  CHECK(spec.admin.address == HostPort{"::1", 9902});
  CHECK(spec.admin.mark.file == main_file);
  CHECK(spec.admin.mark.line == 3);
  CHECK(spec.admin.mark.col == 8);
  CHECK(spec.access_log.enabled);
  CHECK(spec.access_log.mark.line == 5);  // a block mapping starts at its first key
  CHECK(spec.access_log.mark.col == 3);
  CHECK(spec.access_log.path == "/var/log/rampart/access.log");
  CHECK(spec.access_log.fields == std::vector<std::string>{"ts", "status", "path", "flags", "referer"});
  CHECK(spec.access_log.sample == 0.5);
  CHECK(spec.access_log.query);
  CHECK(spec.access_log.buffer_size == 64u * 1024u);
  CHECK(spec.log.format == "json");
  CHECK(spec.log.level == "warn");
  CHECK(spec.log.mark.line == 11);
}

TEST_CASE("every access log field name is accepted", "[config][operations]") {
  const std::vector<std::string> all{"ts", "request_id", "client_ip", "client_port", "method", "scheme", "host",
                                     "path", "protocol", "status", "bytes_received", "bytes_sent", "duration_s",
                                     "upstream_duration_s", "route", "upstream", "upstream_addr", "upstream_status",
                                     "flags", "tls_version", "user_agent", "referer"};
  std::string list;
  for (auto it = all.rbegin(); it != all.rend(); ++it) list += (list.empty() ? "" : ", ") + *it;
  const ConfigSpec spec = must_load("access_log: {fields: [" + list + "]}\n" + tail);
  // Kept in the written order, not the default order.
  CHECK(spec.access_log.fields == std::vector<std::string>(all.rbegin(), all.rend()));
}

TEST_CASE("operations shorthands", "[config][operations]") {
  SECTION("admin: false and admin: true") {
    const ConfigSpec off = must_load("admin: false\n" + tail);
    CHECK_FALSE(off.admin.enabled);
    CHECK(off.admin.address == HostPort{"127.0.0.1", 9901});
    CHECK(off.admin.mark.line == 1);
    CHECK(off.admin.mark.col == 8);
    CHECK(must_load("admin: true\n" + tail).admin.enabled);
    CHECK_FALSE(must_load("admin: {enabled: false}\n" + tail).admin.enabled);
    CHECK(must_load("admin: {}\n" + tail).admin.enabled);
  }
  SECTION("access_log: true is the log on with every default") {
    const ConfigSpec on = must_load("access_log: true\n" + tail);
    CHECK(on.access_log.enabled);
    CHECK(on.access_log.path == "stdout");
    CHECK(on.access_log.fields.empty());
    CHECK(on.access_log.sample == 1.0);
    CHECK(on.access_log.buffer_size == 1024u * 1024u);
    CHECK_FALSE(must_load("access_log: false\n" + tail).access_log.enabled);
  }
  SECTION("an access_log mapping turns the log on unless it says enabled: false") {
    CHECK(must_load("access_log: {}\n" + tail).access_log.enabled);
    CHECK(must_load("access_log: {path: stderr}\n" + tail).access_log.enabled);
    const ConfigSpec off = must_load("access_log: {enabled: false, path: stderr}\n" + tail);
    CHECK_FALSE(off.access_log.enabled);
    CHECK(off.access_log.path == "stderr");
  }
  SECTION("per route") {
    const ConfigSpec spec = must_load("listeners: [{name: http, address: \"127.0.0.1:0\"}]\n"
                                      "servers:\n"
                                      "  - name: s\n"
                                      "    hosts: [\"*\"]\n"
                                      "    routes:\n"
                                      "      - {name: off, path: /a, respond: {}, access_log: false}\n"
                                      "      - {name: on, path: /b, respond: {}, access_log: true}\n"
                                      "      - {name: sampled, path: /c, respond: {}, access_log: {sample: 0.1}}\n"
                                      "      - {name: empty, path: /d, respond: {}, access_log: {}}\n"
                                      "      - {name: inherit, respond: {}}\n");
    const auto& routes = spec.servers[0].routes;
    CHECK(routes[0].access_log == false);
    CHECK_FALSE(routes[0].access_log_sample.has_value());
    CHECK(routes[1].access_log == true);
    CHECK_FALSE(routes[1].access_log_sample.has_value());
    CHECK(routes[2].access_log == true);
    CHECK(routes[2].access_log_sample == 0.1);
    CHECK(routes[3].access_log == true);
    CHECK_FALSE(routes[3].access_log_sample.has_value());
    CHECK_FALSE(routes[4].access_log.has_value());
  }
}

TEST_CASE("access log paths", "[config][operations]") {
  auto path_of = [](const std::string& path) {
    return must_load("access_log: {path: \"" + path + "\"}\n" + tail).access_log.path;
  };
  CHECK(path_of("stdout") == "stdout");
  CHECK(path_of("stderr") == "stderr");
  CHECK(path_of("/var/log/a.log") == "/var/log/a.log");
  CHECK(path_of("/var/log/../tmp/a.log") == "/var/tmp/a.log");
  CHECK(path_of("access.log") == "/nonexistent/rampart/access.log");
  CHECK(path_of("logs/../x/./a.log") == "/nonexistent/rampart/x/a.log");
  CHECK(path_of("../a.log") == "/nonexistent/a.log");
  CHECK(path_of("./stdout") == "/nonexistent/rampart/stdout");  // a file that happens to be called stdout
  // A main file named without a directory: relative to the working directory, stored absolute.
  const ConfigSpec spec = must_load("access_log: {path: a.log}\n" + tail, "main.yaml");
  CHECK(spec.access_log.path == (std::filesystem::current_path() / "a.log").lexically_normal().string());
}

TEST_CASE("sample and buffer_size bounds", "[config][operations]") {
  auto sample_of = [](const std::string& s) { return must_load("access_log: {sample: " + s + "}\n" + tail).access_log.sample; };
  CHECK(sample_of("0") == 0.0);
  CHECK(sample_of("1") == 1.0);
  CHECK(sample_of("1.0") == 1.0);
  CHECK(sample_of("0.001") == 0.001);
  CHECK(sample_of("1e-3") == 0.001);
  auto buffer_of = [](const std::string& s) {
    return must_load("access_log: {buffer_size: " + s + "}\n" + tail).access_log.buffer_size;
  };
  CHECK(buffer_of("4k") == 4096u);
  CHECK(buffer_of("4096") == 4096u);
  CHECK(buffer_of("1g") == 1024u * 1024u * 1024u);
}

TEST_CASE("the admin address", "[config][operations]") {
  CHECK(must_load("admin: {address: \"127.0.0.1:0\"}\n" + tail).admin.address == HostPort{"127.0.0.1", 0});
  // Port 0 on both sides: each socket gets its own port.
  CHECK(must_load("admin: {address: \"127.0.0.1:0\"}\n"
                  "listeners: [{name: http, address: \"127.0.0.1:0\"}]\n"
                  "servers: [{name: s, hosts: [\"*\"], routes: [{respond: {}}]}]\n")
            .admin.enabled);
  // A disabled admin listener binds nothing, so it may name any address.
  CHECK_FALSE(must_load("admin: {enabled: false, address: \"127.0.0.1:8080\"}\n" + tail).admin.enabled);
  // Same host, other port; other host, same port.
  must_load("admin: {address: \"127.0.0.1:8081\"}\n" + tail);
  must_load("admin: {address: \"127.0.0.2:8080\"}\n" + tail);
}

TEST_CASE("the admin listener may not share a listener's address", "[config][operations]") {
  SECTION("blamed on the admin address when it is written") {
    const std::string line = "admin: {address: \"127.0.0.1:8080\"}";
    CHECK(errors_of(line + "\n" + tail) ==
          std::vector<std::string>{at(1, line, "\"127", "admin listener shares an address with listener 'http' (at t.yaml:2:35)",
                                      "admin.address")});
  }
  SECTION("a wildcard on either side takes the same connections") {
    const std::string line = "admin: {address: \"0.0.0.0:8080\"}";
    CHECK(errors_of(line + "\n" + tail) ==
          std::vector<std::string>{at(1, line, "\"0.0", "admin listener shares an address with listener 'http' (at t.yaml:2:35)",
                                      "admin.address")});
    const std::string wide = "listeners: [{name: all, address: \"[::]:9901\"}]";
    CHECK(errors_of(wide + "\nservers: [{name: s, hosts: [\"*\"], routes: [{respond: {}}]}]\n") ==
          std::vector<std::string>{at(1, wide, "\"[::]", "admin listener shares an address with listener 'all' "
                                      "(admin.address defaults to 127.0.0.1:9901)", "listeners[0].address")});
  }
  SECTION("blamed on the listener when the admin address is the default") {
    const std::string line = "listeners: [{name: a, address: \"127.0.0.1:1\"}, {name: pub, address: \"127.0.0.1:9901\"}]";
    CHECK(errors_of(line + "\nservers: [{name: s, hosts: [\"*\"], routes: [{respond: {}}]}]\n") ==
          std::vector<std::string>{at(1, line, "\"127.0.0.1:9901", "admin listener shares an address with listener "
                                      "'pub' (admin.address defaults to 127.0.0.1:9901)", "listeners[1].address")});
  }
}

TEST_CASE("operations errors point at the offending node", "[config][operations]") {
  const std::vector<Case> cases{
      {"shutdown_delay: 5", "5", "expected a duration like 250ms or 60s", "shutdown_delay"},
      {"shutdown_delay: 1.5s", "1.5s", "expected a duration like 250ms or 60s", "shutdown_delay"},
      {"watch: yes", "yes", "expected true or false", "watch"},
      {"watch: {}", "{}", "expected true or false", "watch"},
      {"admin: maybe", "maybe", "expected true, false or a mapping", "admin"},
      {"admin: [127.0.0.1]", "[", "expected true, false or a mapping", "admin"},
      {"admin: {enabled: true, adress: \"127.0.0.1:1\"}", "adress", "unknown key 'adress' (did you mean 'address'?)",
       "admin.adress"},
      {"admin: {enabled: 1}", "1", "expected true or false", "admin.enabled"},
      {"admin: {address: localhost}", "localhost", "bad address 'localhost': missing port", "admin.address"},
      {"admin: {address: \"127.0.0.1:70000\"}", "\"127", "bad address '127.0.0.1:70000': bad port", "admin.address"},
      {"admin: {address: [a]}", "[a]", "expected a string", "admin.address"},
      {"access_log: on", "on", "expected true, false or a mapping", "access_log"},
      {"access_log: [ts]", "[ts]", "expected true, false or a mapping", "access_log"},
      {"access_log: {enable: true}", "enable", "unknown key 'enable' (did you mean 'enabled'?)", "access_log.enable"},
      {"access_log: {enabled: true, enabled: false}", "enabled: false", "duplicate key 'enabled' (first at line 1)",
       "access_log.enabled"},
      {"access_log: {path: \"\"}", "\"\"", "must not be empty", "access_log.path"},
      {"access_log: {path: logs/}", "logs/", "expected stdout, stderr or a file path", "access_log.path"},
      {"access_log: {path: [a]}", "[a]", "expected a string", "access_log.path"},
      {"access_log: {fields: ts}", "ts", "expected a list", "access_log.fields"},
      {"access_log: {fields: [ts, stauts]}", "stauts", "unknown access log field 'stauts' (did you mean 'status'?)",
       "access_log.fields[1]"},
      {"access_log: {fields: [ts, colour]}", "colour", "unknown access log field 'colour'", "access_log.fields[1]"},
      {"access_log: {fields: [status, ts, status]}", "status]", "field 'status' is listed twice",
       "access_log.fields[2]"},
      {"access_log: {sample: 1.5}", "1.5", "must be between 0 and 1", "access_log.sample"},
      {"access_log: {sample: -0.1}", "-0.1", "must be between 0 and 1", "access_log.sample"},
      {"access_log: {sample: half}", "half", "expected a number", "access_log.sample"},
      {"access_log: {sample: nan}", "nan", "expected a number", "access_log.sample"},
      {"access_log: {sample: inf}", "inf", "expected a number", "access_log.sample"},
      {"access_log: {sample: 50%}", "50%", "expected a number", "access_log.sample"},
      {"access_log: {sample: \"0.5 \"}", "\"0.5", "expected a number", "access_log.sample"},
      {"access_log: {query: 1}", "1", "expected true or false", "access_log.query"},
      {"access_log: {buffer_size: 1k}", "1k", "must be at least 4k", "access_log.buffer_size"},
      {"access_log: {buffer_size: 4095}", "4095", "must be at least 4k", "access_log.buffer_size"},
      {"access_log: {buffer_size: 2g}", "2g", "size must be at most 1073741824", "access_log.buffer_size"},
      {"access_log: {buffer_size: big}", "big", "expected a size like 16k or 1m", "access_log.buffer_size"},
      {"log: text", "text", "expected a mapping", "log"},
      {"log: {format: jsn}", "jsn", "expected one of text, json (did you mean 'json'?)", "log.format"},
      {"log: {format: JSON}", "JSON", "expected one of text, json (did you mean 'json'?)", "log.format"},
      {"log: {level: eror}", "eror", "expected one of debug, info, warn, error (did you mean 'error'?)", "log.level"},
      {"log: {level: verbose}", "verbose", "expected one of debug, info, warn, error", "log.level"},
      {"log: {lvel: info}", "lvel", "unknown key 'lvel' (did you mean 'level'?)", "log.lvel"},
      {"acess_log: true", "acess_log", "unknown key 'acess_log' (did you mean 'access_log'?)", "acess_log"},
      {"shutdown_dalay: 5s", "shutdown_dalay", "unknown key 'shutdown_dalay' (did you mean 'shutdown_delay'?)",
       "shutdown_dalay"},
  };
  for (const Case& c : cases) {
    INFO(c.line);
    CHECK(errors_of(c.line + "\n" + tail) == std::vector<std::string>{at(1, c.line, c.needle, c.message, c.path)});
  }
}

TEST_CASE("a duplicate operations key is reported at the second one", "[config][operations]") {
  CHECK(errors_of("admin: false\nwatch: true\nadmin: true\n" + tail) ==
        std::vector<std::string>{"t.yaml:3:1: error: duplicate key 'admin' (first at line 1) [admin]"});
}

TEST_CASE("route access_log errors", "[config][operations]") {
  const std::vector<Case> cases{
      {"{respond: {}, access_log: maybe}", "maybe", "expected true, false or a mapping", ".access_log"},
      {"{respond: {}, access_log: 0.5}", "0.5", "expected true, false or a mapping", ".access_log"},
      {"{respond: {}, access_log: {sample: 2}}", "2}", "must be between 0 and 1", ".access_log.sample"},
      {"{respond: {}, access_log: {sample: x}}", "x}", "expected a number", ".access_log.sample"},
      {"{respond: {}, access_log: {rate: 0.1}}", "rate", "unknown key 'rate'", ".access_log.rate"},
      {"{respond: {}, access_log: {smaple: 0.1}}", "smaple", "unknown key 'smaple' (did you mean 'sample'?)",
       ".access_log.smaple"},
      {"{respond: {}, acces_log: false}", "acces_log", "unknown key 'acces_log' (did you mean 'access_log'?)",
       ".acces_log"},
  };
  for (const Case& c : cases) {
    INFO(c.line);
    const std::string line3 = "  - {name: s, hosts: [\"*\"], routes: [" + c.line + "]}";
    const std::string column = std::to_string(line3.find(c.line) + c.line.find(c.needle) + 1);
    CHECK(errors_of(with_route(c.line)) ==
          std::vector<std::string>{"t.yaml:3:" + column + ": error: " + c.message + " [servers[0].routes[0]" +
                                   c.path + "]"});
  }
}

TEST_CASE("operations errors come with the others, all at once", "[config][operations]") {
  const std::vector<std::string> errors = errors_of("shutdown_delay: soon\n"
                                                    "admin: {address: \"127.0.0.1:8080\"}\n"
                                                    "access_log: {fields: [ts, tss], sample: 2, buffer_size: 1}\n"
                                                    "log: {format: xml}\n"
                                                    "workers: many\n" +
                                                    tail);
  CHECK(errors == std::vector<std::string>{
                      "t.yaml:1:17: error: expected a duration like 250ms or 60s [shutdown_delay]",
                      "t.yaml:2:18: error: admin listener shares an address with listener 'http' (at t.yaml:6:35) "
                      "[admin.address]",
                      "t.yaml:3:27: error: unknown access log field 'tss' (did you mean 'ts'?) [access_log.fields[1]]",
                      "t.yaml:3:41: error: must be between 0 and 1 [access_log.sample]",
                      "t.yaml:3:57: error: must be at least 4k [access_log.buffer_size]",
                      "t.yaml:4:15: error: expected one of text, json [log.format]",
                      "t.yaml:5:10: error: expected an integer [workers]",
                  });
}
