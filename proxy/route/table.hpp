// The immutable match table: Host -> server (virtual host), then path/method/headers -> route.
//
// Host matching order: exact names first, then wildcard suffixes ("*.example.com" matches
// "a.example.com" and "a.b.example.com" but not "example.com"; the longest suffix wins), then the
// default server ("*"; if no server lists "*", the first server is the default). The Host value is
// compared case-insensitively with any ":port" and a trailing dot removed.
// Route order within a server: first match in config order (documented in docs/config.md).
#pragma once
#include "config/spec.hpp"
#include "http/message.hpp"
#include "policy/policy.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace rampart::route {

enum class Action : std::uint8_t { proxy, redirect, respond };

struct HeaderMatch {
  std::string name;  // lower-case
  config::HeaderMatchSpec::Kind kind;
  std::string value;
  std::optional<std::regex> re;
};

struct Route {
  std::string name;
  std::string server_name;
  std::string path;
  config::PathMatch match = config::PathMatch::prefix;
  std::optional<std::regex> path_re;
  std::vector<std::string> methods;  // upper-case; empty = any
  std::vector<HeaderMatch> headers;
  Action action = Action::proxy;
  std::size_t upstream = 0;          // index into the snapshot's upstream groups (proxy)
  std::optional<std::string> rewrite_prefix;
  config::RedirectSpec redirect;
  config::RespondSpec respond;
  config::HeaderOps request_headers;
  config::HeaderOps response_headers;
  // Effective limits (route overrides merged over defaults).
  std::uint64_t max_body_size = 0;   // 0 = unlimited
  core::Duration connect_timeout{};
  core::Duration read_timeout{};
  core::Duration send_timeout{};
  config::RetrySpec retry;
  std::shared_ptr<const policy::Chain> policies;  // filled in by the snapshot builder (never null there)
  // Observability, filled in by the snapshot builder.
  std::uint32_t metrics_id = 0;        // observe::Metrics route id
  bool access_log = false;             // log this route's requests
  double access_log_sample = 1.0;      // share of them

  // The request path as it goes upstream: rewrite_prefix applied when set (prefix routes).
  // Appends to `out` the path and, when non-empty, "?" + query.
  void upstream_target(std::string_view path, std::string_view query, std::string& out) const;
  // The Location value for a redirect route, given the request (scheme of the listener, host).
  std::string redirect_location(std::string_view scheme, std::string_view host, std::string_view path,
                                std::string_view query) const;
};

struct Match {
  const Route* route = nullptr;          // nullptr: no route (404)
  const std::string* server = nullptr;   // the server (virtual host) the Host chose; nullptr: none
};

class Table {
 public:
  // `upstream_index` maps a pool name to its index; the caller has validated that it exists.
  // Throws std::runtime_error only on a regex that fails to compile (validated earlier).
  // `decorate`, when given, completes each route with what other modules attach to it (metric ids,
  // access-log settings) before the table becomes immutable.
  static std::shared_ptr<const Table> build(const config::ConfigSpec& spec,
                                            const std::function<std::size_t(const std::string&)>& upstream_index,
                                            const std::function<void(const config::RouteSpec&, Route&)>& decorate = {});

  // Thread: any (immutable). `host` is the raw Host header value.
  Match match(std::string_view host, std::string_view path, std::string_view method,
              const std::vector<http::Header>& headers) const;

 private:
  struct Server {
    std::string name;
    std::vector<Route> routes;
  };
  // Transparent hashing so that find() takes a string_view (no std::string per request).
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  const Server* find_server(std::string_view host) const;
  std::vector<Server> servers_;
  std::unordered_map<std::string, std::size_t, NameHash, std::equal_to<>> exact_;  // host -> server index
  std::vector<std::pair<std::string, std::size_t>> wildcards_;      // ".example.com" suffix, longest first
  std::size_t default_ = 0;
};

}  // namespace rampart::route
