#include "server/watcher.hpp"

#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace rampart::server {

namespace fs = std::filesystem;

Watcher::Watcher(boost::asio::io_context& ioc, std::chrono::milliseconds quiet, std::function<void()> on_change)
    : stream_(ioc), debounce_(ioc), quiet_(quiet), on_change_(std::move(on_change)) {}

Watcher::~Watcher() {
  boost::system::error_code ec;
  debounce_.cancel();
  stream_.close(ec);  // closes fd_
}

bool Watcher::watch(const std::vector<std::string>& files, std::string& error) {
  if (fd_ < 0) {
    fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd_ < 0) {
      error = std::string("inotify: ") + std::strerror(errno);
      return false;
    }
    stream_.assign(fd_);
    read_events();
  }
  for (const auto& [wd, dir] : dirs_) ::inotify_rm_watch(fd_, wd);
  dirs_.clear();
  files_.clear();
  std::set<std::string> dirs;
  for (const auto& f : files) {
    fs::path p = fs::absolute(f).lexically_normal();
    dirs.insert(p.parent_path().string());
    files_.emplace(p.parent_path().string(), p.filename().string());
  }
  constexpr std::uint32_t mask =
      IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB | IN_DELETE_SELF;
  for (const auto& d : dirs) {
    int wd = ::inotify_add_watch(fd_, d.c_str(), mask);
    if (wd < 0) {
      error = "inotify_add_watch " + d + ": " + std::strerror(errno);
      return false;
    }
    dirs_[wd] = d;
  }
  return true;
}

// A change matters when it touches a watched file, a YAML file beside it (a new include), or
// a Kubernetes ConfigMap/Secret mount's "..data" / "..<timestamp>" entries.
bool Watcher::relevant(int wd, std::string_view name) const {
  auto it = dirs_.find(wd);
  if (it == dirs_.end()) return false;
  if (name.empty() || name.starts_with("..")) return true;
  if (files_.count({it->second, std::string(name)})) return true;
  return name.ends_with(".yaml") || name.ends_with(".yml");
}

void Watcher::read_events() {
  stream_.async_read_some(boost::asio::buffer(buf_), [this](boost::system::error_code ec, std::size_t n) {
    if (ec) return;  // closed
    bool hit = false;
    for (std::size_t off = 0; off + sizeof(inotify_event) <= n;) {
      auto* ev = reinterpret_cast<const inotify_event*>(buf_ + off);
      std::string_view name = ev->len ? std::string_view(ev->name) : std::string_view{};
      hit = hit || relevant(ev->wd, name);
      off += sizeof(inotify_event) + ev->len;
    }
    if (hit) {
      debounce_.expires_after(quiet_);
      debounce_.async_wait([this](boost::system::error_code tec) {
        if (!tec) on_change_();
      });
    }
    read_events();
  });
}

}  // namespace rampart::server
