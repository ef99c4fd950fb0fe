// The control thread: loads and compiles the config, opens listeners, starts the workers, the
// admin listener and the access-log writer, and turns events into actions:
//   SIGHUP, POST /-/reload, a change to a watched config file  -> reload (all or nothing)
//   SIGUSR1                                                     -> reopen the access-log file
//   SIGTERM/SIGINT  -> /readyz 503, keep serving for shutdown_delay, then drain and exit 0
#pragma once
#include "config/spec.hpp"
#include "server/log.hpp"
#include "snapshot/snapshot.hpp"
#include "upstream/discovery.hpp"
#include "upstream/health_check.hpp"
#include "upstream/state.hpp"

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace rampart::admin {
class Server;
}
namespace rampart::observe {
class AccessLog;
class Metrics;
}  // namespace rampart::observe

namespace rampart::server {

class Worker;
class Watcher;

class Control {
 public:
  explicit Control(std::string config_path);
  ~Control();
  // Runs until SIGTERM/SIGINT and the drain that follows. Returns the process exit code.
  int run();

 private:
  struct BoundListener {
    core::HostPort address;     // as configured
    std::uint16_t port = 0;     // as bound (differs when configured as 0)
  };
  // Loads the spec from disk; on failure prints "rampart: <what> failed" and every diagnostic.
  std::optional<config::ConfigSpec> load_spec(const char* what);
  // Compiles a spec; same reporting on failure.
  std::shared_ptr<const snapshot::Snapshot> compile(const config::ConfigSpec& spec, std::uint64_t generation,
                                                    const char* what);
  // Opens one socket per worker; returns false (closing what it opened) on failure.
  bool open(const config::ListenerSpec& l, std::vector<int>& fds, std::uint16_t& port, std::string& error);
  // Control thread. Returns true on success; `message` says what happened.
  bool reload(std::string& message);
  bool start_admin(const config::ConfigSpec& spec, std::string& error);
  std::string upstreams_json() const;
  // Hands the current snapshot's health-checked endpoints to the checker (after each load).
  void update_health_checks();
  void on_health_event(const upstream::HealthChecker::Event& e);
  std::vector<observe::Metrics::EndpointHealth> endpoint_health() const;
  void watch_files();

  std::string path_;
  Log log_;
  std::uint64_t generation_ = 0;
  mutable std::mutex current_mu_;  // current_ is read by the admin thread
  std::shared_ptr<const snapshot::Snapshot> current_;
  std::unique_ptr<observe::Metrics> metrics_;
  upstream::StateRegistry states_;
  tls::TicketRegistry tickets_;     // session-ticket keys per TLS listener, kept across reloads
  void schedule_ticket_rotation();  // endpoint health and pool counters by stable key (control thread)
  std::unique_ptr<upstream::HealthChecker> checker_;
  std::unique_ptr<upstream::Discovery> discovery_;  // endpoints given by DNS name (control thread)
  // Rebuilds the current config's snapshot with the addresses discovery has now.
  void rediscover();
  bool checker_started_ = false;
  std::unique_ptr<observe::AccessLog> access_log_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::map<std::string, BoundListener> listeners_;
  std::unique_ptr<admin::Server> admin_;
  std::unique_ptr<Watcher> watcher_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> draining_{false};
  struct Loop;
  std::unique_ptr<Loop> loop_;  // the control thread's io_context and friends
};

}  // namespace rampart::server
