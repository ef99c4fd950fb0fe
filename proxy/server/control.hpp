// The control thread: loads and compiles the config, opens listeners, starts the workers, and
// turns signals into reloads (SIGHUP) and a graceful drain (SIGTERM/SIGINT).
#pragma once
#include "config/spec.hpp"
#include "snapshot/snapshot.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace rampart::server {

class Worker;

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
  // Loads + builds a snapshot; on failure prints "rampart: <what> failed" and every diagnostic.
  std::shared_ptr<const snapshot::Snapshot> load(std::uint64_t generation, const char* what);
  // Opens one socket per worker; returns false (closing what it opened) on failure.
  bool open(const config::ListenerSpec& l, std::vector<int>& fds, std::uint16_t& port, std::string& error);
  void reload();

  std::string path_;
  std::uint64_t generation_ = 0;
  std::shared_ptr<const snapshot::Snapshot> current_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::map<std::string, BoundListener> listeners_;
};

}  // namespace rampart::server
