// The admin listener: a small HTTP/1.1 server on its own thread, separate from the workers and
// never on a public listener unless configured so.
//   GET /metrics      Prometheus text exposition
//   GET /livez        200 while the process runs (never depends on upstreams)
//   GET /readyz       200 when the config is loaded and listeners are bound; 503 while draining
//   GET /healthz      alias of /readyz
//   GET /config       the effective config (YAML), secrets and key paths redacted
//   GET /upstreams    JSON: pools, endpoints, health, active requests
//   POST /-/reload    same as SIGHUP; answers 200 with the outcome or 500 with the diagnostics
// Other methods on these paths answer 405 with Allow; other paths 404. The query string is ignored
// for routing. A handler left empty makes its endpoint answer 404 (/livez needs none).
//
// Framing: every response carries Content-Length; keep-alive (HTTP/1.1 default, HTTP/1.0 with
// "Connection: keep-alive") and pipelining are supported; HEAD gets the GET headers without body;
// "Connection: close" is honoured. A malformed request gets the parser's status (400, 414, 431,
// 501, 505) and the connection is closed. Request bodies (POST /-/reload) are read and discarded,
// up to 1 MiB.
//
// Abuse limits (the admin port must not become a way to exhaust the process): each request head
// must arrive within `header_timeout` of the previous response (or of accept), each response must
// be written within it too; at most `max_connections` admin connections are open at once, further
// ones get a 503 and are closed at once.
//
// Binding: SO_REUSEADDR and SO_REUSEPORT. SO_REUSEPORT is deliberate: during a zero-downtime binary
// upgrade the new process binds the same admin address while the old one still runs; until the
// old one exits the kernel spreads admin connections over both, so a scrape or probe may be
// answered by either process. The price: a second Rampart started by mistake on the same address
// does not fail to bind.
#pragma once
#include "core/net.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace rampart::admin {

struct Handlers {
  std::function<std::string()> metrics;      // admin thread; must be thread-safe
  std::function<bool()> ready;
  // The effective config as YAML, served as is: the handler does the redaction.
  std::function<std::string()> config_yaml;
  std::function<std::string()> upstreams_json;
  // Runs a reload and waits for it; returns true on success; `message` says what happened
  // ("reload ok generation=3" or the diagnostics).
  std::function<bool(std::string& message)> reload;
};

struct ServerLimits {
  std::chrono::milliseconds header_timeout{10000};  // per request head, and per response write
  std::size_t max_connections = 64;                 // open admin connections at once
};

// Handlers are called on the admin thread, one at a time; a slow handler (a reload) delays the
// other admin connections but never the workers.
class Server {
 public:
  // Binds `address` (port 0: any) and starts serving on a new thread. nullptr + `error` when the
  // address cannot be bound.
  static std::unique_ptr<Server> start(const core::HostPort& address, Handlers handlers, std::string& error);
  static std::unique_ptr<Server> start(const core::HostPort& address, Handlers handlers, ServerLimits limits,
                                       std::string& error);
  // Stops the thread and closes the listening socket and every admin connection (idle or not);
  // returns once the admin thread has ended (after the handler running at that moment, if any).
  ~Server();
  std::uint16_t port() const;

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// `rampart healthcheck [URL]`: GET the URL (default http://127.0.0.1:9901/readyz) with a 2 s
// timeout; 0 if the answer is 2xx, else 1 (with the reason on stderr).
int healthcheck(const std::string& url);

}  // namespace rampart::admin
