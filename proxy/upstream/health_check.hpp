// Active health checking: one checker per process, on its own thread with its own io_context,
// probes every upstream endpoint once per interval (HTTP request or bare TCP connect) and publishes
// the verdict through the endpoint's EndpointState atomics, which the workers read.
//
// Verdicts (per endpoint, consecutive counters kept by the checker):
// - from unknown, the first success turns healthy;
// - from unhealthy, healthy_threshold successes in a row turn healthy;
// - from healthy or unknown, unhealthy_threshold failures in a row turn unhealthy.
// A transition to healthy stores healthy_since_ns = now and clears passive ejection
// (ejected_until_ns = 0, ejections = 0); a passing probe on a healthy endpoint that is passively
// ejected clears the ejection too. The checker is the only writer of `health`.
//
// Endpoints of a TLS pool are probed over TLS with the pool's context (handshake and certificate
// verification are part of every probe, `tcp` ones included). Endpoints of an HTTP/2 pool get
// their HTTP probe as one stream on a fresh HTTP/2 connection: prior knowledge in cleartext, ALPN
// h2 over TLS (an endpoint that does not choose h2 fails the probe).
//
// A probe never waits longer than its spec's timeout (connect, request, response head and as much
// body as body_contains needs) and holds at most ~100 KiB, whatever the server does.
#pragma once
#include "config/spec.hpp"
#include "tls/client.hpp"
#include "upstream/state.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace rampart::upstream {

class HealthChecker {
 public:
  struct Target {
    std::string key;                          // "<pool>|<host:port>": stable identity across updates
    std::string pool;                         // pool name (for logs/metrics)
    boost::asio::ip::tcp::endpoint address;
    std::string host;                         // default Host header: the endpoint as configured
    config::HealthCheckSpec spec;
    std::shared_ptr<EndpointState> state;     // where the verdict goes; must not be null
    std::shared_ptr<const tls::ClientContext> tls;  // TLS pools: probes speak TLS with it; null = plain
    bool h2 = false;  // protocol: h2 pools: HTTP probes are one HTTP/2 stream (prior knowledge, or ALPN h2)
  };
  // One probe's outcome. `target` is valid only during the callback. `detail` is empty on success,
  // a short reason otherwise ("connect: Connection refused", "timeout", "status 503",
  // "tls: certificate verification failed: ...",
  // "body mismatch", "invalid response: bare LF", ...). `transition` is the new health if this
  // probe changed it.
  struct Event {
    const Target* target;
    bool ok;
    std::string detail;
    std::optional<Health> transition;
  };

  // on_event: called on the checker thread after every probe whose target is still current (for
  // metrics and logging); must not block. May be empty. Exceptions it throws are swallowed.
  explicit HealthChecker(std::function<void(const Event&)> on_event);
  ~HealthChecker();  // stops and joins
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  // Starts the checker thread. Calling it while running does nothing; after stop() it resumes the
  // schedule where it was.
  void start();
  // Stops the thread and joins it. Probes keep their place and resume on the next start().
  void stop();

  // Replaces the target set. Thread-safe; meant for the control thread after each config
  // load/reload (also callable from on_event). When the checker is running, returns once the
  // checker thread applied the change, so target_count() and the removal are current.
  // - A target equal to a current one in every field (key, pool, address, host, spec, state)
  //   keeps its schedule and consecutive counters; the new list's order does not matter.
  // - A new or changed one starts with fresh counters; its first probe comes after a random delay
  //   of 0..interval*jitter, at most 100 ms.
  // - A removed one stops: its timers are cancelled, an in-flight probe is aborted and its result
  //   discarded (no state change, no event).
  // Duplicate keys: the last one wins.
  void update(std::vector<Target> targets);

  // Targets being checked (probe in flight or scheduled). Any thread.
  std::size_t target_count() const { return active_.load(std::memory_order_acquire); }

 private:
  struct Probe;
  struct Outcome {
    bool ok = false;
    std::string detail;
  };

  void apply(std::vector<Target> targets);  // checker thread, or any thread while not running
  void launch(std::shared_ptr<Probe> probe);
  void retire(Probe& probe);
  boost::asio::awaitable<void> run(std::shared_ptr<Probe> probe, std::chrono::nanoseconds first_delay);
  boost::asio::awaitable<Outcome> probe_once(std::shared_ptr<Probe> probe);
  boost::asio::awaitable<Outcome> http_exchange(Probe& probe);
  boost::asio::awaitable<Outcome> h2_exchange(Probe& probe);
  void record(Probe& probe, Outcome outcome);
  std::chrono::nanoseconds first_delay(const config::HealthCheckSpec& spec);
  std::chrono::nanoseconds next_delay(const config::HealthCheckSpec& spec);

  // Declared first: destroyed last, after everything holding sockets and timers on it.
  boost::asio::io_context ioc_;
  std::function<void(const Event&)> on_event_;
  // Checker-thread state (or any thread while the thread is not running, under control_mutex_).
  std::unordered_map<std::string, std::shared_ptr<Probe>> probes_;
  std::mt19937_64 rng_;
  std::atomic<std::size_t> active_{0};
  // Serialises start/stop/update from outside the checker thread.
  std::mutex control_mutex_;
  std::thread thread_;
  bool running_ = false;  // guarded by control_mutex_
};

}  // namespace rampart::upstream
