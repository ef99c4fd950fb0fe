// The standard test stack: three rampart-upstream backends (api1, api2, web), a closed port
// standing in for a dead endpoint, and rampart in front of them with the config below.
// Test-thread only (uses Catch2 assertions).
#pragma once

#include "harness.hpp"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace it {

// The standard config. Placeholders: {{API1}} {{API2}} {{WEB}} {{DEAD}} (endpoints),
// {{SERVED_BY}} (value of the x-served-by response header of route "web"),
// {{WORKERS}}, {{DRAIN}}, {{READ_TIMEOUT}}, {{EXTRA_ROUTES}} (route lines for server "app",
// inserted before the catch-all), {{EXTRA_UPSTREAMS}}, {{ADMIN}} (admin address, default
// 127.0.0.1:0: a free port per process, see Proxy::admin_port()), {{LISTEN}} (address of
// listener "http", default 127.0.0.1:0), {{TOP}} (complete top-level lines such as
// "shutdown_delay: 1s\n", inserted before `listeners:`).
extern const char* const standard_config_template;

// A port on 127.0.0.1 that nothing listens on (bound, read, then closed).
std::uint16_t closed_port();

class Stack {
 public:
  // Starts the backends and the proxy. `overrides` replace the default placeholder values.
  explicit Stack(std::map<std::string, std::string> overrides = {});

  // The config text with the current values and `overrides` applied.
  std::string config(const std::map<std::string, std::string>& overrides = {}) const;
  std::uint16_t port() const { return proxy->port("http"); }

  Upstream api1{"api1"};
  Upstream api2{"api2"};
  Upstream web{"web"};
  std::uint16_t dead = 0;
  std::map<std::string, std::string> values;
  std::unique_ptr<Proxy> proxy;
};

// GET `target` through a fresh connection.
Response get(std::uint16_t port, const std::string& target, const std::string& extra = "",
             const std::string& host = "test.local");

// Decodes an /echo response, failing the test (with the response shown) if it is not one.
Echo require_echo(const Response& r);

// The /stats counters of an upstream (fetched directly, not through the proxy).
std::map<std::string, std::string> upstream_stats(const Upstream& u);

// GET `target` from the proxy's admin listener, on a fresh connection.
Response admin_get(const Proxy& proxy, const std::string& target);

// One sample of a Prometheus text exposition.
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;  // unescaped values
  double value = 0;
};
// Parses a text exposition (format 0.0.4), failing the test on a line it cannot read.
std::vector<Sample> parse_exposition(const std::string& text);
// GET /metrics from the admin listener and parse it (fails the test unless 200).
std::vector<Sample> scrape(const Proxy& proxy);
// Sum of the samples named `name` whose labels include every pair of `labels` (0 when none).
double metric(const std::vector<Sample>& samples, const std::string& name,
              const std::map<std::string, std::string>& labels = {});

// Runs `bin args...` to its end (failing the test after `timeout`) and returns its stdout then stderr.
std::string run_tool(const std::string& bin, const std::vector<std::string>& args, Ms timeout = 20s);

// Polls `pred()` every 20 ms until it holds or `timeout` passed; returns its last value.
template <class Pred>
bool eventually(Pred pred, Ms timeout = 5s) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    sleep_for(20ms);
  }
  return pred();
}

// Replaces `path` atomically: writes `content` to a temporary file next to it, then renames it.
void write_atomically(const std::string& path, const std::string& content);

// Catch2 helper: shows why a response failed.
#define REQUIRE_RESPONSE(r)                  \
  do {                                       \
    INFO("response error: " << (r).error);   \
    REQUIRE((r).ok);                         \
  } while (0)

}  // namespace it
