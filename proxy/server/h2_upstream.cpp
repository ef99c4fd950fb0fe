// HTTP/2 upstream connections and the streams the exchange code runs on them (h2_upstream.hpp).
#include "server/h2_upstream.hpp"

#include "http/message.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
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
constexpr std::size_t kQueueMark = 256 * 1024;  // request bytes queued per stream before a write waits
// The request head a stream parses is the session's own output (already within the downstream
// limits); these only guard the parser.
const http::Limits kOwnHeadLimits{64 * 1024, 1024 * 1024, 10000};

bool skipped_request_field(std::string_view name) {
  static constexpr std::string_view k[] = {"host", "connection", "keep-alive", "te", "transfer-encoding", "upgrade",
                                           "proxy-connection", "expect"};
  for (std::string_view f : k)
    if (http::iequals(name, f)) return true;
  return false;
}

void append_fields(std::span<const http::Header> fields, std::string& out) {
  for (const auto& f : fields) out.append(f.name).append(": ").append(f.value).append("\r\n");
}
}  // namespace

// ---------------------------------------------------------------------------------------------
// UpstreamH2Stream

UpstreamH2Stream::UpstreamH2Stream(std::shared_ptr<UpstreamH2Connection> conn, asio::io_context& ioc)
    : conn_(std::move(conn)), wake_(ioc.get_executor()) {}

bool UpstreamH2Stream::gone() const { return closed_ || !conn_ || conn_->closed(); }

UpstreamH2Stream::~UpstreamH2Stream() {
  if (!conn_) return;
  if (reserved_) {
    conn_->unreserve();  // handed out, never submitted
  } else if (id_ != 0 && !conn_->closed()) {
    // The exchange is over. A stream still open (the session gave up: client gone, deadline,
    // bad framing) is reset so the upstream stops; the connection forgets it either way.
    if (!closed_) conn_->codec().reset(id_, h2::error::cancel);
    conn_->forget(id_, this);
    conn_->wake();
  }
}

void UpstreamH2Stream::cancel() { wake_.interrupt(); }

void UpstreamH2Stream::detach() {
  if (!response_done_) closed_ = true;
  notify();
}

namespace {
void append_status_line(int status, std::string& out) {
  char line[32];
  const int n = std::snprintf(line, sizeof line, "HTTP/1.1 %03d ", status);
  out.append(line, static_cast<std::size_t>(n)).append(http::reason_phrase(status)).append("\r\n");
}
}  // namespace

void UpstreamH2Stream::on_informational(int status, std::span<const http::Header> headers) {
  append_status_line(status, out_);  // an interim head, as on HTTP/1.1
  append_fields(headers, out_);
  out_.append("\r\n");
  notify();
}

// The final head is kept until the session reads or more of the response arrives: a response
// that ends right after its head (gRPC's trailers-only answers: grpc-status in the head) must
// reach an HTTP/2 client as one HEADERS frame with END_STREAM, so it is rendered with
// content-length: 0 rather than as an empty chunked body. (Within one receive() the codec reports
// the head and its END_STREAM back to back, before the session can read.)
void UpstreamH2Stream::on_response(int status, std::span<const http::Header> headers) {
  head_status_ = status;
  head_fields_.clear();
  for (const auto& h : headers) head_fields_.append(h.name).append(": ").append(h.value).append("\r\n");
  has_length_ = std::any_of(headers.begin(), headers.end(), [](const http::Header& h) {
    return http::iequals(h.name, "content-length");
  });
  head_pending_ = true;
  got_head_ = true;
  notify();
}

// Renders the kept head: the upstream's content-length when it gave one, chunked otherwise (so
// trailers can follow), nothing for bodiless responses; `ended_empty`: the response is over with
// no body and no trailers.
void UpstreamH2Stream::render_head(bool ended_empty) {
  head_pending_ = false;
  append_status_line(head_status_, out_);
  out_.append(head_fields_);
  const bool bodiless = head_status_ == 204 || head_status_ == 304 || req_.method == http::Method::head;
  if (!has_length_ && !bodiless) {
    if (ended_empty) {
      out_.append("content-length: 0\r\n");
    } else {
      out_.append("transfer-encoding: chunked\r\n");
      chunked_out_ = true;
    }
  }
  out_.append("\r\n");
}

void UpstreamH2Stream::on_end_stream() {
  if (head_pending_) render_head(/*ended_empty=*/true);
  else if (chunked_out_ && !trailers_out_) out_.append("0\r\n\r\n");
  response_done_ = true;
  notify();
}

void UpstreamH2Stream::on_data(std::string_view data) {
  if (data.empty()) return;
  if (head_pending_) render_head(false);
  if (chunked_out_) {
    std::array<char, 20> hex;
    auto end = std::to_chars(hex.data(), hex.data() + hex.size(), data.size(), 16).ptr;
    out_.append(hex.data(), end).append("\r\n").append(data).append("\r\n");
  } else {
    out_.append(data);
  }
  unconsumed_ += data.size();
  notify();
}

void UpstreamH2Stream::on_trailers(std::span<const http::Header> trailers) {
  // Only a chunked body can carry them on HTTP/1.1 (with a content-length they are dropped).
  if (head_pending_) render_head(false);
  if (chunked_out_) {
    out_.append("0\r\n");
    append_fields(trailers, out_);
    out_.append("\r\n");
    trailers_out_ = true;
  }
  notify();  // on_end_stream follows
}

void UpstreamH2Stream::on_close(std::uint32_t error_code) {
  // After on_end_stream this is the normal end; before it, the response is cut short (the
  // session sees a reset connection: 502, or a retry when nothing was received).
  closed_ = true;
  close_error_ = error_code;
  notify();
}

awaitable<UpstreamH2Stream::Result> UpstreamH2Stream::read_some(asio::mutable_buffer b) {
  for (;;) {
    if (head_pending_) render_head(false);
    if (out_off_ < out_.size()) {
      const std::size_t n = std::min(b.size(), out_.size() - out_off_);
      if (n == 0) co_return Result{boost::system::error_code{}, std::size_t{0}};  // an empty buffer
      std::memcpy(b.data(), out_.data() + out_off_, n);
      out_off_ += n;
      if (out_off_ == out_.size()) {
        out_.clear();
        out_off_ = 0;
      }
      // What the session took reopens the windows (framing bytes are counted as data here: the
      // window reopens a few bytes early per chunk, never by more than one chunk's framing).
      const std::size_t c = std::min(n, unconsumed_);
      if (c && conn_) {
        unconsumed_ -= c;
        conn_->codec().consume(id_, c);
        conn_->wake();
      }
      co_return Result{boost::system::error_code{}, n};
    }
    if (response_done_) co_return Result{boost::system::error_code(asio::error::eof), std::size_t{0}};
    if (gone()) co_return Result{boost::system::error_code(asio::error::connection_reset), std::size_t{0}};
    if (!co_await wait()) co_return Result{boost::system::error_code(asio::error::operation_aborted), std::size_t{0}};
  }
}

bool UpstreamH2Stream::submit_head(std::string_view head) {
  http::ParseError perr{0, ""};
  req_.clear();
  if (http::parse_request(head, kOwnHeadLimits, req_, perr) != http::ParseResult::complete || req_.upgrade)
    return false;  // an upgrade (WebSocket) has no HTTP/2 form here
  const bool end = req_.body == http::BodyKind::none;
  reserved_ = false;  // submit() takes the reservation over, whatever it returns
  const auto id = conn_->submit(this, req_, end);
  if (!id) return false;
  id_ = *id;
  if (end) in_ = In::done;
  else if (req_.body == http::BodyKind::content_length) {
    in_ = In::length;
    remaining_ = req_.content_length;
  } else {
    in_ = In::chunked;
    chunks_.reset();
  }
  return true;
}

bool UpstreamH2Stream::body(std::string_view bytes) {
  auto& codec = conn_->codec();
  switch (in_) {
    case In::length: {
      if (bytes.size() > remaining_) return false;
      remaining_ -= bytes.size();
      if (remaining_ == 0) in_ = In::done;
      return codec.submit_data(id_, bytes, remaining_ == 0);
    }
    case In::chunked: {
      const auto r = chunks_.feed(bytes, [&](std::string_view piece) { return codec.submit_data(id_, piece, false); });
      if (r != http::ChunkedFeed::Result::done) return r == http::ChunkedFeed::Result::more;
      in_ = In::done;
      return codec.submit_data(id_, {}, true);
    }
    default:
      return bytes.empty();
  }
}

awaitable<UpstreamH2Stream::Result> UpstreamH2Stream::write(std::span<const asio::const_buffer> buffers) {
  std::size_t total = 0;
  const auto reset = boost::system::error_code(asio::error::connection_reset);
  for (const auto& buf : buffers) {
    std::string_view bytes(static_cast<const char*>(buf.data()), buf.size());
    if (gone()) co_return Result{reset, total};
    if (in_ == In::head) {
      const std::size_t before = head_.size();
      head_.append(bytes);
      const auto end = head_.find("\r\n\r\n", before >= 3 ? before - 3 : 0);
      if (end == std::string::npos) {
        total += bytes.size();
        continue;
      }
      const std::size_t head_len = end + 4;
      if (!submit_head(std::string_view(head_).substr(0, head_len))) co_return Result{reset, total};
      bytes.remove_prefix(head_len - before);
      total += head_len - before;
    }
    if (!bytes.empty() && !body(bytes)) co_return Result{reset, total};
    total += bytes.size();
  }
  if (conn_) conn_->wake();
  while (!gone() && id_ && conn_->codec().queued(id_) >= kQueueMark)
    if (!co_await wait()) co_return Result{boost::system::error_code(asio::error::operation_aborted), total};
  if (gone() && !response_done_) co_return Result{reset, total};
  co_return Result{boost::system::error_code{}, total};
}

// ---------------------------------------------------------------------------------------------
// UpstreamH2Connection

UpstreamH2Connection::UpstreamH2Connection(asio::io_context& ioc, upstream::ConnectionPtr conn, bool tls,
                                           std::uint32_t max_streams, core::Duration idle_timeout)
    : ioc_(ioc),
      conn_(std::move(conn)),
      tls_(tls),
      max_streams_(max_streams),
      idle_timeout_(idle_timeout),
      codec_(h2::ClientSettings{}, *this),
      wake_(ioc),
      idle_since_(Clock::now()) {}

UpstreamH2Connection::~UpstreamH2Connection() {
  for (auto& [id, s] : streams_) s->detach();
}

void UpstreamH2Connection::start() {
  auto self = shared_from_this();
  reading_ = writing_ = true;
  asio::co_spawn(wake_.get_executor(), [self]() -> awaitable<void> { co_await self->read_loop(); }, asio::detached);
  asio::co_spawn(wake_.get_executor(), [self]() -> awaitable<void> { co_await self->write_loop(); }, asio::detached);
}

bool UpstreamH2Connection::has_room() const {
  return !closed_ && codec_.can_open() && active() < max_streams_ &&
         codec_.open_streams() + reserved_ < codec_.peer_max_concurrent_streams();
}

std::unique_ptr<UpstreamH2Stream> UpstreamH2Connection::open_stream() {
  ++reserved_;
  return std::make_unique<UpstreamH2Stream>(shared_from_this(), ioc_);
}

std::optional<std::uint32_t> UpstreamH2Connection::submit(UpstreamH2Stream* s, const http::RequestHead& req,
                                                          bool end_stream) {
  --reserved_;
  if (closed_) return std::nullopt;
  fields_.clear();
  for (const auto& h : req.headers)
    if (!skipped_request_field(h.name)) fields_.push_back(h);
  fields_.push_back({"te", "trailers"});  // gRPC servers require it; trailers are relayed
  const auto id = codec_.submit_request(req.method_text, tls_ ? "https" : "http", req.host, req.target, fields_,
                                        end_stream);
  if (!id) return std::nullopt;
  streams_[*id] = s;
  wake();
  return id;
}

void UpstreamH2Connection::forget(std::uint32_t id, UpstreamH2Stream* s) {
  auto it = streams_.find(id);
  if (it != streams_.end() && it->second == s) streams_.erase(it);
  if (streams_.empty()) idle_since_ = Clock::now();
}

UpstreamH2Stream* UpstreamH2Connection::find(std::uint32_t id) const {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second;
}

void UpstreamH2Connection::on_informational(std::uint32_t stream, int status, std::span<const http::Header> headers) {
  if (auto* s = find(stream)) s->on_informational(status, headers);
}

void UpstreamH2Connection::on_response(std::uint32_t stream, int status, std::span<const http::Header> headers) {
  if (auto* s = find(stream)) s->on_response(status, headers);
}

void UpstreamH2Connection::on_end_stream(std::uint32_t stream) {
  if (auto* s = find(stream)) s->on_end_stream();
}

void UpstreamH2Connection::on_data(std::uint32_t stream, std::string_view data) {
  if (auto* s = find(stream)) s->on_data(data);
  else codec_.consume(stream, data.size());
}

void UpstreamH2Connection::on_trailers(std::uint32_t stream, std::span<const http::Header> trailers) {
  if (auto* s = find(stream)) s->on_trailers(trailers);
}

void UpstreamH2Connection::on_stream_close(std::uint32_t stream, std::uint32_t error_code) {
  if (auto* s = find(stream)) s->on_close(error_code);
}

void UpstreamH2Connection::on_writable(std::uint32_t stream) {
  if (auto* s = find(stream)) s->on_writable();
}

void UpstreamH2Connection::stop() {
  if (closed_) return;
  closed_ = true;
  conn_->cancel();
  wake();
  // Streams waiting on this connection learn it is gone.
  for (auto& [id, s] : streams_) s->detach();
  streams_.clear();
}

void UpstreamH2Connection::close() {
  codec_.goaway(false);
  stop();
}

awaitable<void> UpstreamH2Connection::read_loop() {
  auto buf = std::make_unique<char[]>(kReadBuffer);
  // Bytes the TLS handshake (or connect) left in the connection's input buffer come first.
  bool ok = true;
  if (!conn_->input.empty()) {
    ok = codec_.receive(conn_->input.data());
    conn_->input.consume(conn_->input.size());
  }
  while (ok && !closed_) {
    auto [ec, n] = co_await conn_->read_some(asio::buffer(buf.get(), kReadBuffer));
    if (ec) break;
    ok = codec_.receive(std::string_view(buf.get(), n));
    wake();
  }
  reading_ = false;
  if (ok) {
    // EOF or a read error: the transport is gone. Streams still open learn it (refused_stream
    // for those never sent: the session may retry them elsewhere).
    if (!closed_) codec_.connection_lost(h2::error::cancel);
    stop();
  } else {
    // A connection error the codec found: the writer sends its GOAWAY (produce() reports the
    // streams), then stops the connection once the codec is done.
    wake();
  }
}

awaitable<void> UpstreamH2Connection::write_loop() {
  for (;;) {
    out_.clear();
    while (out_.size() < kWriteBatch && codec_.produce(out_, kWriteBatch - out_.size()) > 0) {
    }
    if (!out_.empty()) {
      auto [ec, n] = co_await conn_->write(asio::const_buffer(out_.data(), out_.size()));
      if (ec) break;
      continue;
    }
    if (closed_ || codec_.done()) break;
    wake_.expires_at(Clock::time_point::max());
    co_await wake_.async_wait(nothrow);
  }
  writing_ = false;
  stop();
}

// ---------------------------------------------------------------------------------------------
// UpstreamH2Pool

UpstreamH2Pool::~UpstreamH2Pool() { clear(); }

upstream::ConnectionPtr UpstreamH2Pool::wrap(std::unique_ptr<UpstreamH2Stream> s, bool reused, core::BlockPool* blocks) {
  auto c = std::make_unique<upstream::Connection>(asio::ip::tcp::socket(ioc_), blocks);
  c->stream = std::move(s);
  c->reused = reused;
  c->created = Clock::now();
  c->input.reserve(16 * 1024);
  return c;
}

upstream::ConnectionPtr UpstreamH2Pool::open_stream(const std::string& key, core::BlockPool* blocks) {
  auto it = by_key_.find(key);
  if (it == by_key_.end()) return nullptr;
  auto& conns = it->second;
  std::erase_if(conns, [](const auto& c) { return c->closed(); });
  // The busiest connection with room: streams concentrate, idle connections can expire.
  UpstreamH2Connection* best = nullptr;
  for (const auto& c : conns)
    if (c->has_room() && (!best || c->active() > best->active())) best = c.get();
  if (!best) return nullptr;
  return wrap(best->open_stream(), /*reused=*/true, blocks);
}

upstream::ConnectionPtr UpstreamH2Pool::adopt(upstream::ConnectionPtr conn, const std::string& key, bool tls,
                                              std::uint32_t max_streams, core::Duration idle_timeout,
                                              core::BlockPool* blocks) {
  auto c = std::make_shared<UpstreamH2Connection>(ioc_, std::move(conn), tls, max_streams, idle_timeout);
  c->start();
  by_key_[key].push_back(c);
  return wrap(c->open_stream(), /*reused=*/false, blocks);
}

UpstreamH2Pool::Connecting UpstreamH2Pool::begin_connecting(const std::string& key, std::uint32_t streams,
                                                             Clock::time_point deadline) {
  auto& p = connecting_[key];
  if (!p) p = std::make_shared<Pending>(ioc_);
  p->done.expires_at(deadline);
  p->room = streams > 1 ? streams - 1 : 0;  // the connecting exchange takes the first stream
  return Connecting(this, key);
}

void UpstreamH2Pool::end_connecting(const std::string& key) {
  auto it = connecting_.find(key);
  if (it == connecting_.end()) return;
  it->second->done.cancel();  // the waiters look again
  connecting_.erase(it);
}

bool UpstreamH2Pool::join_connecting(const std::string& key) {
  auto it = connecting_.find(key);
  if (it == connecting_.end() || it->second->room == 0) return false;
  --it->second->room;
  return true;
}

awaitable<void> UpstreamH2Pool::wait_connecting(const std::string& key) {
  auto it = connecting_.find(key);
  if (it == connecting_.end()) co_return;
  std::shared_ptr<Pending> p = it->second;  // the entry may go while this waits
  co_await p->done.async_wait(nothrow);
}

void UpstreamH2Pool::expire(Clock::time_point now, bool draining) {
  for (auto it = by_key_.begin(); it != by_key_.end();) {
    auto& conns = it->second;
    for (auto& c : conns)
      if (!c->closed() && c->active() == 0 && (draining || now - c->idle_since() >= c->idle_timeout())) c->close();
    std::erase_if(conns, [](const auto& c) { return c->closed(); });
    it = conns.empty() ? by_key_.erase(it) : std::next(it);
  }
}

void UpstreamH2Pool::clear() {
  for (auto& [key, conns] : by_key_)
    for (auto& c : conns) c->close();
  by_key_.clear();
}

std::size_t UpstreamH2Pool::connection_count() const {
  std::size_t n = 0;
  for (const auto& [key, conns] : by_key_) n += conns.size();
  return n;
}

}  // namespace rampart::server
