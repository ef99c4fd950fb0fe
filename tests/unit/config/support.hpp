// Helpers shared by the config tests: load a text and expect success or errors.
#pragma once
#include "config/load.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

namespace rampart::config::test {

// The start of a config whose one route goes to upstream `u`; a test appends `upstreams:` items.
inline const std::string upstream_head = "listeners: [{name: http, address: \"127.0.0.1:0\"}]\n"
                                         "servers: [{name: s, hosts: [\"*\"], routes: [{upstream: u}]}]\n"
                                         "upstreams:\n";

// Every diagnostic of a text that must not load, as printed ("file:line:col: error: ...").
inline std::vector<std::string> errors_of(const std::string& text, const std::string& file = "t.yaml") {
  std::vector<Diagnostic> diagnostics;
  auto spec = load_string(text, file, diagnostics);
  CHECK_FALSE(spec.has_value());
  std::vector<std::string> out;
  for (const Diagnostic& d : diagnostics) out.push_back(d.str());
  return out;
}

// The spec of a text that must load (the test stops, showing the diagnostics, if it does not).
inline ConfigSpec must_load(const std::string& text, const std::string& file = "t.yaml") {
  std::vector<Diagnostic> diagnostics;
  auto spec = load_string(text, file, diagnostics);
  std::string all;
  for (const Diagnostic& d : diagnostics) all += d.str() + "\n";
  INFO(all);
  REQUIRE(spec.has_value());
  return *spec;
}

}  // namespace rampart::config::test
