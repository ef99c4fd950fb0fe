#include "h2/outbound.hpp"

#include <algorithm>

namespace rampart::h2 {

namespace {

constexpr std::size_t kKeepCapacity = 64 * 1024;  // larger queues are freed when a stream is recycled

bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

}  // namespace

nghttp2_nv make_nv(std::string_view name, std::string_view value) noexcept {
  nghttp2_nv nv;
  nv.name = reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.empty() ? "" : name.data()));
  nv.namelen = name.size();
  nv.value = reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.empty() ? "" : value.data()));
  nv.valuelen = value.size();
  nv.flags = NGHTTP2_NV_FLAG_NONE;
  return nv;
}

bool has_connection_field(std::span<const http::Header> fields) noexcept {
  return std::any_of(fields.begin(), fields.end(),
                     [](const http::Header& f) { return http::iequals(f.name, "connection"); });
}

bool listed_in_connection(std::span<const http::Header> fields, std::string_view name) noexcept {
  for (const http::Header& f : fields) {
    if (!http::iequals(f.name, "connection")) continue;
    std::string_view v = f.value;
    while (!v.empty()) {
      const std::size_t comma = v.find(',');
      std::string_view token = v.substr(0, comma);
      while (!token.empty() && is_ows(token.front())) token.remove_prefix(1);
      while (!token.empty() && is_ows(token.back())) token.remove_suffix(1);
      if (!token.empty() && http::iequals(token, name)) return true;
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
  return false;
}

void OutboundBody::append(std::string_view data, bool end_stream, std::size_t mark) {
  out_.append(data);
  eof_ = end_stream;
  if (queued() >= mark) over_mark_ = true;
}

void OutboundBody::add_trailer(const http::Header& h) {
  TrailerRef r{};
  r.name_off = static_cast<std::uint32_t>(trailer_bytes_.size());
  r.name_len = static_cast<std::uint32_t>(h.name.size());
  for (char c : h.name) trailer_bytes_.push_back(http::ascii_lower(c));
  r.value_off = static_cast<std::uint32_t>(trailer_bytes_.size());
  r.value_len = static_cast<std::uint32_t>(h.value.size());
  trailer_bytes_.append(h.value);
  trailer_refs_.push_back(r);
}

long OutboundBody::read(std::size_t length, std::uint32_t* flags, std::vector<nghttp2_nv>& trailer_nva) {
  trailer_nva.clear();
  const std::size_t avail = queued();
  if (avail == 0 && !eof_) {
    deferred_ = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  const std::size_t n = std::min(length, avail);
  *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
  if (n == avail && eof_) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (!trailer_refs_.empty()) {
      *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      for (const TrailerRef& r : trailer_refs_)
        trailer_nva.push_back(make_nv({trailer_bytes_.data() + r.name_off, r.name_len},
                                      {trailer_bytes_.data() + r.value_off, r.value_len}));
    }
  }
  return static_cast<long>(n);
}

bool OutboundBody::send(std::string& out, std::size_t length, std::size_t mark) {
  out.append(out_.data() + head_, length);
  head_ += length;
  if (head_ == out_.size()) {
    out_.clear();
    head_ = 0;
  } else if (head_ >= kKeepCapacity / 2 && head_ * 2 >= out_.size()) {
    out_.erase(0, head_);  // what was sent is most of it: move the rest to the front
    head_ = 0;
  }
  if (!over_mark_ || queued() >= mark) return false;
  over_mark_ = false;
  return true;
}

void OutboundBody::clear() {
  if (out_.capacity() > kKeepCapacity) std::string().swap(out_);
  out_.clear();
  head_ = 0;
  eof_ = deferred_ = over_mark_ = false;
  trailer_bytes_.clear();
  trailer_refs_.clear();
}

}  // namespace rampart::h2
