// Command line of rampart-bench (the contract shared with bench/compare; see bench/README.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rampart::bench {

struct url {
  std::string scheme;  // "http" or "https"
  std::string host;    // without brackets for IPv6 literals
  std::uint16_t port = 0;
  std::string target;  // path and query, at least "/"

  bool tls() const { return scheme == "https"; }
  // host[:port] as sent in Host / :authority; the port is omitted when it is the default.
  std::string authority() const;
};

// Parses "http://HOST[:PORT][/PATH[?QUERY]]" or https. The fragment is dropped. Returns
// false with a reason in `error` for other schemes, user info, an empty host or a bad port.
bool parse_url(std::string_view text, url& out, std::string& error);

// Parses a duration: a non-negative decimal number with a unit "us", "ms", "s", "m" or "h"
// (no unit: seconds), e.g. "10s", "500ms", "1.5s". Returns nanoseconds, or nullopt.
std::optional<std::int64_t> parse_duration(std::string_view text);

struct options {
  url target;
  std::string url_text;
  std::size_t connections = 64;
  std::int64_t duration_ns = 10'000'000'000;
  std::int64_t warmup_ns = 1'000'000'000;
  std::size_t threads = 1;
  std::size_t streams = 1;
  bool h2 = false;
  double rate = 0;  // requests/s in total; 0 = closed loop
  bool new_conn = false;
  bool session_reuse = true;
  std::string method = "GET";
  std::vector<std::pair<std::string, std::string>> headers;  // in the order given
  std::uint64_t body_size = 0;
  std::optional<std::string> accept_encoding;
  std::int64_t timeout_ns = 10'000'000'000;
  bool json = false;
  bool quiet = false;
  bool help = false;

  bool open_loop() const { return rate > 0; }
};

// Parses argv (argv[0] is skipped). Accepts "-c 64", "-c64", "--connections 64" and
// "--connections=64"; options and the URL may come in any order. Returns false with a message
// in `error` on a usage error (unknown flag, bad value, missing URL, inconsistent options).
bool parse_options(int argc, const char* const* argv, options& out, std::string& error);

extern const char* const usage_text;

}  // namespace rampart::bench
