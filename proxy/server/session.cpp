// The data path: one coroutine per downstream connection that reads like the story of a request.
//
//   read request head -> match route -> local answer (redirect, direct response, error)
//                                    -> or proxy: pick endpoint -> pooled or new connection ->
//                                       send head (+ body) -> read response head -> write it ->
//                                       stream the body -> return the connection to the pool
//
// Every wait has a deadline (Session::Phase); the worker's ticker cancels I/O whose deadline
// passed, and the code below turns that into the status the phase calls for.
#include "server/session.hpp"

#include "policy/compression.hpp"

#include "h2/server.hpp"
#include "http/forward.hpp"
#include "observe/flags.hpp"
#include "server/h2_connection.hpp"
#include "server/worker.hpp"
#include "upstream/outlier.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <array>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <span>

namespace rampart::server {

namespace asio = boost::asio;
using asio::awaitable;
using tcp = asio::ip::tcp;
using Clock = upstream::Clock;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

namespace {

constexpr std::size_t kHeadBuffer = core::BlockPool::kTiny;  // most request heads fit; grows when not
constexpr std::size_t kInitialBuffer = 16 * 1024;
constexpr std::size_t kStreamBuffer = 64 * 1024;
constexpr auto kParkAfter = std::chrono::milliseconds(100);  // idle this long: give the buffer back
constexpr auto kDrainIdleGrace = std::chrono::milliseconds(250);  // draining: idle this long, closed
constexpr std::size_t kBodyProgressBytes = 8 * 1024;  // body reads must deliver this much per client_body_timeout
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr std::string_view kLastChunk = "0\r\n\r\n";

observe::MethodClass method_class(http::Method m) {
  switch (m) {
    case http::Method::get: return observe::MethodClass::get;
    case http::Method::head: return observe::MethodClass::head;
    case http::Method::post: return observe::MethodClass::post;
    case http::Method::put: return observe::MethodClass::put;
    case http::Method::del: return observe::MethodClass::del;
    case http::Method::patch: return observe::MethodClass::patch;
    case http::Method::options: return observe::MethodClass::options;
    default: return observe::MethodClass::other;
  }
}

// Appends the set/add header operations of a route as header lines (for local responses).
void append_header_lines(const config::HeaderOps& ops, std::string& out) {
  for (const auto& [n, v] : ops.set) out.append(n).append(": ").append(v).append("\r\n");
  for (const auto& [n, v] : ops.add) out.append(n).append(": ").append(v).append("\r\n");
}

// A request id received from a trusted hop is kept if it looks like one.
bool acceptable_request_id(std::string_view v) {
  if (v.empty() || v.size() > 200) return false;
  for (unsigned char c : v)
    if (c <= 0x20 || c >= 0x7f) return false;
  return true;
}

// True if an idle pooled connection was closed by the upstream (or has unexpected bytes).
bool is_stale(tcp::socket& s) {
  char c;
  ssize_t n = ::recv(s.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return !(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
}

// Builds a gather list that frames body pieces as chunks ("<hex>\r\n" data "\r\n").
// What the response writer needs to know of the exchange (keep-alive on; the caller adjusts).
http::ResponseInfo interim_info(std::string_view request_id, bool head, bool upgrade) {
  http::ResponseInfo info;
  info.request_id = request_id;
  info.keep_alive = true;
  info.head_request = head;
  info.upgrade = upgrade;
  return info;
}

class ChunkFramer {
 public:
  static constexpr std::size_t kMaxPieces = 64;
  bool full() const { return pieces_ == kMaxPieces; }
  bool empty() const { return count_ == 0; }
  void add_raw(std::string_view bytes) {
    if (!bytes.empty()) bufs_[count_++] = asio::buffer(bytes.data(), bytes.size());
  }
  void add_chunk(std::string_view data) {
    int n = std::snprintf(sizes_[pieces_].data(), sizes_[pieces_].size(), "%zx\r\n", data.size());
    bufs_[count_++] = asio::buffer(sizes_[pieces_].data(), static_cast<std::size_t>(n));
    bufs_[count_++] = asio::buffer(data.data(), data.size());
    bufs_[count_++] = asio::buffer("\r\n", 2);
    ++pieces_;
  }
  std::span<const asio::const_buffer> buffers() const { return {bufs_.data(), count_}; }
  void clear() { count_ = pieces_ = 0; }

 private:
  std::array<asio::const_buffer, kMaxPieces * 3 + 2> bufs_{};
  std::array<std::array<char, 20>, kMaxPieces> sizes_{};
  std::size_t count_ = 0, pieces_ = 0;
};

}  // namespace

struct Session::Exchange {
  GenerationRef gen;
  const snapshot::Snapshot& snap() const { return *gen->snap; }
  const route::Route* route = nullptr;
  bool head = false;               // HEAD request: the response has no body
  int version_minor = 1;           // of the request
  bool keep_alive = true;          // the downstream connection may carry another request after this one
  bool request_body_done = false;  // the request body was fully read from the client
  bool response_started = false;   // response bytes reached the client: errors can only close
  Clock::time_point header_deadline{};
  Clock::time_point body_deadline{};
  std::uint64_t body_progress = 0;
  // What metrics and the access log record about the exchange.
  Clock::time_point start{};
  std::chrono::system_clock::time_point wall{};
  std::uint64_t bytes_received = 0;  // head and body bytes read from the client
  std::uint64_t bytes_sent = 0;      // bytes written to the client
  int status = 0;                    // status of the final response sent (0: none)
  const snapshot::UpstreamGroup* group = nullptr;
  const snapshot::Endpoint* endpoint = nullptr;  // the last endpoint tried
  int upstream_status = 0;
  Clock::time_point upstream_start{}, upstream_end{};
  observe::FlagSet flags;
  const policy::Chain* policies = nullptr;  // the route's (or, without a route, its server's) chain
  bool preflight = false;                   // a CORS preflight answered at the edge
  int preflight_status = 0;                 // a request policy's answer at the edge (0: none)
  std::string_view error_headers;  // extra header lines of a local error response ("Name: value\r\n")
  std::string error_detail;        // a second line for a local error response's body
  bool log = false;  // this exchange goes to the access log (route setting and sampling)
};

Session::Session(Worker& worker, tcp::socket socket, const tcp::endpoint& peer, std::string listener,
                 std::uint32_t listener_metrics, std::string scheme, SSL* ssl)
    : worker_(worker),
      client_(std::move(socket)),
      tls_(ssl ? std::make_unique<tls::Stream>(client_, ssl, &worker.blocks()) : nullptr),
      listener_(std::move(listener)),
      listener_metrics_(listener_metrics),
      scheme_(std::move(scheme)),
      in_(&worker.blocks()) {
  boost::system::error_code ec;
  const auto addr = peer.address();
  if (addr.is_v4() || addr.to_v6().is_v4_mapped()) {
    // The common case, formatted here: inet_ntop goes through sprintf (~1,700 instructions).
    const auto v4 = addr.is_v4() ? addr.to_v4() : asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6());
    const std::uint32_t u = v4.to_uint();
    client_ip_.clear();
    for (int shift = 24; shift >= 0; shift -= 8) {
      char digits[4];
      auto end = std::to_chars(digits, digits + sizeof digits, (u >> shift) & 0xff).ptr;
      client_ip_.append(digits, end);
      if (shift) client_ip_.push_back('.');
    }
    client_addr_ = core::ip_from_v4(u);
  } else {
    client_ip_ = addr.to_string();
    client_addr_ = core::parse_ip(client_ip_);
  }
  client_port_ = peer.port();
  const auto& snap = *worker_.generation()->snap;
  if (client_addr_) client_trusted_ = snap.is_trusted(*client_addr_);
  if (const config::ListenerSpec* ls = snap.listener(listener_)) h2c_ = ls->h2c;
  worker_.metrics().connection_opened(listener_metrics_);
  if (tls_) handshake_gen_ = worker_.generation();
  client_.set_option(tcp::no_delay(true), ec);
  registration_ = worker_.enlist(this);
}

Session::Session(Session& parent, std::shared_ptr<StreamPipe> pipe, std::string_view head)
    : worker_(parent.worker_),
      client_(parent.worker_.context()),
      pipe_(std::move(pipe)),
      secure_stream_(parent.secure()),
      client_cert_header_(parent.client_cert_header_),
      client_subject_(parent.client_subject_),
      listener_(parent.listener_),
      listener_metrics_(parent.listener_metrics_),
      scheme_(parent.scheme_),
      client_ip_(parent.client_ip_),
      client_port_(parent.client_port_),
      client_addr_(parent.client_addr_),
      client_trusted_(parent.client_trusted_),
      in_(&parent.worker_.blocks()) {
  in_.reserve(std::max<std::size_t>(kHeadBuffer, head.size() + 512));
  std::memcpy(in_.write_ptr(), head.data(), head.size());
  in_.commit(head.size());
  registration_ = worker_.enlist(this);
}

Session::~Session() {
  if (slot_limiter_) slot_limiter_->release(slot_ip_);
  if (sc_) worker_.scratch().give(std::move(sc_));
  if (!pipe_) worker_.metrics().connection_closed(listener_metrics_);
  worker_.delist(registration_);
}

awaitable<void> Session::run_owned(std::unique_ptr<Session> self) {
  if (self->tls_ && self->served_ == 0) {
    if (!co_await self->handshake()) co_return;
    const unsigned char* proto = nullptr;
    unsigned int len = 0;
    SSL_get0_alpn_selected(self->tls_->native_handle(), &proto, &len);
    if (len == 2 && proto[0] == 'h' && proto[1] == '2') {
      co_await self->serve_h2();
      co_return;
    }
  }
  if (!co_await self->run()) co_return;
  // Parked: the coroutine frames go away; a readiness wait owns the session until the client
  // sends its next request (then a fresh coroutine takes over), closes, or the ticker cancels the
  // wait (keep-alive timeout, drain).
  Session* s = self.get();
  s->client_.async_wait(tcp::socket::wait_read, [self = std::move(self)](boost::system::error_code ec) mutable {
    if (ec) return;  // the session ends here (closed, keep-alive timeout, drain)
    auto& ioc = self->worker_.context();
    asio::co_spawn(ioc, run_owned(std::move(self)), asio::detached);
  });
}

awaitable<void> Session::run_stream(std::unique_ptr<Session> self) {
  co_await self->run();
  self->pipe_->finish();
}

// The connection speaks HTTP/2 from here on (after the TLS handshake chose h2, or when a plain
// connection began with the preface, which is in in_): the codec takes over the socket, and each
// stream is served by a stream session of its own.
awaitable<void> Session::serve_h2() {
  const config::ListenerSpec* ls = worker_.generation()->snap->listener(listener_);
  const h2::Settings settings = http2_settings(ls ? ls->http2 : config::Http2Spec{});
  worker_.metrics().http2_connection(listener_metrics_);
  std::string first(in_.data());
  in_.consume(in_.size());
  in_.release_if_empty();
  if (sc_) worker_.scratch().give(std::move(sc_));
  phase_ = Phase::tunnel;  // the connection's deadlines are H2Connection::on_tick's
  h2_ = std::make_unique<H2Connection>(*this, settings);
  co_await h2_->run(std::move(first));
  h2_.reset();
}

void Session::set_phase(Phase p, core::Duration timeout) {
  phase_ = p;
  deadline_ = Clock::now() + timeout;
  has_expired_ = false;
}

static_assert(tls::kHandshakeFailures == observe::kTlsFailureReasonCount, "one metric label per failure reason");

// ---------------------------------------------------------------------------------------------
// Client I/O: through the TLS layer on TLS listeners, straight to the socket otherwise.
awaitable<std::tuple<boost::system::error_code, std::size_t>> Session::client_read_some(asio::mutable_buffer b) {
  if (pipe_) co_return co_await pipe_->read_some(b);
  if (tls_) co_return co_await tls_->read_some(b);
  co_return co_await client_.async_read_some(b, nothrow);
}

template <class Buffers>
awaitable<std::tuple<boost::system::error_code, std::size_t>> Session::client_write(const Buffers& b) {
  if (pipe_) {
    std::size_t n = 0;
    for (auto it = asio::buffer_sequence_begin(b); it != asio::buffer_sequence_end(b); ++it) {
      const asio::const_buffer piece(*it);
      if (!pipe_->feed(std::string_view(static_cast<const char*>(piece.data()), piece.size())))
        co_return std::tuple{boost::system::error_code(asio::error::connection_reset), n};
      n += piece.size();
    }
    co_return std::tuple{co_await pipe_->drain(), n};
  }
  if (tls_) co_return co_await tls_->write(b);
  co_return co_await asio::async_write(client_, b, nothrow);
}
// The HTTP/2 connection writes its frames through here (h2_connection.cpp).
template awaitable<std::tuple<boost::system::error_code, std::size_t>> Session::client_write<asio::const_buffer>(
    const asio::const_buffer&);

// The TLS handshake, under the client header deadline (a client that connects and stalls gets no
// more time than one that sends a slow request head). Counts the outcome by listener.
awaitable<bool> Session::handshake() {
  set_phase(Phase::client_header, worker_.generation()->snap->defaults.client_header_timeout);
  const auto ec = co_await tls_->handshake();
  handshake_gen_ = GenerationRef{};  // the callbacks into the snapshot's TLS contexts are done
  auto& metrics = worker_.metrics();
  if (ec) {
    const unsigned long ssl_error = ec.category() == asio::error::get_ssl_category() ? ec.value() : 0;
    const bool closed = ec == asio::error::eof || ec == asio::error::connection_reset ||
                        ec == asio::ssl::error::stream_truncated;
    metrics.tls_handshake_failed(listener_metrics_,
                                 static_cast<std::size_t>(tls::classify_failure(ssl_error, closed, timed_out())));
    if (!closed && !timed_out()) {
      // The alert was sent; a close with unread client bytes would reset the connection and could
      // destroy it before the client reads why. Stop sending and drain briefly, as send_local does.
      boost::system::error_code ignored;
      client_.shutdown(tcp::socket::shutdown_send, ignored);
      set_phase(Phase::client_body, std::chrono::seconds(1));
      std::array<char, 4096> sink;
      for (std::size_t total = 0; total < 64 * 1024;) {
        auto [rec, got] = co_await client_.async_read_some(asio::buffer(sink), nothrow);
        if (rec) break;
        total += got;
      }
    }
    co_return false;
  }
  SSL* ssl = tls_->native_handle();
  if (!client_cert_header_.empty()) client_subject_ = tls::ServerContext::verified_subject(ssl);
  metrics.tls_handshake(listener_metrics_, SSL_version(ssl) == TLS1_3_VERSION, SSL_session_reused(ssl) == 1);
  co_return true;
}

void Session::on_tick(Clock::time_point now) {
  if (h2_) {
    h2_->on_tick(now);
    return;
  }
  if (pipe_) {  // a stream session: only its deadlines (the connection handles idling and drain)
    if (phase_ == Phase::tunnel || phase_ == Phase::idle || now < deadline_) return;
    has_expired_ = true;
    expired_ = phase_;
    pipe_->interrupt();
    if (upstream_) upstream_->cancel();
    return;
  }
  if (worker_.draining()) {
    on_drain(now);
  } else if (phase_ == Phase::idle && !parked_ && (!tls_ || tls_->idle()) && in_.capacity() != 0 &&
             now - idle_since_ >= kParkAfter) {
    parked_ = true;
    boost::system::error_code ec;
    client_.cancel(ec);
    return;
  }
  if (phase_ == Phase::tunnel || now < deadline_) return;
  has_expired_ = true;
  expired_ = phase_;
  boost::system::error_code ec;
  client_.cancel(ec);
  if (upstream_) upstream_->cancel();
}

void Session::on_deadline_passed() {
  if (h2_) {
    h2_->abort();
    return;
  }
  phase_ = Phase::client_write;
  deadline_ = Clock::time_point::min();
  on_tick(Clock::now());
}

void Session::on_drain(Clock::time_point now) {
  if (h2_) {
    h2_->on_tick(now);
    return;
  }
  if (pipe_) return;  // its connection sends GOAWAY; the stream finishes
  // A keep-alive connection that just finished an exchange may have its next request on the way:
  // closing it now would reset that request. It gets kDrainIdleGrace to send it (and an answer
  // with Connection: close); one idle longer than that is closed.
  if (phase_ != Phase::idle || now - idle_since_ < kDrainIdleGrace) return;
  has_expired_ = true;
  expired_ = Phase::idle;
  boost::system::error_code ec;
  client_.cancel(ec);
}

// ---------------------------------------------------------------------------------------------
// The connection loop: one exchange after another, in order (pipelined requests wait in in_).
awaitable<bool> Session::run() {
  for (;;) {
    http::ParseError perr{0, ""};
    bool parked = false;
    const bool ok = co_await read_request_head(perr, parked);
    if (parked) co_return true;
    if (switch_h2_) {
      co_await serve_h2();
      co_return false;
    }
    // The exchange runs on the generation current when its head arrived (an idle connection
    // pins none, so a reload applies to its next request).
    Exchange ex;
    ex.gen = worker_.generation();
    ex.start = Clock::now();
    ex.wall = std::chrono::system_clock::now();
    if (!ok) {
      if (perr.status != 0) {
        const auto& al = ex.snap().spec.access_log;
        ex.log = al.enabled && worker_.sample(al.sample);
        ex.flags.set(perr.status == 408 ? observe::Flag::DT : observe::Flag::IH);
        ex.bytes_received = in_.size();
        co_await send_error(ex, perr.status, perr.reason);
        finish(ex, /*parsed=*/false);
      }
      co_return false;
    }
    ex.bytes_received = sc_->req.head_size;
    ++served_;
    ex.head = sc_->req.method == http::Method::head;
    ex.version_minor = sc_->req.version_minor;
    ex.keep_alive = sc_->req.keep_alive && !sc_->req.upgrade && served_ < ex.snap().defaults.keepalive_requests &&
                    !worker_.draining() && !pipe_;
    ex.request_body_done = sc_->req.body == http::BodyKind::none;
    const bool keep = co_await handle(ex);
    finish(ex, /*parsed=*/true);
    if (!keep) co_return false;
  }
}

awaitable<std::size_t> Session::read_client(std::size_t max) {
  if (in_.write_space() == 0) {
    in_.compact();
    if (in_.write_space() == 0) in_.reserve(in_.capacity() ? in_.capacity() * 2 : kInitialBuffer);
  }
  auto [ec, n] = co_await client_read_some(asio::buffer(in_.write_ptr(), std::min(max, in_.write_space())));
  if (ec) co_return 0;
  in_.commit(n);
  co_return n;
}

// Reads until a whole request head is parsed into sc_->req. Returns false when the connection must
// close (perr.status is then the status to answer; 0 = close quietly: idle timeout, client gone)
// or, with `parked` set, when it was parked while idle.
awaitable<bool> Session::read_request_head(http::ParseError& perr, bool& parked) {
  GenerationRef gen = worker_.generation();
  const auto& snap = *gen->snap;
  const bool first = served_ == 0;
  const bool pipelined = !in_.empty();
  if (!pipelined && !first) {
    // Keep-alive wait (also while draining: see on_drain). A busy connection reads straight into
    // a pooled buffer (no extra syscall); one idle for a tick is parked by the ticker: the read
    // is cancelled, the buffer and the exchange scratch go back to the worker, and run_owned
    // leaves a bare readiness wait.
    if (sc_) worker_.scratch().give(std::move(sc_));
    if (served_ == 1 && !parked_ && !worker_.draining() && (!tls_ || tls_->idle())) {
      // After a connection's first exchange nothing says whether it will be busy or sit idle
      // (browsers keep spare connections open): park it at once; it stays hot (no parking for
      // a tick) only once it has shown it sends requests back to back.
      set_phase(Phase::idle, snap.defaults.keepalive_timeout);
      idle_since_ = Clock::now();
      parked_ = true;
      in_.release_if_empty();
      if (tls_) tls_->release_buffers();
      parked = true;
      co_return false;
    }
    if (!parked_) {
      set_phase(Phase::idle, snap.defaults.keepalive_timeout);
      idle_since_ = Clock::now();
    }
    if (in_.capacity() == 0) in_.reserve(kHeadBuffer);
    auto [ec, n] = co_await client_read_some(asio::buffer(in_.write_ptr(), in_.write_space()));
    if (ec == asio::error::operation_aborted && parked_ && !timed_out()) {
      // Cancelled by the ticker to park (not a timeout, not the client closing). The TLS layer was
      // idle when the ticker decided, and a cancelled read adds nothing to it.
      in_.release_if_empty();
      if (tls_) tls_->release_buffers();
      parked = true;
      co_return false;
    }
    parked_ = false;
    if (ec) co_return false;  // closed by the client, keep-alive timeout or drain
    in_.commit(n);
  } else if (!pipelined && !tls_) {
    // A new connection: the header deadline runs from accept. The request is usually there
    // already (clients send it right after connecting): take it with one non-blocking recv. If it
    // is not, hold no buffer until bytes arrive (a readiness wait, which costs an epoll_ctl).
    // (TLS: the handshake already ran under this deadline, and may have buffered the request.)
    set_phase(Phase::client_header, snap.defaults.client_header_timeout);
    in_.reserve(kHeadBuffer);
    const ssize_t got = ::recv(client_.native_handle(), in_.write_ptr(), in_.write_space(), MSG_DONTWAIT);
    if (got > 0) {
      in_.commit(static_cast<std::size_t>(got));
    } else {
      if (got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) co_return false;  // gone
      in_.release_if_empty();
      auto [ec] = co_await client_.async_wait(tcp::socket::wait_read, nothrow);
      if (ec) co_return false;
    }
  }
  if (!sc_) sc_ = worker_.scratch().take();
  sc_->request_id.clear();
  // The header deadline covers the whole head from its first byte (or from accept): it is not
  // extended by progress, so a client trickling bytes still meets it.
  if (!first || pipelined) set_phase(Phase::client_header, snap.defaults.client_header_timeout);
  const std::size_t max_buffer = snap.limits.max_header_bytes + 1024;
  for (;;) {
    if (first && h2c_ && !in_.empty()) {
      // A plain listener that takes HTTP/2 with prior knowledge: the preface decides.
      const auto d = h2::detect_preface(in_.data());
      if (d == h2::Detect::h2) {
        switch_h2_ = true;
        co_return false;
      }
      if (d == h2::Detect::need_more) {
        if (co_await read_client(in_.write_space()) == 0) co_return false;
        continue;
      }
    }
    if (!in_.empty()) {
      switch (http::parse_request(in_.data(), snap.limits, sc_->req, perr)) {
        case http::ParseResult::complete: co_return true;
        case http::ParseResult::error: co_return false;
        case http::ParseResult::incomplete: break;
      }
    }
    if (in_.capacity() == 0) in_.reserve(kHeadBuffer);
    if (in_.write_space() < 512) {
      in_.compact();
      if (in_.write_space() < 512 && in_.capacity() < max_buffer)
        in_.reserve(std::min(max_buffer, in_.capacity() * 2));
      if (in_.write_space() == 0) {
        perr = {431, "request header fields too large"};
        co_return false;
      }
    }
    std::size_t n = co_await read_client(in_.write_space());
    if (n == 0) {
      // A partial head that missed its deadline gets a 408; a silent or vanished client, nothing.
      perr = timed_out() && !in_.empty() ? http::ParseError{408, "client header timeout"} : http::ParseError{0, ""};
      co_return false;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Observability: what an exchange leaves behind in metrics and the access log.
void Session::keep_for_log(Exchange& ex) {
  // One pass for both fields (the first of each, as received); names compared only at their length.
  std::string_view user_agent, referer;
  bool ua = false, ref = false;
  for (const auto& h : sc_->req.headers) {
    if (!ua && h.name.size() == 10 && http::iequals(h.name, "user-agent")) {
      user_agent = h.value;
      ua = true;
    } else if (!ref && h.name.size() == 7 && http::iequals(h.name, "referer")) {
      referer = h.value;
      ref = true;
    }
    if (ua && ref) break;
  }
  using S = ExchangeScratch;
  std::string_view parts[S::log_parts];
  parts[S::log_method] = sc_->req.method_text;
  parts[S::log_host] = sc_->req.host;
  parts[S::log_path] = sc_->req.path;
  parts[S::log_query] = sc_->req.query;
  parts[S::log_user_agent] = user_agent;
  parts[S::log_referer] = referer;
  std::size_t total = 0;
  for (const auto& part : parts) total += part.size();
  if (sc_->log_copy.size() < total) sc_->log_copy.resize(std::max(total, 2 * sc_->log_copy.size()));
  char* p = sc_->log_copy.data();
  for (int i = 0; i < S::log_parts; ++i) {
    if (!parts[i].empty()) std::memcpy(p, parts[i].data(), parts[i].size());  // an empty view may hold no pointer
    sc_->log_request[i] = {p, parts[i].size()};
    p += parts[i].size();
  }
}

void Session::finish(Exchange& ex, bool parsed) {
  const auto now = Clock::now();
  const auto seconds = [](Clock::duration d) { return std::chrono::duration<double>(d).count(); };
  const double duration = seconds(now - ex.start);
  auto& metrics = worker_.metrics();
  // From the parsed enum, not the method text: the head bytes may be gone by now.
  const auto method = parsed ? method_class(sc_->req.method) : observe::MethodClass::other;
  metrics.request(ex.route ? ex.route->metrics_id : 0, method, ex.status, duration, ex.bytes_received,
                  ex.bytes_sent);
  std::optional<double> upstream_s;
  if (ex.group) {
    metrics.upstream_active(ex.group->metrics_id, -1);
    if (ex.endpoint) {
      const auto end = ex.upstream_end == Clock::time_point{} ? now : ex.upstream_end;
      upstream_s = seconds(end - ex.upstream_start);
      metrics.upstream_request(ex.group->metrics_id, ex.endpoint->metrics_id, ex.upstream_status, *upstream_s);
    }
  }
  if (!ex.log) return;
  observe::AccessLogShard* shard = ex.gen->access_log;
  if (!shard) return;
  if (!parsed) {
    // A request we could not parse: log what is known.
    for (auto& part : sc_->log_request) part = {};
  }
  sc_->log_flags.clear();
  ex.flags.append_to(sc_->log_flags);
  observe::AccessRecord r;
  r.ts = ex.wall;
  r.request_id = sc_->request_id;
  r.client_ip = client_ip_;
  r.client_port = client_port_;
  r.method = sc_->log_request[ExchangeScratch::log_method];
  r.scheme = scheme_;
  r.host = sc_->log_request[ExchangeScratch::log_host];
  r.path = sc_->log_request[ExchangeScratch::log_path];
  r.query = sc_->log_request[ExchangeScratch::log_query];
  r.protocol = pipe_ ? "HTTP/2.0" : ex.version_minor == 0 ? "HTTP/1.0" : "HTTP/1.1";
  r.status = ex.status;
  r.bytes_received = ex.bytes_received;
  r.bytes_sent = ex.bytes_sent;
  r.duration_s = duration;
  r.upstream_duration_s = upstream_s;
  if (ex.route) r.route = ex.route->name;
  if (ex.group) r.upstream = ex.group->name;
  if (ex.endpoint) {
    r.upstream_addr = ex.endpoint->label;
  }
  r.upstream_status = ex.upstream_status;
  r.flags = sc_->log_flags;
  r.user_agent = sc_->log_request[ExchangeScratch::log_user_agent];
  r.referer = sc_->log_request[ExchangeScratch::log_referer];
  if (!shard->log(r, ex.snap().access_log_fields)) metrics.access_log_dropped(1);
}

// ---------------------------------------------------------------------------------------------
// One exchange: route, then answer locally or proxy.
awaitable<bool> Session::handle(Exchange& ex) {
  const auto& snap = ex.snap();
  // The request id: kept from a trusted hop, generated otherwise; sent upstream and echoed back.
  sc_->request_id.clear();
  if (client_trusted_) {
    for (const auto& h : sc_->req.headers)
      if (http::iequals(h.name, "x-request-id") && acceptable_request_id(h.value)) {
        sc_->request_id.assign(h.value);
        break;
      }
  }
  if (sc_->request_id.empty()) worker_.new_request_id(sc_->request_id);

  // A plain-HTTP listener that only sends clients to HTTPS: 301 for GET and HEAD (cacheable, what
  // browsers expect), 308 for the rest (the method and body are kept).
  if (auto it = snap.redirect_https.find(listener_); it != snap.redirect_https.end()) {
    ex.log = snap.spec.access_log.enabled && worker_.sample(snap.spec.access_log.sample);
    if (ex.log) keep_for_log(ex);
    ex.flags.set(observe::Flag::LR);
    std::string_view host = sc_->req.host;
    const auto colon = host.starts_with('[') ? host.find("]:") : host.rfind(':');
    if (colon != std::string_view::npos) host = host.substr(0, host.starts_with('[') ? colon + 1 : colon);
    std::string extra = "Location: https://";
    extra.append(host);
    if (it->second != 443) extra.append(":").append(std::to_string(it->second));
    extra.append(sc_->req.path);
    if (!sc_->req.query.empty()) extra.append("?").append(sc_->req.query);
    extra.append("\r\n");
    const bool get = sc_->req.method == http::Method::get || sc_->req.method == http::Method::head;
    if (!co_await discard_request_body(ex)) co_return false;
    co_return co_await send_local(ex, get ? 301 : 308, {}, {}, extra, ex.keep_alive);
  }

  const route::Table* table = snap.table_for(listener_);
  route::Match m = table ? table->match(sc_->req.host, sc_->req.path, sc_->req.method_text, sc_->req.headers) : route::Match{};
  sc_->notes.clear();
  ex.route = m.route;
  ex.policies = ex.route ? ex.route->policies.get() : snap.policies_of(m.server);
  if (ex.policies && ex.policies->empty()) ex.policies = nullptr;
  if (ex.policies) {
    sc_->policy_path.assign(sc_->req.path);
    sc_->origin.clear();
    std::string_view preflight_method;
    sc_->accept_encoding.clear();
    const bool cors = (ex.policies->needs() & policy::kNeedOrigin) != 0;
    const bool compresses = ex.policies->compression() != nullptr;
    if (cors || compresses) {
      for (const auto& h : sc_->req.headers) {
        if (cors && http::iequals(h.name, "origin")) sc_->origin.assign(h.value);
        else if (cors && http::iequals(h.name, "access-control-request-method")) preflight_method = h.value;
        else if (compresses && http::iequals(h.name, "accept-encoding")) {
          if (!sc_->accept_encoding.empty()) sc_->accept_encoding += ", ";
          sc_->accept_encoding += h.value;
        }
      }
    }
    const auto client = policy_client(snap);
    ex.preflight_status = ex.policies->on_request({sc_->req.method_text, sc_->req.path, sc_->origin, preflight_method,
                                                   client ? &*client : nullptr, sc_->req.headers,
                                                   ex.route ? std::string_view(ex.route->name) : std::string_view(),
                                                   &sc_->notes});
    for (std::size_t i = 0; i < sc_->notes.rate_count; ++i) {
      const auto& r = sc_->notes.rates[i];
      worker_.metrics().rate_limit(r.limit_id, static_cast<std::size_t>(r.decision));
      if (ex.preflight_status && (r.decision == policy::RateDecision::limited ||
                                  r.decision == policy::RateDecision::over_key_bound))
        ex.flags.set(observe::Flag::RL);
      else if (r.decision == policy::RateDecision::dry_run_limited)
        ex.flags.set(observe::Flag::RLD);
    }
    ex.preflight = ex.preflight_status == 204 && sc_->req.method == http::Method::options && !sc_->origin.empty() &&
                   !preflight_method.empty();
  }
  ex.log = ex.route ? ex.route->access_log && worker_.sample(ex.route->access_log_sample)
                    : snap.spec.access_log.enabled && worker_.sample(snap.spec.access_log.sample);
  if (ex.log) keep_for_log(ex);
  if (ex.preflight_status) {
    // Answered at the edge (a CORS preflight, an access denial): the response hooks add headers.
    ex.flags.set(observe::Flag::LR);
    std::string extra;
    if (ex.route) append_header_lines(ex.route->response_headers, extra);
    if (!co_await discard_request_body(ex)) co_return false;
    co_return co_await send_local(ex, ex.preflight_status, {}, {}, extra, ex.keep_alive);
  }
  if (!ex.route) {
    ex.flags.set(observe::Flag::NR);
    if (!co_await discard_request_body(ex)) co_return false;
    co_return co_await send_error(ex, 404, "no route");
  }
  switch (ex.route->action) {
    case route::Action::proxy:
      co_return co_await proxy(ex);
    case route::Action::redirect: {
      ex.flags.set(observe::Flag::LR);
      std::string extra = "Location: ";
      extra += ex.route->redirect_location(scheme_, sc_->req.host, sc_->req.path, sc_->req.query);
      extra += "\r\n";
      append_header_lines(ex.route->response_headers, extra);
      if (!co_await discard_request_body(ex)) co_return false;
      co_return co_await send_local(ex, ex.route->redirect.status, {}, {}, extra, ex.keep_alive);
    }
    case route::Action::respond: {
      ex.flags.set(observe::Flag::LR);
      std::string extra;
      append_header_lines(ex.route->response_headers, extra);
      if (!co_await discard_request_body(ex)) co_return false;
      const auto& r = ex.route->respond;
      co_return co_await send_local(ex, r.status, r.content_type, r.body, extra, ex.keep_alive);
    }
  }
  co_return false;
}

// Before a local answer: drops the request body if it is already buffered; otherwise the answer
// closes the connection (reading an unbounded body just to throw it away helps nobody).
awaitable<bool> Session::discard_request_body(Exchange& ex) {
  in_.consume(sc_->req.head_size);
  if (sc_->req.body == http::BodyKind::content_length && in_.size() >= sc_->req.content_length) {
    in_.consume(sc_->req.content_length);
    ex.bytes_received += sc_->req.content_length;
    ex.request_body_done = true;
  } else if (sc_->req.body != http::BodyKind::none) {
    ex.keep_alive = false;
  }
  co_return true;
}

awaitable<bool> Session::send_local(Exchange& ex, int status, std::string_view content_type, std::string_view body,
                                    std::string_view extra_headers, bool keep_alive) {
  keep_alive = keep_alive && ex.request_body_done && !worker_.draining();
  std::string with_policies;
  if (ex.policies) {
    policy::media_type(content_type.empty() && !body.empty() ? "text/plain" : content_type, sc_->media_type);
    sc_->edits.clear();
    ex.policies->on_response({status, sc_->media_type, sc_->policy_path, secure(), sc_->origin, ex.preflight},
                             sc_->edits);
    with_policies.assign(extra_headers);
    http::append_edit_lines(sc_->edits, with_policies);
    with_policies += sc_->notes.header_lines;
    extra_headers = with_policies;
  }
  sc_->out.clear();
  http::write_local_response(status, content_type, body, extra_headers, sc_->request_id, keep_alive, ex.head, sc_->out);
  set_phase(Phase::client_write, ex.snap().defaults.send_timeout);
  auto [ec, n] = co_await client_write(asio::buffer(sc_->out));
  ex.response_started = true;
  ex.bytes_sent += n;
  if (ec) {
    ex.flags.set(observe::Flag::DC);
    co_return false;
  }
  ex.status = status;
  if (!keep_alive && !pipe_) {
    // Lingering close: stop sending, then drain what the client still sends for a moment so the
    // kernel does not answer its unread bytes with a reset that could destroy our response.
    boost::system::error_code ignored;
    client_.shutdown(tcp::socket::shutdown_send, ignored);
    set_phase(Phase::client_body, std::chrono::seconds(1));
    std::array<char, 4096> sink;
    for (std::size_t total = 0; total < 256 * 1024;) {
      auto [rec, got] = co_await client_read_some(asio::buffer(sink));
      if (rec) break;
      total += got;
    }
  }
  co_return keep_alive;
}

awaitable<bool> Session::send_error(Exchange& ex, int status, std::string_view why) {
  if (ex.response_started) co_return false;
  std::string body;
  body.reserve(64);
  body.append(std::to_string(status)).append(" ").append(http::reason_phrase(status)).append("\n");
  body.append(ex.error_detail);
  std::string extra(ex.error_headers);
  if (ex.route) append_header_lines(ex.route->response_headers, extra);
  // Client errors in the request itself leave the connection in an unknown state: close it.
  bool keep = ex.keep_alive && !(status == 400 || status == 408 || status == 413 || status == 414 ||
                                 status == 431 || status == 501 || status == 505);
  (void)why;
  co_return co_await send_local(ex, status, "text/plain; charset=utf-8", body, extra, keep);
}

// ---------------------------------------------------------------------------------------------
// Proxying.
awaitable<upstream::ConnectionPtr> Session::connect(Exchange& ex, const tcp::endpoint& to, const std::string* key,
                                                    int& failure_status, core::Duration timeout) {
  auto conn = std::make_unique<upstream::Connection>(tcp::socket(worker_.context()), &worker_.blocks());
  conn->key = key;
  upstream_ = conn.get();
  set_phase(Phase::upstream_connect, timeout);
  const auto started = Clock::now();
  auto [ec] = co_await conn->socket.async_connect(to, nothrow);
  if (!ec) {
    boost::system::error_code ignored;
    conn->socket.set_option(tcp::no_delay(true), ignored);
  }
  // TLS pools: the handshake belongs to connecting (same deadline, same failure accounting).
  if (!ec && ex.group->tls) ec = co_await handshake_upstream(ex, *conn, key);
  upstream_ = nullptr;
  worker_.metrics().upstream_connect(ex.group->metrics_id, !ec,
                                     std::chrono::duration<double>(Clock::now() - started).count());
  if (ec) {
    // Refused, unreachable or a failed TLS handshake: 502. No answer within connect_timeout: 503
    // (nothing reachable in time).
    failure_status = timed_out() ? 503 : 502;
    co_return nullptr;
  }
  conn->input.reserve(kInitialBuffer);
  conn->created = Clock::now();
  co_return conn;
}

// HTTP/2 pools: a connection just made becomes one of the worker's multiplexed connections to
// the endpoint, and this exchange its first stream. Over TLS the upstream must have chosen h2 by
// ALPN (otherwise it speaks HTTP/1.1 only: a connect failure, logged once).
upstream::ConnectionPtr Session::adopt_h2(Exchange& ex, upstream::ConnectionPtr conn) {
  const auto& g = *ex.group;
  if (conn->tls) {
    const unsigned char* proto = nullptr;
    unsigned int len = 0;
    SSL_get0_alpn_selected(conn->tls->native_handle(), &proto, &len);
    if (!(len == 2 && proto[0] == 'h' && proto[1] == '2')) {
      if (g.tls->first_failure("no h2 by ALPN"))
        worker_.log().write(Level::warn, "upstream %s: endpoint %s did not choose h2 by ALPN (protocol: h2)",
                            g.name.c_str(), ex.endpoint->label.c_str());
      return nullptr;
    }
  }
  const bool tls = conn->tls != nullptr;
  return worker_.h2_pool().adopt(std::move(conn), ex.endpoint->key, tls, g.h2_max_streams, g.idle_timeout,
                                 &worker_.blocks());
}

// The client side of a TLS pool's handshake on a connected socket, under the connect deadline
// already set. A failure (verification included) is logged once per pool and reason.
awaitable<boost::system::error_code> Session::handshake_upstream(Exchange& ex, upstream::Connection& conn,
                                                                 const std::string* key) {
  const auto& ctx = ex.group->tls;
  conn.tls_context = ctx;
  SSL* ssl = ctx->new_ssl(ex.endpoint->address.host, key);
  if (!ssl) co_return boost::system::errc::make_error_code(boost::system::errc::not_enough_memory);
  conn.tls = std::make_unique<tls::Stream>(conn.socket, ssl, &worker_.blocks(), tls::Stream::Role::client);
  const auto ec = co_await conn.tls->handshake();
  if (ec && !timed_out()) {
    const std::string reason = tls::ClientContext::failure_reason(ssl, ec);
    if (ctx->first_failure(reason))
      worker_.log().write(Level::warn, "upstream %s: TLS to endpoint %s failed: %s", ex.group->name.c_str(),
                          ex.endpoint->label.c_str(), reason.c_str());
  }
  co_return ec;
}

// The request body begins: its progress deadline starts, and a client waiting for 100-continue
// with nothing sent yet gets it. Returns 0, or -1 when the client is gone.
awaitable<int> Session::begin_request_body(Exchange& ex, bool expect_continue) {
  ex.body_deadline = Clock::now() + ex.snap().defaults.client_body_timeout;
  ex.body_progress = 0;
  if (in_.empty() && expect_continue) {
    set_phase(Phase::client_write, ex.snap().defaults.send_timeout);
    auto [ec, n] = co_await client_write(asio::buffer(kContinue));
    ex.bytes_sent += n;
    if (ec) co_return -1;
  }
  co_return 0;
}

// Reads up to `max` more body bytes into in_ under the body-progress deadline (every
// kBodyProgressBytes received extend it by client_body_timeout). Returns 0, 408 (too slow) or
// -1 (client gone).
awaitable<int> Session::read_request_body(Exchange& ex, std::size_t max) {
  phase_ = Phase::client_body;
  deadline_ = ex.body_deadline;
  has_expired_ = false;
  std::size_t n = co_await read_client(max);
  if (n == 0) co_return timed_out() ? 408 : -1;
  ex.body_progress += n;
  if (ex.body_progress >= kBodyProgressBytes) {
    ex.body_progress = 0;
    ex.body_deadline = Clock::now() + ex.snap().defaults.client_body_timeout;
  }
  co_return 0;
}

// Reads the rest of a content-length request body into in_ (after the head was consumed), so it
// can be sent again on a retry. Returns 0, 408 (too slow) or -1 (client gone).
awaitable<int> Session::buffer_request_body(Exchange& ex, bool expect_continue) {
  if (int st = co_await begin_request_body(ex, expect_continue)) co_return st;
  const std::size_t want = static_cast<std::size_t>(req_content_length_);
  if (in_.capacity() < want + 1024) {
    in_.compact();
    if (in_.capacity() < want + 1024) in_.reserve(want + 1024);
  }
  while (in_.size() < want)
    if (int st = co_await read_request_body(ex, want - in_.size())) co_return st;
  co_return 0;
}

// Streams the rest of the request body (not already sent) from the client to the upstream.
// Returns 0 on success, or the status to answer (408, 413, 400, 502; -1 = client gone).
awaitable<int> Session::send_request_body(Exchange& ex, upstream::Connection& up) {
  const auto& route = *ex.route;
  const auto send_timeout = route.send_timeout;
  if (int st = co_await begin_request_body(ex, sc_->req.expect_continue)) co_return st;
  if (in_.capacity() < kStreamBuffer) in_.reserve(kStreamBuffer);
  auto read_more = [&]() { return read_request_body(ex, in_.write_space()); };

  if (req_body_kind_ == http::BodyKind::content_length) {
    std::uint64_t remaining = req_content_length_;
    for (;;) {
      std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(in_.size(), remaining));
      if (take) {
        set_phase(Phase::upstream_send, send_timeout);
        auto [ec, n] = co_await up.write(asio::buffer(in_.data().data(), take));
        if (ec) co_return 502;
        in_.consume(take);
        ex.bytes_received += take;
        remaining -= take;
      }
      if (remaining == 0) co_return 0;
      if (int st = co_await read_more()) co_return st;
    }
  }

  // Chunked: decode what the client sent, re-frame it for the upstream (we forward only what we parsed).
  http::ChunkedDecoder decoder;
  // On the heap: a coroutine frame over ~1 KiB is never recycled by Asio, and chunked bodies are rare.
  auto framer = std::make_unique<ChunkFramer>();
  const std::uint64_t limit = route.max_body_size;
  for (;;) {
    framer->clear();
    bool done = false;
    std::size_t used = 0;
    while (!framer->full()) {
      std::size_t consumed = 0;
      std::string_view piece;
      auto st = decoder.decode(in_.data().substr(used), consumed, piece);
      used += consumed;
      if (st == http::ChunkedDecoder::Status::error) co_return 400;
      if (st == http::ChunkedDecoder::Status::data) {
        if (limit && decoder.body_bytes() > limit) co_return 413;
        framer->add_chunk(piece);
        continue;
      }
      if (st == http::ChunkedDecoder::Status::done) {
        framer->add_raw(kLastChunk);
        done = true;
      }
      break;  // need_more or done
    }
    if (!framer->empty()) {
      set_phase(Phase::upstream_send, send_timeout);
      auto [ec, n] = co_await up.write(framer->buffers());
      if (ec) co_return 502;
    }
    in_.consume(used);
    ex.bytes_received += used;
    if (done) co_return 0;
    if (framer->full()) continue;
    if (int st = co_await read_more()) co_return st;
  }
}

// Response body bytes to the client, under the route's send timeout; false (and flag DC) when the
// client is gone.
awaitable<bool> Session::write_response_bytes(Exchange& ex, std::span<const asio::const_buffer> bufs) {
  set_phase(Phase::client_write, ex.route->send_timeout);
  auto [ec, n] = co_await client_write(bufs);
  ex.response_started = true;
  ex.bytes_sent += n;
  if (ec) ex.flags.set(observe::Flag::DC);
  co_return !ec;
}

// More of the upstream's body into up.input (made room for first), under the route's read
// timeout; 0 when the upstream closed, failed or timed out.
awaitable<std::size_t> Session::read_upstream_body(Exchange& ex, upstream::Connection& up) {
  if (up.input.write_space() == 0) up.input.compact();
  if (up.input.write_space() == 0) up.input.reserve(kStreamBuffer);
  set_phase(Phase::upstream_body, ex.route->read_timeout);
  auto [ec, n] = co_await up.read_some(asio::buffer(up.input.write_ptr(), up.input.write_space()));
  if (ec) co_return 0;
  up.input.commit(n);
  co_return n;
}

// Streams the response body from the upstream to the client; sc_->out holds the response head, which
// goes out with the first body bytes. Returns true when the body ended where its framing said.
awaitable<bool> Session::stream_response_body(Exchange& ex, upstream::Connection& up, const http::ResponseHead& resp,
                                              bool chunk_to_client) {
  bool head_pending = true;
  auto write_client = [&](std::span<const asio::const_buffer> bufs) { return write_response_bytes(ex, bufs); };
  auto read_upstream = [&]() { return read_upstream_body(ex, up); };

  if (resp.body == http::BodyKind::none || (resp.body == http::BodyKind::content_length && resp.content_length == 0)) {
    std::array<asio::const_buffer, 1> b{asio::buffer(sc_->out)};
    co_return co_await write_client(b);
  }

  if (resp.body == http::BodyKind::content_length) {
    std::uint64_t remaining = resp.content_length;
    if (remaining > kInitialBuffer && up.input.capacity() < kStreamBuffer) up.input.reserve(kStreamBuffer);
    for (;;) {
      std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(up.input.size(), remaining));
      std::array<asio::const_buffer, 2> b{asio::buffer(sc_->out), asio::buffer(up.input.data().data(), take)};
      std::span<const asio::const_buffer> bufs = head_pending ? std::span(b) : std::span(b).subspan(1);
      if (!bufs.empty() && (head_pending || take)) {
        if (!co_await write_client(bufs)) co_return false;
      }
      head_pending = false;
      up.input.consume(take);
      remaining -= take;
      if (remaining == 0) co_return true;
      if (co_await read_upstream() == 0) co_return false;
    }
  }

  if (up.input.capacity() < kStreamBuffer) up.input.reserve(kStreamBuffer);
  if (resp.body == http::BodyKind::chunked) {
    http::ChunkedDecoder decoder;
    // Trailer fields (gRPC's grpc-status, for one) go on to clients of chunked bodies.
    sc_->trailers.clear();
    if (chunk_to_client) decoder.keep_trailers(&sc_->trailers);
    // On the heap: a coroutine frame over ~1 KiB is never recycled by Asio, and chunked bodies are rare.
    auto framer = std::make_unique<ChunkFramer>();
    for (;;) {
      framer->clear();
      if (head_pending) framer->add_raw(sc_->out);
      bool done = false;
      std::size_t used = 0;
      while (!framer->full()) {
        std::size_t consumed = 0;
        std::string_view piece;
        auto st = decoder.decode(up.input.data().substr(used), consumed, piece);
        used += consumed;
        if (st == http::ChunkedDecoder::Status::error) co_return false;  // bad upstream framing: abort
        if (st == http::ChunkedDecoder::Status::data) {
          if (chunk_to_client)
            framer->add_chunk(piece);
          else
            framer->add_raw(piece);  // HTTP/1.0 client: the body ends when we close
          continue;
        }
        if (st == http::ChunkedDecoder::Status::done) {
          if (chunk_to_client && sc_->trailers.empty()) {
            framer->add_raw(kLastChunk);
          } else if (chunk_to_client) {
            framer->add_raw("0\r\n");
            framer->add_raw(sc_->trailers);
            framer->add_raw("\r\n");
          }
          done = true;
        }
        break;
      }
      if (!framer->empty()) {
        if (!co_await write_client(framer->buffers())) co_return false;
        head_pending = false;
      }
      up.input.consume(used);
      if (done) co_return true;
      if (framer->full()) continue;
      if (co_await read_upstream() == 0) co_return false;
    }
  }

  // until_close: the body ends when the upstream closes; chunked to HTTP/1.1 clients.
  auto framer = std::make_unique<ChunkFramer>();  // on the heap, as above
  for (;;) {
    framer->clear();
    if (head_pending) framer->add_raw(sc_->out);
    std::string_view data = up.input.data();
    if (!data.empty()) {
      if (chunk_to_client)
        framer->add_chunk(data);
      else
        framer->add_raw(data);
    }
    if (!framer->empty()) {
      if (!co_await write_client(framer->buffers())) co_return false;
      head_pending = false;
    }
    up.input.consume(data.size());
    std::size_t n = co_await read_upstream();
    if (n == 0) {
      if (timed_out()) co_return false;
      if (chunk_to_client) {
        std::array<asio::const_buffer, 1> b{asio::buffer(kLastChunk)};
        if (!co_await write_client(b)) co_return false;
      }
      co_return true;
    }
  }
}

// After a 101: bytes flow both ways untouched until either side closes.
awaitable<void> Session::tunnel(upstream::Connection& up) {
  using namespace asio::experimental::awaitable_operators;
  phase_ = Phase::tunnel;
  // Client to upstream and back; each direction ends by shutting down the other side's sending.
  auto to_upstream = [this, &up]() -> awaitable<void> {
    if (in_.capacity() < kInitialBuffer) in_.reserve(kInitialBuffer);
    for (;;) {
      if (!in_.empty()) {
        auto [wec, wn] = co_await up.write(asio::buffer(in_.data().data(), in_.size()));
        if (wec) break;
        in_.consume(wn);
      }
      auto [ec, n] = co_await client_read_some(asio::buffer(in_.write_ptr(), in_.write_space()));
      if (ec) break;
      in_.commit(n);
    }
    boost::system::error_code ignored;
    up.socket.shutdown(tcp::socket::shutdown_send, ignored);
  };
  auto to_client = [this, &up]() -> awaitable<void> {
    auto& buf = up.input;
    if (buf.capacity() < kInitialBuffer) buf.reserve(kInitialBuffer);
    for (;;) {
      if (!buf.empty()) {
        auto [wec, wn] = co_await client_write(asio::buffer(buf.data().data(), buf.size()));
        if (wec) break;
        buf.consume(wn);
      }
      auto [ec, n] = co_await up.read_some(asio::buffer(buf.write_ptr(), buf.write_space()));
      if (ec) break;
      buf.commit(n);
    }
    boost::system::error_code ignored;
    client_.shutdown(tcp::socket::shutdown_send, ignored);
  };
  co_await (to_upstream() && to_client());
}

namespace {

// RFC 9110 §9.2.2: a retry of these cannot do harm the first try did not.
bool idempotent(http::Method m) {
  switch (m) {
    case http::Method::get:
    case http::Method::head:
    case http::Method::put:
    case http::Method::del:
    case http::Method::options:
    case http::Method::trace:
      return true;
    default:
      return false;
  }
}

// Why a try ended without a response to forward.
enum class TryFailure : std::uint8_t { none, connect, reset, timeout, status };

// The value of cookie `name` in a Cookie header value ("a=1; b=2"), or empty.
std::string_view cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    auto semi = header.find(';');
    std::string_view pair = header.substr(0, semi);
    header = semi == std::string_view::npos ? std::string_view{} : header.substr(semi + 1);
    while (!pair.empty() && (pair.front() == ' ' || pair.front() == '\t')) pair.remove_prefix(1);
    auto eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name) return pair.substr(eq + 1);
  }
  return {};
}

}  // namespace

// Whether and how this response is compressed (the chain's compression policy decides from the
// response head and the request's Accept-Encoding). Adds Vary, Content-Encoding and a weakened
// ETag to the exchange's edits and marks the framing as re-encoded.
http::Coding Session::compression_for(Exchange& ex, const policy::Compression& comp, http::ResponseInfo& rinfo,
                                      int& level) {
  policy::Compression::Input in{};
  in.status = sc_->resp.status;
  in.head_request = ex.head;
  in.media_type = sc_->media_type;
  in.accept_encoding = sc_->accept_encoding;
  std::string_view etag;
  for (const auto& h : sc_->resp.headers) {
    if (http::iequals(h.name, "content-encoding")) in.content_encoding = h.value;
    else if (http::iequals(h.name, "content-range")) in.has_content_range = true;
    else if (http::iequals(h.name, "etag")) etag = h.value;
    else if (http::iequals(h.name, "cache-control")) {
      // Several Cache-Control fields: the one naming no-transform is the one that matters.
      if (in.cache_control.empty() || h.value.find("no-transform") != std::string_view::npos) in.cache_control = h.value;
    }
  }
  if (sc_->resp.body == http::BodyKind::content_length) in.content_length = sc_->resp.content_length;
  const auto d = comp.decide(in);
  if (d.vary) sc_->edits.push({http::HeaderEdit::Kind::vary, "Accept-Encoding", {}});
  if (d.coding == http::Coding::identity) return d.coding;
  level = d.level;
  sc_->edits.push({http::HeaderEdit::Kind::set, "content-encoding", http::coding_name(d.coding)});
  if (!etag.empty() && !etag.starts_with("W/")) {
    sc_->etag = policy::Compression::weak_etag(etag);
    if (sc_->etag.empty())
      sc_->edits.push({http::HeaderEdit::Kind::remove, "etag", {}});  // not an entity-tag: never keep it strong
    else
      sc_->edits.push({http::HeaderEdit::Kind::set, "etag", sc_->etag});
  }
  rinfo.recoded = true;
  return d.coding;
}

// A compressed response: the upstream body, decoded from its framing, goes through one of the
// worker's encoders. A whole body of known length that fits the stream buffer is compressed before
// the head is written (gzip in one shot with libdeflate) and goes out with its Content-Length; any
// other body streams, chunked to
// HTTP/1.1 clients and close-delimited to HTTP/1.0 ones. Compressed output is sent once 16 KiB
// have built up, and flushed whenever the upstream has nothing more waiting, so a slow stream
// still reaches the client as it comes. Returns true when the upstream body ended where its
// framing said (and everything was written).
awaitable<bool> Session::stream_compressed_body(Exchange& ex, upstream::Connection& up, http::ResponseInfo& rinfo,
                                                const http::HeaderEdits* edits, http::Coding coding, int level) {
  constexpr std::size_t kSendAt = 16 * 1024;
  const auto& route = *ex.route;
  const http::ResponseHead& resp = sc_->resp;
  std::unique_ptr<http::Encoder> enc;
  struct GiveBack {
    Worker& w;
    std::unique_ptr<http::Encoder>& e;
    ~GiveBack() {
      if (e) w.encoders().give(std::move(e));
    }
  } give_back{worker_, enc};
  std::string& z = sc_->zout;
  z.clear();
  std::uint64_t plain = 0;
  const std::size_t coding_index = coding == http::Coding::gzip ? 0 : 1;
  // The head's fields first: they are views into up.input, which reading the body may move.
  const bool whole = resp.body == http::BodyKind::content_length && resp.content_length <= kStreamBuffer;
  if (!whole && !rinfo.client_http11) {
    ex.keep_alive = false;  // the body ends when the connection closes
    rinfo.keep_alive = false;
  }
  sc_->out.clear();
  http::write_downstream_fields(resp, route.response_headers, rinfo, sc_->out, edits);

  auto write_client = [&](std::span<const asio::const_buffer> bufs) { return write_response_bytes(ex, bufs); };
  auto read_upstream = [&]() { return read_upstream_body(ex, up); };
  if (up.input.capacity() < kStreamBuffer) up.input.reserve(kStreamBuffer);

  if (whole) {
    const auto len = static_cast<std::size_t>(resp.content_length);
    while (up.input.size() < len)
      if (co_await read_upstream() == 0) co_return false;
    if (coding == http::Coding::gzip) {
      worker_.whole_gzip().compress(level, up.input.data().substr(0, len), z);
    } else {
      enc = worker_.encoders().take();
      enc->begin(coding, level, len);
      enc->write(up.input.data().substr(0, len), z);
      enc->finish(z);
      worker_.encoders().give(std::move(enc));  // free for the next response while this one is written
    }
    up.input.consume(len);
    rinfo.recoded_length = z.size();
    http::finish_downstream_head(resp, rinfo, sc_->out);
    // Counted before the write: a client that saw the response also sees it in the metrics.
    worker_.metrics().compressed(coding_index, len, z.size());
    std::array<asio::const_buffer, 2> b{asio::buffer(sc_->out), asio::buffer(z)};
    co_return co_await write_client(b);
  }

  const bool chunked = rinfo.client_http11;
  http::finish_downstream_head(resp, rinfo, sc_->out);
  enc = worker_.encoders().take();
  enc->begin(coding, level, resp.body == http::BodyKind::content_length
                                ? std::optional<std::uint64_t>(resp.content_length)
                                : std::nullopt);
  bool head_pending = true;
  std::uint64_t sent = 0;
  // Sends z (as one chunk) after the head if it is still pending, and the last chunk when `last`.
  auto send = [&](bool last) -> awaitable<bool> {
    std::array<char, 24> size_line{};
    std::array<asio::const_buffer, 5> b;
    std::size_t n = 0;
    if (head_pending) b[n++] = asio::buffer(sc_->out);
    if (!z.empty()) {
      if (chunked) {
        const int len = std::snprintf(size_line.data(), size_line.size(), "%zx\r\n", z.size());
        b[n++] = asio::buffer(size_line.data(), static_cast<std::size_t>(len));
      }
      b[n++] = asio::buffer(z);
      if (chunked) b[n++] = asio::buffer("\r\n", 2);
    }
    if (last && chunked) b[n++] = asio::buffer(kLastChunk);
    if (n == 0) co_return true;
    sent += z.size();
    const bool ok = co_await write_client(std::span<const asio::const_buffer>(b.data(), n));
    head_pending = false;
    z.clear();
    co_return ok;
  };

  http::ChunkedDecoder decoder;
  std::uint64_t remaining = resp.content_length;
  bool fresh = false;  // input went into the encoder since the last flush
  for (;;) {
    bool done = false;
    bool decoded_all = true;  // every buffered byte went through (false: stopped early to send output)
    if (resp.body == http::BodyKind::content_length) {
      const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(up.input.size(), remaining));
      enc->write(up.input.data().substr(0, take), z);
      up.input.consume(take);
      plain += take;
      remaining -= take;
      fresh = fresh || take > 0;
      done = remaining == 0;
    } else if (resp.body == http::BodyKind::chunked) {
      std::size_t used = 0;
      for (;;) {
        std::size_t consumed = 0;
        std::string_view piece;
        const auto st = decoder.decode(up.input.data().substr(used), consumed, piece);
        used += consumed;
        if (st == http::ChunkedDecoder::Status::error) co_return false;  // bad upstream framing: abort
        if (st == http::ChunkedDecoder::Status::data) {
          enc->write(piece, z);
          plain += piece.size();
          fresh = true;
          if (z.size() >= kSendAt) {
            decoded_all = false;
            break;
          }
          continue;
        }
        done = st == http::ChunkedDecoder::Status::done;
        break;
      }
      up.input.consume(used);
    } else {  // until_close
      enc->write(up.input.data(), z);
      plain += up.input.size();
      fresh = fresh || !up.input.empty();
      up.input.consume(up.input.size());
    }
    if (done) break;
    if (z.size() >= kSendAt && !co_await send(false)) co_return false;
    if (!decoded_all) continue;  // more buffered input to decode
    boost::system::error_code aec;
    if (fresh && up.quiet() && up.socket.available(aec) == 0) {
      enc->write({}, z, /*flush=*/true);
      fresh = false;
      if (!co_await send(false)) co_return false;
    }
    if (co_await read_upstream() == 0) {
      if (resp.body != http::BodyKind::until_close || timed_out()) co_return false;
      break;  // the upstream closed: that ends an until_close body
    }
  }
  enc->finish(z);
  worker_.metrics().compressed(coding_index, plain, sent + z.size());
  co_return co_await send(true);
}

// The client for policies: the peer, or, when the peer is a trusted proxy, the rightmost address
// of X-Forwarded-For that is not one of the trusted proxies (what they vouch for, and no further).
std::optional<core::IpAddress> Session::policy_client(const snapshot::Snapshot& snap) const {
  std::optional<core::IpAddress> client = client_addr_;
  if (!client || !client_trusted_) return client;
  const auto& headers = sc_->req.headers;
  for (auto h = headers.rbegin(); h != headers.rend(); ++h) {
    if (!http::iequals(h->name, "x-forwarded-for")) continue;
    std::string_view list = h->value;
    while (!list.empty()) {
      const auto comma = list.rfind(',');
      std::string_view item = comma == std::string_view::npos ? list : list.substr(comma + 1);
      list = comma == std::string_view::npos ? std::string_view{} : list.substr(0, comma);
      while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
      while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
      auto ip = core::parse_ip(item);
      if (!ip) return client;  // garbage: stop at the last address we could read
      client = ip;
      if (!snap.is_trusted(*ip)) return client;
    }
  }
  return client;
}

// The request's balancing key for the hash policy (a missing header or cookie falls back to the
// client address, so such clients still stick to one endpoint).
std::uint64_t Session::balance_hash(const config::HashKeySpec& key) const {
  std::string_view value;
  switch (key.source) {
    case config::HashKeySpec::Source::path: value = sc_->req.path; break;
    case config::HashKeySpec::Source::client_ip: break;
    case config::HashKeySpec::Source::header:
      for (const auto& h : sc_->req.headers)
        if (http::iequals(h.name, key.name)) { value = h.value; break; }
      break;
    case config::HashKeySpec::Source::cookie:
      for (const auto& h : sc_->req.headers)
        if (http::iequals(h.name, "cookie"))
          if (auto v = cookie_value(h.value, key.name); !v.empty()) { value = v; break; }
      break;
  }
  if (value.empty()) value = client_ip_;
  return upstream::hash_key(value);
}

// Circuit breaking: takes one unit of the pool's open-connection count into `slot`. At the limit,
// waits for one (a pending request) when max_pending allows, for at most `wait`; an idle
// connection to `key` that turns up in this worker's pool meanwhile is taken instead (`pooled`).
// Returns 0, or the overflow reason + 1.
awaitable<int> Session::reserve_connection(const snapshot::UpstreamGroup& g, const std::string& key,
                                           core::Duration wait, upstream::CountedSlot& slot,
                                           upstream::ConnectionPtr& pooled) {
  using Overflow = observe::WorkerMetrics::Overflow;
  auto& ps = *g.pool_state;
  auto take = [&] {
    if (ps.connections.fetch_add(1, std::memory_order_relaxed) < g.circuit.max_connections) {
      slot = upstream::CountedSlot(g.pool_state, &ps.connections);
      return true;
    }
    ps.connections.fetch_sub(1, std::memory_order_relaxed);
    return false;
  };
  if (take()) co_return 0;
  if (g.circuit.max_pending == 0) co_return static_cast<int>(Overflow::max_connections) + 1;
  if (ps.pending.fetch_add(1, std::memory_order_relaxed) >= g.circuit.max_pending) {
    ps.pending.fetch_sub(1, std::memory_order_relaxed);
    co_return static_cast<int>(Overflow::max_pending) + 1;
  }
  upstream::CountedSlot pending(g.pool_state, &ps.pending);
  // Connections are given back on any worker, so this polls (only ever under overload).
  asio::steady_timer timer(worker_.context());
  const auto deadline = Clock::now() + wait;
  while (Clock::now() < deadline) {
    timer.expires_after(std::chrono::milliseconds(5));
    co_await timer.async_wait(nothrow);
    if ((pooled = worker_.pool().take(key, Clock::now()))) co_return 0;
    if (take()) co_return 0;
  }
  co_return static_cast<int>(Overflow::max_connections) + 1;
}

awaitable<bool> Session::overflow(Exchange& ex, observe::WorkerMetrics::Overflow reason) {
  static constexpr std::string_view kHeaders[] = {"X-Rampart-Overflow: max_connections\r\n",
                                                  "X-Rampart-Overflow: max_pending\r\n",
                                                  "X-Rampart-Overflow: max_requests\r\n"};
  worker_.metrics().upstream_overflow(ex.group->metrics_id, reason);
  ex.flags.set(observe::Flag::UO);
  ex.error_headers = kHeaders[static_cast<std::size_t>(reason)];
  co_return co_await send_error(ex, 503, "circuit breaking");
}

// Proxies one request: pick an endpoint, take a pooled connection or open one, send the request,
// read the response head; retry on another endpoint when the route's retry policy, the method and
// the pool's retry budget allow; then stream the response back.
awaitable<bool> Session::proxy(Exchange& ex) {
  const auto& snap = ex.snap();
  const route::Route& route = *ex.route;
  const auto& group = snap.upstreams[route.upstream];
  const config::RetrySpec& retry = route.retry;

  if (sc_->req.body == http::BodyKind::content_length && route.max_body_size &&
      sc_->req.content_length > route.max_body_size) {
    ex.keep_alive = false;
    ex.flags.set(observe::Flag::IH);
    co_return co_await send_error(ex, 413, "request body too large");
  }
  ex.group = &group;
  if (group.endpoints.empty()) {
    ex.flags.set(observe::Flag::UH);
    co_await discard_request_body(ex);
    ex.error_detail = "no endpoint in upstream " + group.name + "\n";
    co_return co_await send_error(ex, 503, "no endpoint");
  }
  auto& metrics = worker_.metrics();
  metrics.upstream_active(group.metrics_id, +1);
  ex.upstream_start = Clock::now();

  // Circuit breaking: requests in flight, process-wide (only pools with the limit pay for it).
  upstream::CountedSlot request_slot;
  if (group.circuit.max_requests) {
    auto& n = group.pool_state->requests;
    if (n.fetch_add(1, std::memory_order_relaxed) >= group.circuit.max_requests) {
      n.fetch_sub(1, std::memory_order_relaxed);
      co_await discard_request_body(ex);
      co_return co_await overflow(ex, observe::WorkerMetrics::Overflow::max_requests);
    }
    request_slot = upstream::CountedSlot(group.pool_state, &n);
  }
  // This worker's view of the pool's load, for the retry budget.
  struct LoadGuard {
    Worker& w;
    std::uint32_t id;
    bool retrying = false;
    ~LoadGuard() {
      auto& l = w.upstream_load(id);
      --l.active;
      if (retrying) --l.retrying;
    }
  } load{worker_, group.metrics_id};
  ++worker_.upstream_load(group.metrics_id).active;

  // The balancing key, while the request head is still in the buffer.
  const std::uint64_t hash = group.balancer->policy() == config::LoadBalanceSpec::Policy::hash
                                 ? balance_hash(group.balancer->hash_key())
                                 : 0;

  // Serialize the upstream request head now: after this, nothing refers to the request bytes.
  sc_->target.clear();
  route.upstream_target(sc_->req.path, sc_->req.query, sc_->target);
  http::ForwardInfo info{client_ip_, client_trusted_, scheme_, sc_->request_id, client_cert_header_, client_subject_};
  sc_->out.clear();
  http::write_upstream_request(sc_->req, sc_->target, route.request_headers, info, sc_->out);
  const http::Method method = sc_->req.method;
  const bool upgrade = sc_->req.upgrade;
  const bool expect_continue = sc_->req.expect_continue;
  req_body_kind_ = sc_->req.body;
  req_content_length_ = sc_->req.content_length;
  in_.consume(sc_->req.head_size);

  // A request we hold entirely can be sent again (a retry, or a pooled connection found dead).
  // A content-length body within retry.buffer_body is read whole first when the route retries.
  bool replayable = req_body_kind_ == http::BodyKind::none ||
                    (req_body_kind_ == http::BodyKind::content_length && in_.size() >= req_content_length_);
  if (!replayable && req_body_kind_ == http::BodyKind::content_length && retry.attempts > 1 &&
      req_content_length_ <= retry.buffer_body) {
    const int st = co_await buffer_request_body(ex, expect_continue);
    if (st != 0) {
      ex.flags.set(st < 0 ? observe::Flag::DC : observe::Flag::DT);
      if (st < 0) co_return false;
      ex.keep_alive = false;
      co_return co_await send_error(ex, st, "request body");
    }
    replayable = true;
  }
  const std::size_t inline_body =
      req_body_kind_ == http::BodyKind::content_length && replayable ? static_cast<std::size_t>(req_content_length_) : 0;

  auto& pool = worker_.pool();
  auto& lb = ex.gen->lb[route.upstream];
  // Least-request bookkeeping: the endpoint of the current try counts as active until it ends.
  struct ActiveGuard {
    upstream::BalancerState& st;
    int index = -1;
    void set(int i) {
      if (index >= 0) st.on_finish(static_cast<std::size_t>(index));
      index = i;
      if (index >= 0) st.on_start(static_cast<std::size_t>(index));
    }
    ~ActiveGuard() { set(-1); }
  } active{lb};

  upstream::ConnectionPtr up;
  http::ParseError perr;
  http::Limits up_limits{snap.limits.max_header_bytes, snap.limits.max_header_bytes, snap.limits.max_headers};
  std::array<std::uint32_t, 16> tried{};
  std::size_t ntried = 0;
  std::uint32_t tries = 0;
  int pinned = -1;              // retry on this endpoint with a new connection (a pooled one was dead)
  bool dead_pool_retried = false;
  for (;;) {
    // 1. An endpoint: healthy and not tried yet when possible.
    const auto now = Clock::now();
    const std::int64_t now_ns = upstream::to_ns(now);
    int idx = pinned;
    pinned = -1;
    const bool fresh_connection = idx >= 0;
    if (idx < 0) {
      upstream::PickInput in{now_ns, hash, std::span<const std::uint32_t>(tried.data(), ntried), false};
      idx = upstream::pick(*group.balancer, lb, group.states, in);
      if (idx < 0 && ntried) {  // every available endpoint was tried: any of them again
        in.excluded = {};
        idx = upstream::pick(*group.balancer, lb, group.states, in);
      }
      if (idx < 0) {
        metrics.upstream_unavailable(group.metrics_id, group.panic);
        if (!group.panic) {
          ex.flags.set(observe::Flag::UH);
          if (replayable) {
            in_.consume(inline_body);
            ex.request_body_done = true;
          } else {
            ex.keep_alive = false;
          }
          ex.error_detail = "no healthy endpoint in upstream " + group.name + "\n";
          co_return co_await send_error(ex, 503, "no healthy endpoint");
        }
        // Panic: every endpoint is out; spreading over all of them beats refusing everything.
        in.ignore_health = true;
        in.excluded = std::span<const std::uint32_t>(tried.data(), ntried);
        idx = upstream::pick(*group.balancer, lb, group.states, in);
        if (idx < 0) {
          in.excluded = {};
          idx = upstream::pick(*group.balancer, lb, group.states, in);
        }
      }
      if (ntried < tried.size()) tried[ntried++] = static_cast<std::uint32_t>(idx);
    }
    const auto& ep = group.endpoints[static_cast<std::size_t>(idx)];
    ex.endpoint = &ep;
    active.set(idx);
    if (!fresh_connection) ++tries;
    const auto try_deadline = retry.per_try_timeout ? now + *retry.per_try_timeout : Clock::time_point::max();
    // A phase timeout, shortened to what is left of the per-try timeout.
    auto bounded = [&](core::Duration d) {
      if (try_deadline == Clock::time_point::max()) return d;
      auto left = std::chrono::duration_cast<core::Duration>(try_deadline - Clock::now());
      return std::max(core::Duration(1), std::min(d, left));
    };

    // 2. A connection: the most recently used idle one, or a new one. HTTP/2 pools: a stream on
    // a connection with room, or a new connection.
    const std::string* key = pool.intern(ep.key);
    UpstreamH2Pool::Connecting connecting;
    if (group.h2) {
      auto& h2 = worker_.h2_pool();
      up = fresh_connection ? nullptr : h2.open_stream(ep.key, &worker_.blocks());
      // Another exchange is connecting to this endpoint: wait for its connection rather than
      // open one more (the first requests of a burst would otherwise each connect).
      while (!up && !fresh_connection && h2.join_connecting(ep.key)) {
        co_await h2.wait_connecting(ep.key);
        up = h2.open_stream(ep.key, &worker_.blocks());
      }
      if (!up) connecting = h2.begin_connecting(ep.key, group.h2_max_streams, Clock::now() + route.connect_timeout);
    } else {
      up = fresh_connection ? nullptr : pool.take(ep.key, now);
      while (up && group.max_connection_lifetime && now - up->created >= *group.max_connection_lifetime)
        up = pool.take(ep.key, now);
      if (up && !replayable && (!up->quiet() || is_stale(up->socket))) up.reset();
    }
    if (up) metrics.upstream_reuse(group.metrics_id);
    TryFailure failure = TryFailure::none;
    int connect_status = 502;
    bool reused = false;
    std::size_t received = 0;
    if (!up) {
      upstream::CountedSlot slot;
      if (group.circuit.max_connections) {
        if (int over = co_await reserve_connection(group, ep.key, route.connect_timeout, slot, up)) {
          if (replayable) {
            in_.consume(inline_body);
            ex.request_body_done = true;
          } else {
            ex.keep_alive = false;
          }
          co_return co_await overflow(ex, static_cast<observe::WorkerMetrics::Overflow>(over - 1));
        }
      }
      if (!up) {
        up = co_await connect(ex, ep.resolved, key, connect_status, bounded(route.connect_timeout));
        if (up) up->counted = std::move(slot);
        if (up && group.h2) up = adopt_h2(ex, std::move(up));
        if (!up) failure = TryFailure::connect;
        connecting.end();  // the waiters look again: a connection with room, or none (they connect)
      }
    }

    // 3. The request head (and the body when we hold it), then the body we stream.
    if (up) {
      reused = up->reused;
      upstream_ = up.get();
      ++up->requests;
      set_phase(Phase::upstream_send, bounded(route.send_timeout));
      std::array<asio::const_buffer, 2> b{asio::buffer(sc_->out), asio::buffer(in_.data().data(), inline_body)};
      auto [wec, wn] = co_await up->write(b);
      if (wec) {
        upstream_ = nullptr;
        failure = timed_out() ? TryFailure::timeout : TryFailure::reset;
      } else if (!replayable) {
        int st = co_await send_request_body(ex, *up);
        if (st != 0) {
          upstream_ = nullptr;
          ex.flags.set(st < 0 ? observe::Flag::DC : st == 408 ? observe::Flag::DT : st == 502 ? observe::Flag::UC
                                                                                            : observe::Flag::IH);
          if (st < 0) co_return false;
          ex.keep_alive = false;
          co_return co_await send_error(ex, st, "request body");
        }
      }
    }

    // 4. The response head; interim 1xx responses are handled on the way.
    if (up && failure == TryFailure::none) {
      set_phase(Phase::upstream_header, bounded(route.read_timeout));
      for (;;) {
        auto pr = up->input.empty() ? http::ParseResult::incomplete
                                    : http::parse_response(up->input.data(), up_limits, method, sc_->resp, perr);
        if (pr == http::ParseResult::error) {
          upstream_ = nullptr;
          in_.consume(inline_body);
          ex.request_body_done = true;
          ex.flags.set(observe::Flag::UPE);
          upstream::record_outcome(*ep.state, group.states, group.outlier, upstream::Outcome::failure, now_ns);
          co_return co_await send_error(ex, 502, "invalid upstream response");
        }
        if (pr == http::ParseResult::complete) {
          if (sc_->resp.status >= 200 || (sc_->resp.status == 101 && upgrade)) break;
          if (sc_->resp.status == 101) {  // 101 without an upgrade request: a protocol violation
            upstream_ = nullptr;
            ex.flags.set(observe::Flag::UPE);
            co_return co_await send_error(ex, 502, "unexpected 101");
          }
          if (sc_->resp.status != 100 && ex.version_minor >= 1) {  // 100 is ours to send; HTTP/1.0 knows no 1xx
            sc_->out.clear();
            http::write_downstream_response(sc_->resp, route.response_headers, interim_info(sc_->request_id, ex.head, false), sc_->out);
            set_phase(Phase::client_write, route.send_timeout);
            auto [cec, cn] = co_await client_write(asio::buffer(sc_->out));
            ex.bytes_sent += cn;
            if (cec) {
              upstream_ = nullptr;
              ex.flags.set(observe::Flag::DC);
              co_return false;
            }
          }
          up->input.consume(sc_->resp.head_size);
          set_phase(Phase::upstream_header, bounded(route.read_timeout));
          continue;
        }
        if (up->input.write_space() < 512) {
          up->input.compact();
          if (up->input.write_space() < 512) {
            if (up->input.capacity() >= up_limits.max_header_bytes + 1024) {
              upstream_ = nullptr;
              ex.flags.set(observe::Flag::UPE);
              co_return co_await send_error(ex, 502, "upstream response head too large");
            }
            up->input.reserve(std::max<std::size_t>(kInitialBuffer, up->input.capacity() * 2));
          }
        }
        auto [rec, rn] = co_await up->read_some(asio::buffer(up->input.write_ptr(), up->input.write_space()));
        if (rec) {
          upstream_ = nullptr;
          failure = timed_out() ? TryFailure::timeout : TryFailure::reset;
          break;
        }
        received += rn;
        up->input.commit(rn);
      }
      if (failure == TryFailure::none) {
        ex.upstream_status = sc_->resp.status;
        const auto& on = retry.on_status;
        if (std::find(on.begin(), on.end(), sc_->resp.status) != on.end()) failure = TryFailure::status;
      }
    }
    if (failure == TryFailure::none) {
      upstream::record_outcome(*ep.state, group.states, group.outlier,
                               sc_->resp.status >= 500 ? upstream::Outcome::server_error : upstream::Outcome::success,
                               now_ns);
      break;
    }

    // 5. The try failed. A pooled connection that died before answering is the pool's fault, not
    // the endpoint's: one more try on a new connection to the same endpoint, whatever the policy.
    if (failure == TryFailure::reset && reused && received == 0 && replayable && !dead_pool_retried &&
        !ex.response_started) {
      dead_pool_retried = true;
      pinned = idx;
      up.reset();
      metrics.upstream_retry(group.metrics_id);
      continue;
    }
    if (auto e = upstream::record_outcome(*ep.state, group.states, group.outlier,
                                          failure == TryFailure::status ? upstream::Outcome::server_error
                                                                        : upstream::Outcome::failure,
                                          now_ns);
        e.ejected) {
      worker_.log().write(Level::warn, "upstream %s: endpoint %s ejected for %lldms (consecutive failures)",
                          group.name.c_str(), ep.label.c_str(), static_cast<long long>(e.duration.count()));
    }
    bool wanted = false;
    switch (failure) {
      case TryFailure::connect: wanted = retry.on_connect_failure; break;  // nothing was sent
      case TryFailure::reset: wanted = retry.on_reset && idempotent(method) && replayable; break;
      case TryFailure::timeout: wanted = retry.on_timeout && idempotent(method) && replayable; break;
      case TryFailure::status: wanted = idempotent(method) && replayable; break;
      case TryFailure::none: break;
    }
    wanted = wanted && !ex.response_started;
    if (wanted && tries < retry.attempts) {
      auto& l = worker_.upstream_load(group.metrics_id);
      const auto budget = std::max<std::int64_t>(group.retry_budget.min_retries,
                                                 static_cast<std::int64_t>(group.retry_budget.percent / 100.0 *
                                                                           static_cast<double>(l.active)));
      if (load.retrying || l.retrying < budget) {
        if (!load.retrying) {
          load.retrying = true;
          ++l.retrying;
        }
        metrics.upstream_retry(group.metrics_id);
        up.reset();
        continue;
      }
      metrics.upstream_retry_budget_exhausted(group.metrics_id);
      ex.flags.set(observe::Flag::URX);
    } else if (wanted || tries > 1) {
      ex.flags.set(observe::Flag::URX);
    }

    // 6. No more tries: a status the policy retries goes to the client as it is; the others get ours.
    if (failure == TryFailure::status) break;
    if (failure == TryFailure::connect) {
      ex.flags.set(observe::Flag::UF);
      ex.keep_alive = ex.keep_alive && replayable;
      if (replayable) {
        in_.consume(inline_body);
        ex.request_body_done = true;
      }
      co_return co_await send_error(ex, connect_status, "upstream connect failed");
    }
    in_.consume(inline_body);
    ex.request_body_done = replayable || ex.request_body_done;
    const bool timeout = failure == TryFailure::timeout;
    ex.flags.set(timeout ? observe::Flag::UT : observe::Flag::UC);
    co_return co_await send_error(ex, timeout ? 504 : 502, timeout ? "upstream response timeout" : "upstream closed");
  }
  in_.consume(inline_body);
  ex.bytes_received += inline_body;
  ex.request_body_done = true;

  // The response head goes downstream with the first body bytes.
  if (sc_->resp.status == 101) {
    sc_->out.clear();
    http::write_downstream_response(sc_->resp, route.response_headers, interim_info(sc_->request_id, false, true), sc_->out);
    up->input.consume(sc_->resp.head_size);
    set_phase(Phase::client_write, route.send_timeout);
    auto [cec, cn] = co_await client_write(asio::buffer(sc_->out));
    ex.bytes_sent += cn;
    ex.status = 101;
    ex.upstream_end = Clock::now();
    if (!cec) co_await tunnel(*up);
    upstream_ = nullptr;
    co_return false;
  }
  // Bodies without a length (chunked, or ended by the upstream closing) are chunked for HTTP/1.1
  // clients and delimited by closing the connection for HTTP/1.0 ones.
  const bool unsized = sc_->resp.body == http::BodyKind::chunked || sc_->resp.body == http::BodyKind::until_close;
  const bool chunk_to_client = unsized && ex.version_minor >= 1;
  if (unsized && !chunk_to_client) ex.keep_alive = false;
  if (worker_.draining()) ex.keep_alive = false;  // the drain began while this request was in flight
  sc_->out.clear();
  http::ResponseInfo rinfo = interim_info(sc_->request_id, ex.head, false);
  rinfo.keep_alive = ex.keep_alive;
  rinfo.client_http11 = ex.version_minor >= 1;
  if (ex.policies) rinfo.extra_lines = sc_->notes.header_lines;
  const http::HeaderEdits* edits = nullptr;
  http::Coding coding = http::Coding::identity;
  int level = 0;
  if (ex.policies) {
    sc_->media_type.clear();
    if (ex.policies->needs() & policy::kNeedContentType) {
      std::string_view content_type;
      for (const auto& h : sc_->resp.headers)
        if (http::iequals(h.name, "content-type")) content_type = h.value;
      policy::media_type(content_type, sc_->media_type);
    }
    sc_->edits.clear();
    ex.policies->on_response(
        {sc_->resp.status, sc_->media_type, sc_->policy_path, secure(), sc_->origin, false}, sc_->edits);
    edits = &sc_->edits;
    if (const policy::Compression* comp = ex.policies->compression()) coding = compression_for(ex, *comp, rinfo, level);
  }
  up->input.consume(sc_->resp.head_size);
  ex.status = sc_->resp.status;
  bool complete = false;
  if (coding != http::Coding::identity && sc_->resp.body != http::BodyKind::none &&
      !(sc_->resp.body == http::BodyKind::content_length && sc_->resp.content_length == 0)) {
    complete = co_await stream_compressed_body(ex, *up, rinfo, edits, coding, level);
  } else {
    http::write_downstream_response(sc_->resp, route.response_headers, rinfo, sc_->out, edits);
    complete = co_await stream_response_body(ex, *up, sc_->resp, chunk_to_client);
  }
  upstream_ = nullptr;
  ex.upstream_end = Clock::now();
  if (!complete) {
    if (!ex.flags.has(observe::Flag::DC)) ex.flags.set(timed_out() ? observe::Flag::UT : observe::Flag::UC);
    // Bad framing or a failure before anything reached the client still gets a proper answer.
    if (!ex.response_started) co_return co_await send_error(ex, timed_out() ? 504 : 502, "upstream body");
    co_return false;
  }

  if (!up->stream && sc_->resp.keep_alive && sc_->resp.body != http::BodyKind::until_close && up->input.empty()) {
    const auto& g = group;
    pool.give_back(std::move(up),
                   {g.max_idle_per_endpoint, g.idle_timeout, g.max_requests_per_connection, g.max_connection_lifetime},
                   Clock::now());
  }
  co_return ex.keep_alive;
}

}  // namespace rampart::server
