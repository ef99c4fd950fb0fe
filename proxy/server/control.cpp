#include "server/control.hpp"

#include "config/load.hpp"
#include "server/listen.hpp"
#include "server/worker.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <random>
#include <thread>

namespace rampart::server {

namespace {
void print_diagnostics(const std::vector<config::Diagnostic>& diags) {
  for (const auto& d : diags) std::fprintf(stderr, "%s\n", d.str().c_str());
}
}  // namespace

Control::Control(std::string config_path) : path_(std::move(config_path)) {}

Control::~Control() = default;

std::shared_ptr<const snapshot::Snapshot> Control::load(std::uint64_t generation, const char* what) {
  std::vector<config::Diagnostic> diags;
  auto spec = config::load(path_, diags);
  std::shared_ptr<const snapshot::Snapshot> snap;
  if (spec) snap = snapshot::build(*spec, generation, diags);
  if (!snap) {
    std::fprintf(stderr, "rampart: %s failed: %zu error(s) in %s\n", what, diags.size(), path_.c_str());
    print_diagnostics(diags);
  }
  return snap;
}

bool Control::open(const config::ListenerSpec& l, std::vector<int>& fds, std::uint16_t& port, std::string& error) {
  port = l.address.port;
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    std::uint16_t bound = 0;
    int fd = open_listener(l.address, port, bound, error);
    if (fd < 0) {
      for (int f : fds) ::close(f);
      fds.clear();
      return false;
    }
    port = bound;  // the first socket fixes the port for the others
    fds.push_back(fd);
  }
  return true;
}

int Control::run() {
  current_ = load(++generation_, "configuration");
  if (!current_) return 1;
  unsigned n = current_->spec.workers ? current_->spec.workers : std::max(1u, std::thread::hardware_concurrency());
  std::random_device rd;
  for (unsigned i = 0; i < n; ++i)
    workers_.push_back(std::make_unique<Worker>(i, current_, (std::uint64_t(rd()) << 32) ^ rd()));

  for (const auto& l : current_->spec.listeners) {
    std::vector<int> fds;
    std::uint16_t port = 0;
    std::string error;
    if (!open(l, fds, port, error)) {
      std::fprintf(stderr, "rampart: listener %s: %s\n", l.name.c_str(), error.c_str());
      return 1;
    }
    for (std::size_t i = 0; i < fds.size(); ++i) workers_[i]->add_listener(l.name, fds[i]);
    listeners_[l.name] = {l.address, port};
    std::fprintf(stderr, "rampart: listening name=%s address=%s\n", l.name.c_str(),
                 core::HostPort{l.address.host, port}.str().c_str());
  }

  boost::asio::io_context ctl;
  boost::asio::signal_set signals(ctl, SIGINT, SIGTERM, SIGHUP);
  ::signal(SIGPIPE, SIG_IGN);
  for (auto& w : workers_) w->start();
  std::fprintf(stderr, "rampart: ready workers=%u generation=%llu\n", n, (unsigned long long)generation_);

  bool stopping = false;
  std::function<void(const boost::system::error_code&, int)> on_signal = [&](const boost::system::error_code& ec,
                                                                             int sig) {
    if (ec) return;
    if (sig == SIGHUP) {
      reload();
      signals.async_wait(on_signal);
      return;
    }
    stopping = true;
  };
  signals.async_wait(on_signal);
  while (!stopping && ctl.run_one() > 0) {
  }

  // Drain: stop accepting, close idle connections, let exchanges in flight finish until the deadline.
  auto timeout = current_->spec.drain_timeout;
  std::fprintf(stderr, "rampart: draining (up to %lld ms)\n", (long long)timeout.count());
  auto deadline = upstream::Clock::now() + timeout;
  for (auto& w : workers_) w->drain(deadline);
  for (auto& w : workers_) w->join();
  std::fprintf(stderr, "rampart: stopped\n");
  return 0;
}

void Control::reload() {
  auto next = load(generation_ + 1, "reload");
  if (!next) return;
  if (next->spec.workers != current_->spec.workers)
    std::fprintf(stderr, "rampart: reload: 'workers' changes take effect on restart\n");

  // Listener diff by name: unchanged addresses keep their sockets (and connections).
  std::map<std::string, std::vector<int>> added;
  std::map<std::string, BoundListener> next_listeners;
  std::vector<std::string> removed;
  for (const auto& l : next->spec.listeners) {
    auto it = listeners_.find(l.name);
    if (it != listeners_.end() && it->second.address == l.address) {
      next_listeners[l.name] = it->second;
      continue;
    }
    std::vector<int> fds;
    std::uint16_t port = 0;
    std::string error;
    bool clash = it != listeners_.end() && it->second.address.port == l.address.port && l.address.port != 0;
    if (clash) {
      // Same port, new host part: the old socket must go first; do it as remove + add.
      removed.push_back(l.name);
    }
    if (!open(l, fds, port, error)) {
      std::fprintf(stderr, "rampart: reload failed: listener %s: %s\n", l.name.c_str(), error.c_str());
      for (auto& [name, f] : added)
        for (int fd : f) ::close(fd);
      return;
    }
    if (it != listeners_.end() && !clash) removed.push_back(l.name);
    added[l.name] = std::move(fds);
    next_listeners[l.name] = {l.address, port};
  }
  for (const auto& [name, bl] : listeners_)
    if (!next_listeners.count(name)) removed.push_back(name);

  generation_ = next->generation;
  current_ = next;
  for (auto& w : workers_) {
    for (const auto& name : removed) w->remove_listener(name);
    w->set_snapshot(next);
  }
  for (auto& [name, fds] : added) {
    for (std::size_t i = 0; i < fds.size(); ++i) workers_[i]->add_listener(name, fds[i]);
    std::fprintf(stderr, "rampart: listening name=%s address=%s\n", name.c_str(),
                 core::HostPort{next_listeners[name].address.host, next_listeners[name].port}.str().c_str());
  }
  listeners_ = std::move(next_listeners);
  std::fprintf(stderr, "rampart: reload ok generation=%llu\n", (unsigned long long)generation_);
}

}  // namespace rampart::server
