#include "upstream/pool.hpp"

#include <algorithm>

namespace rampart::upstream {

const std::string* Pool::intern(const std::string& key) {
  auto it = entries_.try_emplace(key).first;
  return &it->first;
}

ConnectionPtr Pool::take(const std::string& key, Clock::time_point now) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return nullptr;
  auto& idle = it->second.idle;
  while (!idle.empty()) {
    ConnectionPtr c = std::move(idle.back());
    idle.pop_back();
    if (now - c->idle_since < it->second.idle_timeout) {
      c->reused = true;
      return c;
    }
    // Too old: the upstream may already have closed it; closing here is cheaper than failing.
  }
  return nullptr;
}

void Pool::give_back(ConnectionPtr conn, const PoolLimits& limits, Clock::time_point now) {
  if (!conn || !conn->key || conn->requests >= limits.max_requests) return;
  if (limits.max_lifetime && now - conn->created >= *limits.max_lifetime) return;
  auto& e = entries_[*conn->key];
  e.idle_timeout = limits.idle_timeout;
  if (e.idle.size() >= limits.max_idle) return;
  if (!conn->quiet()) return;  // TLS bytes beyond the response: not a clean connection
  conn->idle_since = now;
  conn->input.release_if_empty();
  if (conn->tls) conn->tls->release_buffers();
  e.idle.push_back(std::move(conn));
}

void Pool::expire(Clock::time_point now) {
  for (auto& [key, e] : entries_) {
    auto& idle = e.idle;
    // Oldest connections are at the front.
    auto first_fresh = std::find_if(idle.begin(), idle.end(),
                                    [&](const ConnectionPtr& c) { return now - c->idle_since < e.idle_timeout; });
    idle.erase(idle.begin(), first_fresh);
  }
}

void Pool::retain(const std::vector<std::string>& keep) {
  for (auto& [key, e] : entries_)
    if (std::find(keep.begin(), keep.end(), key) == keep.end()) e.idle.clear();
}

void Pool::clear() {
  for (auto& [key, e] : entries_) e.idle.clear();
}

std::size_t Pool::idle_count(const std::string& key) const {
  auto it = entries_.find(key);
  return it == entries_.end() ? 0 : it->second.idle.size();
}

std::size_t Pool::idle_count() const {
  std::size_t n = 0;
  for (const auto& [key, e] : entries_) n += e.idle.size();
  return n;
}

}  // namespace rampart::upstream
