#include "h2_client.hpp"

#include <nghttp2/nghttp2.h>

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

namespace it::h2 {
namespace {

void put_u32(std::string& out, std::uint32_t v) {
  out.push_back(static_cast<char>((v >> 24) & 0xff));
  out.push_back(static_cast<char>((v >> 16) & 0xff));
  out.push_back(static_cast<char>((v >> 8) & 0xff));
  out.push_back(static_cast<char>(v & 0xff));
}

std::uint32_t get_u32(std::string_view s, std::size_t at) {
  auto b = [&](std::size_t i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(s[at + i])); };
  return (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

// ---- HPACK encoding ----------------------------------------------------------------------------

void encode_integer(std::string& out, std::uint8_t high_bits, int prefix_bits, std::uint64_t value) {
  const std::uint64_t max_prefix = (std::uint64_t{1} << prefix_bits) - 1;
  if (value < max_prefix) {
    out.push_back(static_cast<char>(high_bits | value));
    return;
  }
  out.push_back(static_cast<char>(high_bits | max_prefix));
  value -= max_prefix;
  while (value >= 128) {
    out.push_back(static_cast<char>(0x80 | (value & 0x7f)));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

void encode_literal(std::string& out, std::string_view name, std::string_view value) {
  out.push_back('\0');  // 0000 | index 0: the name follows as a literal
  encode_integer(out, 0x00, 7, name.size());
  out.append(name);
  encode_integer(out, 0x00, 7, value.size());
  out.append(value);
}

std::string encode_block(const Fields& fields) {
  std::string out;
  for (const auto& f : fields) encode_literal(out, f.name, f.value);
  return out;
}

Fields request_fields(const std::string& method, const std::string& path, const Fields& extra,
                      const std::string& authority, const std::string& scheme) {
  Fields f{{":method", method}, {":scheme", scheme}};
  if (!authority.empty()) f.push_back({":authority", authority});
  f.push_back({":path", path});
  f.insert(f.end(), extra.begin(), extra.end());
  return f;
}

// ---- Frames ------------------------------------------------------------------------------------

std::string frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream, std::string_view payload) {
  std::string out;
  out.reserve(9 + payload.size());
  const auto len = static_cast<std::uint32_t>(payload.size());
  out.push_back(static_cast<char>((len >> 16) & 0xff));
  out.push_back(static_cast<char>((len >> 8) & 0xff));
  out.push_back(static_cast<char>(len & 0xff));
  out.push_back(static_cast<char>(type));
  out.push_back(static_cast<char>(flags));
  put_u32(out, stream & 0x7fffffff);
  out.append(payload);
  return out;
}

std::string settings_frame(const std::vector<std::pair<std::uint16_t, std::uint32_t>>& values) {
  std::string payload;
  for (const auto& [id, v] : values) {
    payload.push_back(static_cast<char>(id >> 8));
    payload.push_back(static_cast<char>(id & 0xff));
    put_u32(payload, v);
  }
  return frame(type::settings, 0, 0, payload);
}

std::string rst_stream_frame(std::uint32_t stream, std::uint32_t error_code) {
  std::string payload;
  put_u32(payload, error_code);
  return frame(type::rst_stream, 0, stream, payload);
}

std::string window_update_frame(std::uint32_t stream, std::uint32_t increment) {
  std::string payload;
  put_u32(payload, increment & 0x7fffffff);
  return frame(type::window_update, 0, stream, payload);
}

std::string ping_frame(std::string_view opaque8, bool ack) {
  std::string payload(opaque8.substr(0, 8));
  payload.resize(8, '\0');
  return frame(type::ping, ack ? flag::ack : 0, 0, payload);
}

std::string data_frames(std::uint32_t stream, std::string_view data, bool end_stream) {
  std::string out;
  do {
    const std::size_t n = std::min(data.size(), kMaxFrame);
    const bool last = n == data.size();
    out += frame(type::data, last && end_stream ? flag::end_stream : 0, stream, data.substr(0, n));
    data.remove_prefix(n);
  } while (!data.empty());
  return out;
}

// ---- Results -----------------------------------------------------------------------------------

std::optional<std::string> StreamResult::header(std::string_view name) const {
  for (const auto& f : headers)
    if (iequals(f.name, name)) return f.value;
  return std::nullopt;
}

// ---- Client ------------------------------------------------------------------------------------

void Client::InflaterDeleter::operator()(nghttp2_hd_inflater* p) const { nghttp2_hd_inflate_del(p); }

Client::Client(std::uint16_t port, Ms timeout) : conn_(port, timeout) {
  nghttp2_hd_inflater* p = nullptr;
  if (nghttp2_hd_inflate_new(&p) != 0) {
    fail("nghttp2_hd_inflate_new failed");
    return;
  }
  inflater_.reset(p);
}

Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

void Client::fail(std::string why) {
  if (error_.empty()) error_ = std::move(why);
}

bool Client::send(std::string_view bytes, Ms timeout) {
  if (!ok()) return false;
  if (!conn_.send(bytes, timeout)) {
    send_error_ = conn_.error();
    return false;
  }
  return true;
}

void Client::reply(std::string_view bytes) {
  // A peer that is closing may no longer read: what it already sent is still processed, and the
  // close shows on the read side.
  if (ok() && !closed_) conn_.send(bytes, 1s);
}

bool Client::handshake(const ClientSettings& s, Ms timeout) {
  std::string out(kPreface);
  out += settings_frame({{setting::enable_push, 0}, {setting::initial_window_size, s.initial_window_size}});
  if (s.connection_window > 65535) out += window_update_frame(0, s.connection_window - 65535);
  if (!send(out, timeout)) return false;
  if (!wait_until([&] { return got_settings_; }, timeout)) {
    fail(closed_ ? "closed before the server's SETTINGS" : "no SETTINGS from the server");
    return false;
  }
  return ok();
}

bool Client::send_headers(std::uint32_t stream, const Fields& fields, std::uint8_t flags) {
  return send(frame(type::headers, flags, stream, encode_block(fields)));
}

std::uint32_t Client::claim_stream() {
  const std::uint32_t id = next_stream_;
  next_stream_ += 2;
  return id;
}

std::uint32_t Client::request(const std::string& method, const std::string& path, const Fields& extra,
                              const std::string& body, bool end_stream) {
  const std::uint32_t id = claim_stream();
  std::uint8_t flags = flag::end_headers;
  if (body.empty() && end_stream) flags |= flag::end_stream;
  std::string out = frame(type::headers, flags, id, encode_block(request_fields(method, path, extra)));
  if (!body.empty()) out += data_frames(id, body, end_stream);
  return send(out) ? id : 0;
}

int Client::poll(Ms timeout) {
  if (!conn_.ok()) {
    fail("not connected");
    return -1;
  }
  if (closed_ || !error_.empty()) return -1;
  const int fd = conn_.fd();
  pollfd p{fd, POLLIN, 0};
  int pr;
  do {
    pr = ::poll(&p, 1, static_cast<int>(std::max<long>(0, std::min<long>(timeout.count(), 1000000))));
  } while (pr < 0 && errno == EINTR);
  if (pr < 0) {
    fail(std::string("poll: ") + std::strerror(errno));
    return -1;
  }
  if (pr == 0) return 0;
  // Read everything available now, then process the complete frames.
  char chunk[65536];
  for (;;) {
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, MSG_DONTWAIT);
    if (n > 0) {
      in_.append(chunk, static_cast<std::size_t>(n));
      if (in_.size() >= (1u << 20)) break;  // process before reading more
      continue;
    }
    if (n == 0) {
      closed_ = true;
      break;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    if (errno == ECONNRESET) {
      closed_ = true;
      break;
    }
    fail(std::string("recv: ") + std::strerror(errno));
    break;
  }
  const std::size_t before = events_.size();
  const bool good = process();
  const int processed = static_cast<int>(events_.size() - before);
  if (!good) return -1;
  if (processed == 0 && closed_) return -1;
  return processed;
}

bool Client::process() {
  std::size_t pos = 0;
  bool good = true;
  while (good && in_.size() - pos >= 9) {
    const auto* h = reinterpret_cast<const unsigned char*>(in_.data() + pos);
    const std::uint32_t length = (std::uint32_t{h[0]} << 16) | (std::uint32_t{h[1]} << 8) | h[2];
    if (length > kMaxFrame) {
      fail("frame of " + std::to_string(length) + " bytes exceeds our SETTINGS_MAX_FRAME_SIZE");
      good = false;
      break;
    }
    if (in_.size() - pos < 9 + length) break;
    const std::uint8_t t = h[3], flags = h[4];
    const std::uint32_t stream = get_u32(in_, pos + 5) & 0x7fffffff;
    if (events_.size() < max_events) events_.push_back({t, flags, stream, length, Clock::now()});
    good = on_frame(t, flags, stream, std::string_view(in_).substr(pos + 9, length));
    pos += 9 + length;
  }
  in_.erase(0, pos);
  return good;
}

bool Client::on_frame(std::uint8_t t, std::uint8_t flags, std::uint32_t stream, std::string_view payload) {
  if (block_stream_ != 0 && t != type::continuation) {
    fail("frame type " + std::to_string(t) + " in the middle of a header block");
    return false;
  }
  // Strips the padding (and the priority fields of HEADERS) named by the flags.
  auto unpad = [&](std::string_view p, std::size_t priority_bytes) -> std::optional<std::string_view> {
    std::size_t pad = 0;
    if (flags & flag::padded) {
      if (p.empty()) return std::nullopt;
      pad = static_cast<unsigned char>(p[0]);
      p.remove_prefix(1);
    }
    if (p.size() < priority_bytes + pad) return std::nullopt;
    p.remove_prefix(priority_bytes);
    return p.substr(0, p.size() - pad);
  };
  switch (t) {
    case type::data: {
      auto body = unpad(payload, 0);
      if (!body) {
        fail("bad DATA padding");
        return false;
      }
      StreamResult& s = streams_[stream];
      s.body_bytes += body->size();
      ++s.data_frames;
      if (s.body.size() < max_body_kept) s.body.append(body->substr(0, max_body_kept - s.body.size()));
      if (flags & flag::end_stream) {
        s.ended = true;
        s.ended_at = Clock::now();
      }
      return true;
    }
    case type::headers: {
      auto fragment = unpad(payload, (flags & flag::priority) ? 5 : 0);
      if (!fragment) {
        fail("bad HEADERS padding");
        return false;
      }
      block_.assign(*fragment);
      block_end_stream_ = (flags & flag::end_stream) != 0;
      block_stream_ = stream;
      if (flags & flag::end_headers) return on_header_block(stream, block_end_stream_);
      return true;
    }
    case type::continuation: {
      if (block_stream_ == 0 || stream != block_stream_) {
        fail("unexpected CONTINUATION");
        return false;
      }
      block_.append(payload);
      if (flags & flag::end_headers) return on_header_block(stream, block_end_stream_);
      return true;
    }
    case type::rst_stream: {
      if (payload.size() != 4) {
        fail("bad RST_STREAM length");
        return false;
      }
      StreamResult& s = streams_[stream];
      s.reset = get_u32(payload, 0);
      s.ended_at = Clock::now();
      return true;
    }
    case type::settings: {
      if (flags & flag::ack) {
        settings_acked_ = true;
        return true;
      }
      got_settings_ = true;
      reply(frame(type::settings, flag::ack, 0, ""));
      return true;
    }
    case type::ping: {
      if (flags & flag::ack) return true;
      reply(ping_frame(payload, true));
      return true;
    }
    case type::goaway: {
      if (payload.size() < 8) {
        fail("bad GOAWAY length");
        return false;
      }
      GoAway g;
      g.last_stream = get_u32(payload, 0) & 0x7fffffff;
      g.error_code = get_u32(payload, 4);
      g.debug.assign(payload.substr(8));
      g.at = Clock::now();
      goaway_ = std::move(g);  // a later GOAWAY replaces an earlier one
      return true;
    }
    case type::push_promise:
      fail("PUSH_PROMISE although SETTINGS_ENABLE_PUSH is 0");
      return false;
    default:  // WINDOW_UPDATE, PRIORITY, unknown extensions: only recorded as events
      return true;
  }
}

bool Client::on_header_block(std::uint32_t stream, bool end_stream) {
  block_stream_ = 0;
  Fields fields;
  auto* in = reinterpret_cast<std::uint8_t*>(block_.data());
  std::size_t left = block_.size();
  for (;;) {
    nghttp2_nv nv;
    int inflate_flags = 0;
    const auto rv = nghttp2_hd_inflate_hd2(inflater_.get(), &nv, &inflate_flags, in, left, 1);
    if (rv < 0) {
      fail(std::string("HPACK decoding failed: ") + nghttp2_strerror(static_cast<int>(rv)));
      return false;
    }
    in += rv;
    left -= static_cast<std::size_t>(rv);
    if (inflate_flags & NGHTTP2_HD_INFLATE_EMIT)
      fields.push_back({std::string(reinterpret_cast<const char*>(nv.name), nv.namelen),
                        std::string(reinterpret_cast<const char*>(nv.value), nv.valuelen)});
    if (inflate_flags & NGHTTP2_HD_INFLATE_FINAL) {
      nghttp2_hd_inflate_end_headers(inflater_.get());
      break;
    }
    if ((inflate_flags & NGHTTP2_HD_INFLATE_EMIT) == 0 && left == 0) break;
  }
  block_.clear();

  StreamResult& s = streams_[stream];
  int status = 0;
  for (const auto& f : fields) {
    if (f.name == ":status") status = std::atoi(f.value.c_str());
  }
  if (s.status != 0) {
    s.trailers = std::move(fields);  // after the final head: a trailer section
  } else if (status >= 100 && status < 200) {
    s.interim.push_back(status);
  } else if (status != 0) {
    s.status = status;
    s.head_at = Clock::now();
    for (auto& f : fields)
      if (f.name.empty() || f.name[0] != ':') s.headers.push_back(std::move(f));
  } else {
    fail("response HEADERS without :status on stream " + std::to_string(stream));
    return false;
  }
  if (end_stream) {
    s.ended = true;
    s.ended_at = Clock::now();
  }
  return true;
}

bool Client::wait_stream(std::uint32_t stream, Ms timeout) {
  return wait_until([&] { return this->stream(stream).done(); }, timeout);
}

bool Client::wait_goaway(Ms timeout) {
  return wait_until([&] { return goaway_.has_value(); }, timeout);
}

bool Client::wait_closed(Ms timeout) {
  auto deadline = Clock::now() + timeout;
  while (!closed_) {
    auto left = std::chrono::duration_cast<Ms>(deadline - Clock::now());
    if (left.count() <= 0) break;
    if (poll(left) < 0 && !closed_) break;  // an error other than the close
  }
  return closed_;
}

const StreamResult& Client::stream(std::uint32_t id) const {
  static const StreamResult none;
  auto it = streams_.find(id);
  return it == streams_.end() ? none : it->second;
}

}  // namespace it::h2
