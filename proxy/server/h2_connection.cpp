// HTTP/2 downstream connections and the pipes that carry their streams through the HTTP/1.1
// exchange code (see h2_connection.hpp).
#include "server/h2_connection.hpp"

#include "server/session.hpp"
#include "server/worker.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>

namespace rampart::server {

namespace asio = boost::asio;
using asio::awaitable;
using Clock = upstream::Clock;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

namespace {
constexpr std::size_t kReadBuffer = 16 * 1024;
constexpr std::size_t kWriteBatch = 64 * 1024;
// The response head the pipe reads is the stream session's own output, already bounded by the
// upstream head limits; this only guards the pipe.
constexpr std::size_t kMaxOwnHead = 1024 * 1024;
}  // namespace

h2::Settings http2_settings(const config::Http2Spec& spec) {
  h2::Settings s;
  s.max_concurrent_streams = spec.max_concurrent_streams;
  s.initial_window_size = spec.initial_window_size;
  s.connection_window_size = spec.connection_window_size;
  s.max_header_list_size = spec.max_header_list_size;
  s.max_resets_per_window = spec.max_resets_per_second;
  s.max_streams_per_window = spec.max_streams_per_second;
  s.window = std::chrono::seconds(1);
  return s;
}

// ---------------------------------------------------------------------------------------------
// StreamPipe

StreamPipe::StreamPipe(H2Connection& conn, std::uint32_t id, bool chunked, bool ended, bool head_request,
                       const asio::any_io_executor& ex)
    : conn_(&conn), id_(id), wake_(ex), chunked_(chunked), ended_(ended), head_request_(head_request) {
  head_.reserve(512);
  resp_.headers.reserve(16);
}

void StreamPipe::reopen(std::uint32_t id, bool chunked, bool ended, bool head_request) {
  id_ = id;
  wake_.reset();
  closed_ = false;
  chunked_ = chunked;
  ended_ = ended;
  last_chunk_sent_ = false;
  data_.clear();
  data_off_ = chunk_left_ = frame_off_ = 0;
  frame_.clear();
  head_request_ = head_request;
  out_ = Out::head;
  head_.clear();
  remaining_ = 0;
  chunks_.reset();
  trailers_.clear();
  resp_.clear();
}

void StreamPipe::interrupt() { wake_.interrupt(); }  // a wait on something else is not ended

void StreamPipe::on_data(std::string_view data) {
  // What the session already read goes (at once when it is all of it, otherwise once it is the
  // larger part): the buffer stays near the stream window however long the body.
  if (data_off_ == data_.size()) {
    data_.clear();
    data_off_ = 0;
  } else if (data_off_ >= 16 * 1024 && data_off_ * 2 >= data_.size()) {
    data_.erase(0, data_off_);
    data_off_ = 0;
  }
  data_.append(data);
  notify();
}

void StreamPipe::on_end_stream() {
  ended_ = true;
  notify();
}

void StreamPipe::on_close(std::uint32_t) {
  closed_ = true;
  notify();
}

void StreamPipe::detach() {
  conn_ = nullptr;
  closed_ = true;
  notify();
}

awaitable<StreamPipe::Result> StreamPipe::read_some(asio::mutable_buffer b) {
  char* dst = static_cast<char*>(b.data());
  const std::size_t cap = b.size();
  for (;;) {
    if (cap == 0) co_return Result{boost::system::error_code{}, std::size_t{0}};
    std::size_t n = 0;
    if (frame_off_ < frame_.size()) {  // framing first
      n = std::min(cap, frame_.size() - frame_off_);
      std::memcpy(dst, frame_.data() + frame_off_, n);
      frame_off_ += n;
      co_return Result{boost::system::error_code{}, n};
    }
    const std::size_t avail = data_.size() - data_off_;
    if (chunk_left_ > 0 && avail > 0) {
      if (gone()) co_return Result{boost::system::error_code(asio::error::connection_reset), std::size_t{0}};
      n = std::min({cap, chunk_left_, avail});
      std::memcpy(dst, data_.data() + data_off_, n);
      data_off_ += n;
      chunk_left_ -= n;
      if (chunk_left_ == 0 && chunked_) {
        frame_.assign("\r\n");
        frame_off_ = 0;
      }
      // The bytes left the pipe: the client may send that much more.
      conn_->codec().consume(id_, n);
      conn_->wake();
      co_return Result{boost::system::error_code{}, n};
    }
    if (avail > 0) {  // a new chunk of what arrived
      chunk_left_ = avail;
      if (chunked_) {
        std::array<char, 20> hex;
        auto end = std::to_chars(hex.data(), hex.data() + hex.size(), avail, 16).ptr;
        frame_.assign(hex.data(), end).append("\r\n");
        frame_off_ = 0;
      }
      continue;
    }
    if (ended_) {
      if (chunked_ && !last_chunk_sent_) {
        last_chunk_sent_ = true;
        frame_.assign("0\r\n\r\n");
        frame_off_ = 0;
        continue;
      }
      co_return Result{boost::system::error_code(asio::error::eof), std::size_t{0}};
    }
    if (gone()) co_return Result{boost::system::error_code(asio::error::connection_reset), std::size_t{0}};
    if (!co_await wait()) co_return Result{boost::system::error_code(asio::error::operation_aborted), std::size_t{0}};
  }
}

// Reads a response head the stream session wrote ("HTTP/1.1 NNN reason", fields, blank line).
// It is our own serializer's output, built from heads the HTTP/1.1 parser already validated, so
// this only splits it; anything not shaped like that output is refused. The framing fields
// (content-length, transfer-encoding) set the body kind; connection, keep-alive and
// transfer-encoding are left out: they mean nothing on HTTP/2.
bool StreamPipe::read_own_head(std::string_view head) {
  resp_.clear();
  if (head.size() < 16 || !head.starts_with("HTTP/1.1 ") || !head.ends_with("\r\n\r\n")) return false;
  int status = 0;
  for (std::size_t i = 9; i < 12; ++i) {
    if (head[i] < '0' || head[i] > '9') return false;
    status = status * 10 + (head[i] - '0');
  }
  resp_.status = status;
  std::size_t pos = head.find("\r\n", 12);
  bool chunked = false, has_length = false;
  while (pos + 2 < head.size() - 2) {
    const std::size_t start = pos + 2;
    const std::size_t end = head.find("\r\n", start);
    const std::string_view line = head.substr(start, end - start);
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    const std::string_view name = line.substr(0, colon);
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    pos = end;
    if (name.size() == 14 && http::iequals(name, "content-length")) {
      std::uint64_t n = 0;
      const auto r = std::from_chars(value.data(), value.data() + value.size(), n);
      if (r.ec != std::errc{} || r.ptr != value.data() + value.size()) return false;
      resp_.content_length = n;
      has_length = true;
    } else if (name.size() == 17 && http::iequals(name, "transfer-encoding")) {
      chunked = true;  // the session only ever writes "chunked"
      continue;
    } else if (name.size() == 10 && (http::iequals(name, "connection") || http::iequals(name, "keep-alive"))) {
      continue;
    }
    resp_.headers.push_back({name, value});
  }
  if (head_request_ || status < 200 || status == 204 || status == 304) resp_.body = http::BodyKind::none;
  else if (chunked) resp_.body = http::BodyKind::chunked;
  else if (has_length) resp_.body = http::BodyKind::content_length;
  else resp_.body = http::BodyKind::until_close;
  return true;
}

bool StreamPipe::on_head(std::string_view head) {
  if (!read_own_head(head)) return false;
  auto& codec = conn_->codec();
  if (resp_.status < 200) {  // interim (100 Continue, 103 Early Hints): 101 is never asked for
    if (resp_.status == 101) return false;
    return codec.submit_response(id_, resp_.status, resp_.headers, false);
  }
  const bool no_body = resp_.body == http::BodyKind::none ||
                       (resp_.body == http::BodyKind::content_length && resp_.content_length == 0);
  if (!codec.submit_response(id_, resp_.status, resp_.headers, no_body)) return false;
  if (no_body) {
    out_ = Out::done;
  } else if (resp_.body == http::BodyKind::content_length) {
    out_ = Out::length;
    remaining_ = resp_.content_length;
  } else if (resp_.body == http::BodyKind::chunked) {
    out_ = Out::chunked;
    chunks_.reset();
    trailers_.clear();
    chunks_.decoder().keep_trailers(&trailers_);
  } else {
    out_ = Out::until_close;
  }
  return true;
}

bool StreamPipe::body(std::string_view bytes) {
  auto& codec = conn_->codec();
  switch (out_) {
    case Out::length: {
      if (bytes.size() > remaining_) return false;
      remaining_ -= bytes.size();
      if (remaining_ == 0) out_ = Out::done;
      return codec.submit_data(id_, bytes, remaining_ == 0);
    }
    case Out::chunked: {
      const auto r = chunks_.feed(bytes, [&](std::string_view piece) { return codec.submit_data(id_, piece, false); });
      if (r != http::ChunkedFeed::Result::done) return r == http::ChunkedFeed::Result::more;
      out_ = Out::done;
      return trailers_.empty() ? codec.submit_data(id_, {}, true) : submit_trailers();
    }
    case Out::until_close:
      return bytes.empty() || codec.submit_data(id_, bytes, false);
    default:
      return bytes.empty();
  }
}

// The trailer section the session relayed ("name: value\r\n" lines, already validated and
// stripped of fields a trailer must not carry) ends the stream as an HTTP/2 trailer block.
bool StreamPipe::submit_trailers() {
  std::vector<http::Header>& fields = resp_.headers;  // the head was submitted: its storage is free
  fields.clear();
  std::string_view rest = trailers_;
  while (!rest.empty()) {
    const std::size_t eol = rest.find("\r\n");
    const std::string_view line = rest.substr(0, eol);
    rest.remove_prefix(eol == std::string_view::npos ? rest.size() : eol + 2);
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return false;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    fields.push_back({line.substr(0, colon), value});
  }
  return conn_->codec().submit_trailers(id_, fields);
}

bool StreamPipe::feed(std::string_view bytes) {
  if (gone() || out_ == Out::failed) return false;
  while (!bytes.empty()) {
    if (out_ == Out::head) {
      const std::size_t before = head_.size();
      head_.append(bytes);
      const auto end = head_.find("\r\n\r\n", before >= 3 ? before - 3 : 0);
      if (end == std::string::npos) {
        if (head_.size() > kMaxOwnHead) break;  // fails below
        return true;
      }
      const std::size_t head_len = end + 4;
      const std::size_t rest_from = head_len - before;  // bytes of this write after the head
      if (!on_head(std::string_view(head_).substr(0, head_len))) break;
      head_.clear();
      bytes.remove_prefix(rest_from);
      continue;
    }
    if (!body(bytes)) break;
    return true;
  }
  if (bytes.empty() && out_ != Out::failed) return true;
  out_ = Out::failed;
  return false;
}

awaitable<boost::system::error_code> StreamPipe::drain() {
  if (gone()) co_return out_ == Out::done ? boost::system::error_code{} : asio::error::connection_reset;
  conn_->wake();
  const std::size_t mark = h2::Settings{}.max_queued_per_stream;
  while (!gone() && conn_->codec().queued(id_) >= mark)
    if (!co_await wait()) co_return asio::error::operation_aborted;
  if (gone() && out_ != Out::done) co_return asio::error::connection_reset;
  co_return boost::system::error_code{};
}

void StreamPipe::finish() {
  if (gone()) return;
  auto& codec = conn_->codec();
  if (out_ == Out::until_close) {
    codec.submit_data(id_, {}, true);  // the body ended with the session (never for HTTP/1.1 framing)
  } else if (out_ != Out::done) {
    codec.reset(id_, h2::error::internal_error);  // the response is incomplete: the client must know
  } else if (!ended_) {
    codec.reset_after_response(id_);  // answered before the body ended: the client stops sending it
  }
  conn_->wake();
}

// ---------------------------------------------------------------------------------------------
// H2Connection

H2Connection::H2Connection(Session& owner, const h2::Settings& settings)
    : owner_(owner), codec_(settings, *this), wake_(owner.worker_.context()) {}

H2Connection::~H2Connection() {
  for (auto& [id, pipe] : streams_) pipe->detach();
}

void H2Connection::stop() {
  closing_ = true;
  boost::system::error_code ec;
  owner_.client_.cancel(ec);
  wake();
}

void H2Connection::goaway_once() {
  if (goaway_sent_) return;
  goaway_sent_ = true;
  codec_.goaway(true);
  wake();
}

void H2Connection::on_tick(Clock::time_point now) {
  const auto& snap = *owner_.worker_.generation()->snap;
  const auto& defaults = snap.defaults;
  // Draining, or a reload removed this connection's listener: no new streams, the open ones finish.
  if (owner_.worker_.draining() || !snap.listener(owner_.listener_)) goaway_once();
  if (codec_.open_streams() == 0 && streams_.empty()) {
    if (!idle_since_) idle_since_ = now;
    if (now - *idle_since_ >= defaults.keepalive_timeout) goaway_once();
    // A client that ignores our GOAWAY (or never sent its preface) is closed a moment later.
    if (goaway_sent_ && now - *idle_since_ >= defaults.keepalive_timeout + std::chrono::seconds(1)) stop();
  } else {
    idle_since_.reset();
  }
  if (write_since_ && now - *write_since_ >= defaults.send_timeout) stop();  // the client stopped reading
}

void H2Connection::abort() {
  codec_.goaway(false);
  stop();
}

awaitable<void> H2Connection::run(std::string first) {
  using namespace asio::experimental::awaitable_operators;
  idle_since_ = Clock::now();
  co_await (read_loop(std::move(first)) && write_loop());
}

awaitable<void> H2Connection::read_loop(std::string first) {
  auto& worker = owner_.worker_;
  bool ok = first.empty() || codec_.receive(first, Clock::now());
  first.clear();
  first.shrink_to_fit();
  wake();
  std::unique_ptr<char[]> buf;
  if (ok) buf = std::make_unique<char[]>(kReadBuffer);
  while (ok && !closing_) {
    auto [ec, n] = co_await owner_.client_read_some(asio::buffer(buf.get(), kReadBuffer));
    if (ec) break;
    ok = codec_.receive(std::string_view(buf.get(), n), Clock::now());
    wake();
  }
  if (!ok && codec_.abuse() != h2::Abuse::none)
    worker.metrics().http2_abusive(owner_.listener_metrics_, static_cast<std::size_t>(codec_.abuse()) - 1);
  closing_ = true;
  wake();
}

awaitable<void> H2Connection::write_loop() {
  for (;;) {
    out_.clear();
    while (out_.size() < kWriteBatch && codec_.produce(out_, kWriteBatch - out_.size()) > 0) {
    }
    if (!out_.empty()) {
      write_since_ = Clock::now();
      auto [ec, n] = co_await owner_.client_write(asio::const_buffer(out_.data(), out_.size()));
      write_since_.reset();
      if (ec) break;
      continue;
    }
    if (closing_ || codec_.done()) break;
    wake_.expires_at(Clock::time_point::max());
    co_await wake_.async_wait(nothrow);
  }
  stop();  // the reader too
}

void H2Connection::on_request(h2::Request&& req) {
  // The request in HTTP/1.1 framing for the stream session's parser (which checks it again).
  std::string& h = head_;
  h.clear();
  h.append(req.method).append(" ").append(req.path).append(" HTTP/1.1\r\nhost: ").append(req.authority).append("\r\n");
  for (const auto& f : req.headers) h.append(f.name).append(": ").append(f.value).append("\r\n");
  const bool chunked = !req.end_stream && !req.content_length;
  if (chunked) h.append("transfer-encoding: chunked\r\n");
  h.append("\r\n");
  const bool head_request = req.method == "HEAD";
  std::shared_ptr<StreamPipe> pipe;
  if (!spare_pipes_.empty()) {
    pipe = std::move(spare_pipes_.back());
    spare_pipes_.pop_back();
    pipe->reopen(req.stream, chunked, req.end_stream, head_request);
  } else {
    pipe = std::make_shared<StreamPipe>(*this, req.stream, chunked, req.end_stream, head_request,
                                        owner_.worker_.context().get_executor());
  }
  streams_[req.stream] = pipe;
  idle_since_.reset();
  std::unique_ptr<Session> s(new Session(owner_, std::move(pipe), h));
  asio::co_spawn(owner_.worker_.context(), Session::run_stream(std::move(s)), asio::detached);
}

void H2Connection::on_data(std::uint32_t stream, std::string_view data) {
  if (auto it = streams_.find(stream); it != streams_.end()) it->second->on_data(data);
  else codec_.consume(stream, data.size());
}

void H2Connection::on_end_stream(std::uint32_t stream) {
  if (auto it = streams_.find(stream); it != streams_.end()) it->second->on_end_stream();
}

void H2Connection::on_stream_close(std::uint32_t stream, std::uint32_t error_code) {
  auto it = streams_.find(stream);
  if (it == streams_.end()) return;
  std::shared_ptr<StreamPipe> pipe = std::move(it->second);
  streams_.erase(it);
  pipe->on_close(error_code);
  // Its session is gone too (the usual order): keep the pipe, buffers and all, for a new stream.
  if (pipe.use_count() == 1 && spare_pipes_.size() < 16) spare_pipes_.push_back(std::move(pipe));
}

void H2Connection::on_writable(std::uint32_t stream) {
  if (auto it = streams_.find(stream); it != streams_.end()) it->second->on_writable();
}

}  // namespace rampart::server
