// Stub handlers for the admin server tests: fixed bodies, a readiness switch, a scripted reload,
// and a record of the thread each handler ran on.
#pragma once
#include "admin/server.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace rampart::admin::test {

inline constexpr const char* kMetrics = "# TYPE rampart_up gauge\nrampart_up 1\n";
inline constexpr const char* kConfig = "listeners:\n  - name: web\n";
inline constexpr const char* kUpstreams = "{\"groups\":[]}";

struct Stub {
  std::atomic<bool> ready{true};
  std::atomic<bool> reload_ok{true};
  std::atomic<int> reloads{0};
  std::mutex mu;
  std::thread::id handler_thread;

  void saw_thread() {
    std::lock_guard lock(mu);
    handler_thread = std::this_thread::get_id();
  }
  std::thread::id last_thread() {
    std::lock_guard lock(mu);
    return handler_thread;
  }

  Handlers handlers() {
    Handlers h;
    h.metrics = [this] {
      saw_thread();
      return std::string(kMetrics);
    };
    h.ready = [this] {
      saw_thread();
      return ready.load();
    };
    h.config_yaml = [] { return std::string(kConfig); };
    h.upstreams_json = [] { return std::string(kUpstreams); };
    h.reload = [this](std::string& message) {
      saw_thread();
      const int n = ++reloads;
      if (reload_ok) {
        message = "reload ok generation=" + std::to_string(n + 1);
        return true;
      }
      message = "config.yaml:3:5: routes: expected a sequence\n";
      return false;
    };
    return h;
  }
};

inline std::unique_ptr<Server> start_server(Stub& stub, ServerLimits limits = {}) {
  std::string error;
  auto server = Server::start(core::HostPort{"127.0.0.1", 0}, stub.handlers(), limits, error);
  if (!server) throw std::runtime_error("admin server did not start: " + error);
  return server;
}

}  // namespace rampart::admin::test
