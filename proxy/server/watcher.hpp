// Watches the config files (the main file and every included one) for changes with inotify and
// calls back once a burst of events has been quiet for a while (editors and Kubernetes
// ConfigMap updates write several events per change). Watches the directories that hold the
// files, so atomic replacements (rename over the file, the ConfigMap `..data` symlink swap) are
// seen, as are new files appearing next to included ones. Control thread only.
#pragma once
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace rampart::server {

class Watcher {
 public:
  // `quiet`: how long events must stop before `on_change` runs.
  Watcher(boost::asio::io_context& ioc, std::chrono::milliseconds quiet, std::function<void()> on_change);
  ~Watcher();
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  // Replaces the watched set. Returns false (with `error`) when inotify is unavailable.
  bool watch(const std::vector<std::string>& files, std::string& error);

 private:
  void read_events();
  bool relevant(int wd, std::string_view name) const;

  int fd_ = -1;
  boost::asio::posix::stream_descriptor stream_;
  boost::asio::steady_timer debounce_;
  std::chrono::milliseconds quiet_;
  std::function<void()> on_change_;
  std::map<int, std::string> dirs_;                    // watch descriptor -> directory
  std::set<std::pair<std::string, std::string>> files_;  // (directory, file name)
  alignas(8) char buf_[8192];
};

}  // namespace rampart::server
