// Test helpers for the metrics tests: parse a text exposition into series -> value.
#pragma once
#include <cmath>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>

namespace rampart::observe::test {

// Every sample line of `text`, keyed by its series exactly as written (`name{labels}`), e.g.
// `rampart_requests_total{server="web",route="api",method="GET",code_class="2xx"}`.
inline std::map<std::string, double> parse_samples(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto space = line.rfind(' ');
    if (space == std::string::npos) continue;
    std::string value = line.substr(space + 1);
    double v = value == "+Inf" ? HUGE_VAL : value == "-Inf" ? -HUGE_VAL : std::strtod(value.c_str(), nullptr);
    out[line.substr(0, space)] = v;
  }
  return out;
}

// Series whose value differs between two parses (or that exist in only one), with the new value
// (NaN-free inputs assumed; a vanished series maps to -1).
inline std::map<std::string, double> changed(const std::map<std::string, double>& before,
                                             const std::map<std::string, double>& after) {
  std::map<std::string, double> out;
  for (const auto& [k, v] : after) {
    auto it = before.find(k);
    if (it == before.end() || it->second != v) out[k] = v;
  }
  for (const auto& [k, v] : before)
    if (!after.count(k)) out[k] = -1;
  return out;
}

}  // namespace rampart::observe::test
