#include "response_cache.hpp"

#include "response_head.hpp"

namespace rampart::upstream {

response_cache::response_cache(const server_context& ctx)
    : ctx_(ctx), default_size_(ctx.body_size()) {
  if (default_size_ <= max_cached_size) default_response_ = build(default_size_);
}

const std::string* response_cache::find(std::uint64_t size) {
  if (size > max_cached_size) return nullptr;
  if (size == default_size_) return &default_response_;
  if (auto it = by_size_.find(size); it != by_size_.end()) return &it->second;
  if (by_size_.size() >= max_entries) return nullptr;
  return &by_size_.emplace(size, build(size)).first->second;
}

std::string response_cache::build(std::uint64_t size) const {
  std::string r;
  head_spec spec;
  spec.content_length = size;
  spec.name = ctx_.name();
  append_response_head(r, spec);
  std::uint64_t off = 0;
  while (off < size) {
    const auto s = ctx_.body_slice(off, size - off);
    r.append(static_cast<const char*>(s.data()), s.size());
    off += s.size();
  }
  return r;
}

}  // namespace rampart::upstream
