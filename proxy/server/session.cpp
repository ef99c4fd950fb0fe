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

#include "http/forward.hpp"
#include "observe/flags.hpp"
#include "server/worker.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <netinet/tcp.h>
#include <sys/socket.h>

#include <array>
#include <cstdio>
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
  bool log = false;  // this exchange goes to the access log (route setting and sampling)
};

Session::Session(Worker& worker, tcp::socket socket, std::string listener, std::uint32_t listener_metrics,
                 std::string scheme)
    : worker_(worker),
      client_(std::move(socket)),
      listener_(std::move(listener)),
      listener_metrics_(listener_metrics),
      scheme_(std::move(scheme)),
      in_(&worker.blocks()) {
  boost::system::error_code ec;
  auto peer = client_.remote_endpoint(ec);
  if (!ec) {
    auto addr = peer.address();
    client_ip_ = addr.is_v6() && addr.to_v6().is_v4_mapped()
                     ? asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6()).to_string()
                     : addr.to_string();
    client_port_ = peer.port();
    if (auto ip = core::parse_ip(client_ip_)) client_trusted_ = worker_.generation()->snap->is_trusted(*ip);
  }
  worker_.metrics().connection_opened(listener_metrics_);
  client_.set_option(tcp::no_delay(true), ec);
  registration_ = worker_.enlist(this);
}

Session::~Session() {
  if (sc_) worker_.scratch().give(std::move(sc_));
  worker_.metrics().connection_closed(listener_metrics_);
  worker_.delist(registration_);
}

awaitable<void> Session::run_owned(std::unique_ptr<Session> self) {
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

void Session::set_phase(Phase p, core::Duration timeout) {
  phase_ = p;
  deadline_ = Clock::now() + timeout;
  has_expired_ = false;
}

void Session::on_tick(Clock::time_point now) {
  if (worker_.draining()) {
    on_drain(now);
  } else if (phase_ == Phase::idle && !parked_ && in_.capacity() != 0 && now - idle_since_ >= kParkAfter) {
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
  if (upstream_) upstream_->socket.cancel(ec);
}

void Session::on_deadline_passed() {
  phase_ = Phase::client_write;
  deadline_ = Clock::time_point::min();
  on_tick(Clock::now());
}

void Session::on_drain(Clock::time_point now) {
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
                    !worker_.draining();
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
  auto [ec, n] = co_await client_.async_read_some(asio::buffer(in_.write_ptr(), std::min(max, in_.write_space())), nothrow);
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
    if (served_ == 1 && !parked_ && !worker_.draining()) {
      // After a connection's first exchange nothing says whether it will be busy or sit idle
      // (browsers keep spare connections open): park it at once; it stays hot (no parking for
      // a tick) only once it has shown it sends requests back to back.
      set_phase(Phase::idle, snap.defaults.keepalive_timeout);
      idle_since_ = Clock::now();
      parked_ = true;
      in_.release_if_empty();
      parked = true;
      co_return false;
    }
    if (!parked_) {
      set_phase(Phase::idle, snap.defaults.keepalive_timeout);
      idle_since_ = Clock::now();
    }
    if (in_.capacity() == 0) in_.reserve(kHeadBuffer);
    auto [ec, n] = co_await client_.async_read_some(asio::buffer(in_.write_ptr(), in_.write_space()), nothrow);
    if (ec == asio::error::operation_aborted && parked_ && !timed_out()) {
      // Cancelled by the ticker to park (not a timeout, not the client closing).
      in_.release_if_empty();
      parked = true;
      co_return false;
    }
    parked_ = false;
    if (ec) co_return false;  // closed by the client, keep-alive timeout or drain
    in_.commit(n);
  } else if (!pipelined) {
    // A new connection: the header deadline runs from accept; no buffer until bytes arrive.
    set_phase(Phase::client_header, snap.defaults.client_header_timeout);
    auto [ec] = co_await client_.async_wait(tcp::socket::wait_read, nothrow);
    if (ec) co_return false;
  }
  if (!sc_) sc_ = worker_.scratch().take();
  sc_->request_id.clear();
  // The header deadline covers the whole head from its first byte (or from accept): it is not
  // extended by progress, so a client trickling bytes still meets it.
  if (!first || pipelined) set_phase(Phase::client_header, snap.defaults.client_header_timeout);
  const std::size_t max_buffer = snap.limits.max_header_bytes + 1024;
  for (;;) {
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
  auto header = [&](std::string_view name) {
    for (const auto& h : sc_->req.headers)
      if (http::iequals(h.name, name)) return h.value;
    return std::string_view{};
  };
  sc_->log_method.assign(sc_->req.method_text);
  sc_->log_host.assign(sc_->req.host);
  sc_->log_path.assign(sc_->req.path);
  sc_->log_query.assign(sc_->req.query);
  sc_->log_user_agent.assign(header("user-agent"));
  sc_->log_referer.assign(header("referer"));
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
    for (auto* s : {&sc_->log_method, &sc_->log_host, &sc_->log_path, &sc_->log_query, &sc_->log_user_agent,
                    &sc_->log_referer})
      s->clear();
  }
  sc_->log_flags.clear();
  ex.flags.append_to(sc_->log_flags);
  observe::AccessRecord r;
  r.ts = ex.wall;
  r.request_id = sc_->request_id;
  r.client_ip = client_ip_;
  r.client_port = client_port_;
  r.method = sc_->log_method;
  r.scheme = scheme_;
  r.host = sc_->log_host;
  r.path = sc_->log_path;
  r.query = sc_->log_query;
  r.protocol = ex.version_minor == 0 ? "HTTP/1.0" : "HTTP/1.1";
  r.status = ex.status;
  r.bytes_received = ex.bytes_received;
  r.bytes_sent = ex.bytes_sent;
  r.duration_s = duration;
  r.upstream_duration_s = upstream_s;
  if (ex.route) r.route = ex.route->name;
  if (ex.group) r.upstream = ex.group->name;
  if (ex.endpoint) {
    const std::string_view key = ex.endpoint->key;  // "<pool>|<host:port>"; a view, not a temporary copy
    r.upstream_addr = key.substr(key.find('|') + 1);
  }
  r.upstream_status = ex.upstream_status;
  r.flags = sc_->log_flags;
  r.user_agent = sc_->log_user_agent;
  r.referer = sc_->log_referer;
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

  const route::Table* table = snap.table_for(listener_);
  route::Match m = table ? table->match(sc_->req.host, sc_->req.path, sc_->req.method_text, sc_->req.headers) : route::Match{};
  ex.route = m.route;
  ex.log = ex.route ? ex.route->access_log && worker_.sample(ex.route->access_log_sample)
                    : snap.spec.access_log.enabled && worker_.sample(snap.spec.access_log.sample);
  if (ex.log) keep_for_log(ex);
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
  sc_->out.clear();
  http::write_local_response(status, content_type, body, extra_headers, sc_->request_id, keep_alive, ex.head, sc_->out);
  set_phase(Phase::client_write, ex.snap().defaults.send_timeout);
  auto [ec, n] = co_await asio::async_write(client_, asio::buffer(sc_->out), nothrow);
  ex.response_started = true;
  ex.bytes_sent += n;
  if (ec) {
    ex.flags.set(observe::Flag::DC);
    co_return false;
  }
  ex.status = status;
  if (!keep_alive) {
    // Lingering close: stop sending, then drain what the client still sends for a moment so the
    // kernel does not answer its unread bytes with a reset that could destroy our response.
    boost::system::error_code ignored;
    client_.shutdown(tcp::socket::shutdown_send, ignored);
    set_phase(Phase::client_body, std::chrono::seconds(1));
    std::array<char, 4096> sink;
    for (std::size_t total = 0; total < 256 * 1024;) {
      auto [rec, got] = co_await client_.async_read_some(asio::buffer(sink), nothrow);
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
  std::string extra;
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
                                                    int& failure_status) {
  auto conn = std::make_unique<upstream::Connection>(tcp::socket(worker_.context()), &worker_.blocks());
  conn->key = key;
  upstream_ = conn.get();
  set_phase(Phase::upstream_connect, ex.route->connect_timeout);
  const auto started = Clock::now();
  auto [ec] = co_await conn->socket.async_connect(to, nothrow);
  upstream_ = nullptr;
  worker_.metrics().upstream_connect(ex.group->metrics_id, !ec,
                                     std::chrono::duration<double>(Clock::now() - started).count());
  if (ec) {
    // Refused or unreachable: 502. No answer within connect_timeout: 503 (nothing reachable in time).
    failure_status = timed_out() ? 503 : 502;
    co_return nullptr;
  }
  boost::system::error_code ignored;
  conn->socket.set_option(tcp::no_delay(true), ignored);
  conn->input.reserve(kInitialBuffer);
  co_return conn;
}

// Streams the rest of the request body (not already sent) from the client to the upstream.
// Returns 0 on success, or the status to answer (408, 413, 400, 502; -1 = client gone).
awaitable<int> Session::send_request_body(Exchange& ex, upstream::Connection& up) {
  const auto& route = *ex.route;
  const auto body_timeout = ex.snap().defaults.client_body_timeout;
  const auto send_timeout = route.send_timeout;
  ex.body_deadline = Clock::now() + body_timeout;
  ex.body_progress = 0;
  if (in_.empty() && sc_->req.expect_continue) {
    set_phase(Phase::client_write, ex.snap().defaults.send_timeout);
    auto [ec, n] = co_await asio::async_write(client_, asio::buffer(kContinue), nothrow);
    ex.bytes_sent += n;
    if (ec) co_return -1;
  }
  if (in_.capacity() < kStreamBuffer) in_.reserve(kStreamBuffer);

  // Reads more body bytes from the client under the body-progress deadline.
  auto read_more = [&]() -> awaitable<int> {
    phase_ = Phase::client_body;
    deadline_ = ex.body_deadline;
    has_expired_ = false;
    std::size_t n = co_await read_client(in_.write_space());
    if (n == 0) co_return timed_out() ? 408 : -1;
    ex.body_progress += n;
    if (ex.body_progress >= kBodyProgressBytes) {
      ex.body_progress = 0;
      ex.body_deadline = Clock::now() + body_timeout;
    }
    co_return 0;
  };

  if (req_body_kind_ == http::BodyKind::content_length) {
    std::uint64_t remaining = req_content_length_;
    for (;;) {
      std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(in_.size(), remaining));
      if (take) {
        set_phase(Phase::upstream_send, send_timeout);
        auto [ec, n] = co_await asio::async_write(up.socket, asio::buffer(in_.data().data(), take), nothrow);
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
      auto [ec, n] = co_await asio::async_write(up.socket, framer->buffers(), nothrow);
      if (ec) co_return 502;
    }
    in_.consume(used);
    ex.bytes_received += used;
    if (done) co_return 0;
    if (framer->full()) continue;
    if (int st = co_await read_more()) co_return st;
  }
}

// Streams the response body from the upstream to the client; sc_->out holds the response head, which
// goes out with the first body bytes. Returns true when the body ended where its framing said.
awaitable<bool> Session::stream_response_body(Exchange& ex, upstream::Connection& up, const http::ResponseHead& resp,
                                              bool chunk_to_client) {
  const auto read_timeout = ex.route->read_timeout;
  const auto send_timeout = ex.route->send_timeout;
  bool head_pending = true;

  auto write_client = [&](std::span<const asio::const_buffer> bufs) -> awaitable<bool> {
    set_phase(Phase::client_write, send_timeout);
    auto [ec, n] = co_await asio::async_write(client_, bufs, nothrow);
    ex.response_started = true;
    ex.bytes_sent += n;
    if (ec) ex.flags.set(observe::Flag::DC);
    co_return !ec;
  };
  auto read_upstream = [&]() -> awaitable<std::size_t> {
    if (up.input.write_space() == 0) up.input.compact();
    if (up.input.write_space() == 0) up.input.reserve(kStreamBuffer);
    set_phase(Phase::upstream_body, read_timeout);
    auto [ec, n] = co_await up.socket.async_read_some(asio::buffer(up.input.write_ptr(), up.input.write_space()), nothrow);
    if (ec) co_return 0;
    up.input.commit(n);
    co_return n;
  };

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
          if (chunk_to_client) framer->add_raw(kLastChunk);
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
  auto pump = [](tcp::socket& from, tcp::socket& to, core::FlatBuffer& buf) -> awaitable<void> {
    if (buf.capacity() < kInitialBuffer) buf.reserve(kInitialBuffer);
    for (;;) {
      if (!buf.empty()) {
        auto [wec, wn] = co_await asio::async_write(to, asio::buffer(buf.data().data(), buf.size()), nothrow);
        if (wec) break;
        buf.consume(wn);
      }
      auto [ec, n] = co_await from.async_read_some(asio::buffer(buf.write_ptr(), buf.write_space()), nothrow);
      if (ec) break;
      buf.commit(n);
    }
    boost::system::error_code ignored;
    to.shutdown(tcp::socket::shutdown_send, ignored);
  };
  co_await (pump(client_, up.socket, in_) && pump(up.socket, client_, up.input));
}

awaitable<bool> Session::proxy(Exchange& ex) {
  const auto& snap = ex.snap();
  const route::Route& route = *ex.route;
  const auto& group = snap.upstreams[route.upstream];

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
    co_return co_await send_error(ex, 503, "no endpoint");
  }
  auto& metrics = worker_.metrics();
  metrics.upstream_active(group.metrics_id, +1);
  ex.upstream_start = Clock::now();

  // Serialize the upstream request head now: after this, nothing refers to the request bytes.
  sc_->target.clear();
  route.upstream_target(sc_->req.path, sc_->req.query, sc_->target);
  http::ForwardInfo info{client_ip_, client_trusted_, scheme_, sc_->request_id};
  sc_->out.clear();
  http::write_upstream_request(sc_->req, sc_->target, route.request_headers, info, sc_->out);
  const http::Method method = sc_->req.method;
  const bool upgrade = sc_->req.upgrade;
  req_body_kind_ = sc_->req.body;
  req_content_length_ = sc_->req.content_length;
  in_.consume(sc_->req.head_size);

  // A request we hold entirely can be sent again if a reused connection turns out to be dead.
  const bool replayable = req_body_kind_ == http::BodyKind::none ||
                          (req_body_kind_ == http::BodyKind::content_length && in_.size() >= req_content_length_);
  const std::size_t inline_body =
      req_body_kind_ == http::BodyKind::content_length && replayable ? static_cast<std::size_t>(req_content_length_) : 0;

  auto& pool = worker_.pool();
  upstream::ConnectionPtr up;
  http::ParseError perr;
  http::Limits up_limits{snap.limits.max_header_bytes, snap.limits.max_header_bytes, snap.limits.max_headers};
  bool got_response = false;
  for (int attempt = 0; attempt < 2 && !got_response; ++attempt) {
    const auto& ep = group.endpoints[ex.gen->rr[route.upstream]++ % group.endpoints.size()];
    ex.endpoint = &ep;
    const std::string* key = pool.intern(ep.key);
    up = attempt == 0 ? pool.take(ep.key, Clock::now()) : nullptr;
    if (up && !replayable && is_stale(up->socket)) up.reset();
    if (up) metrics.upstream_reuse(group.metrics_id);
    if (!up) {
      int status = 502;
      up = co_await connect(ex, ep.resolved, key, status);
      if (!up) {
        ex.flags.set(observe::Flag::UF);
        ex.keep_alive = ex.keep_alive && replayable;
        if (replayable) { in_.consume(inline_body); ex.request_body_done = true; }
        co_return co_await send_error(ex, status, "upstream connect failed");
      }
    }
    const bool reused = up->reused;
    upstream_ = up.get();
    ++up->requests;

    // Send the head (and the body when we hold it).
    set_phase(Phase::upstream_send, route.send_timeout);
    std::array<asio::const_buffer, 2> b{asio::buffer(sc_->out), asio::buffer(in_.data().data(), inline_body)};
    auto [wec, wn] = co_await asio::async_write(up->socket, b, nothrow);
    if (wec) {
      upstream_ = nullptr;
      if (reused && replayable && attempt == 0) {  // the idle connection was dead: try a fresh one
        ex.flags.set(observe::Flag::URX);
        metrics.upstream_retry(group.metrics_id);
        continue;
      }
      in_.consume(inline_body);
      ex.flags.set(timed_out() ? observe::Flag::UT : observe::Flag::UC);
      co_return co_await send_error(ex, timed_out() ? 504 : 502, "upstream write failed");
    }
    if (!replayable) {
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

    // Read the response head; interim 1xx responses are handled on the way.
    set_phase(Phase::upstream_header, route.read_timeout);
    std::size_t received = 0;
    for (;;) {
      auto pr = up->input.empty() ? http::ParseResult::incomplete
                                  : http::parse_response(up->input.data(), up_limits, method, sc_->resp, perr);
      if (pr == http::ParseResult::error) {
        upstream_ = nullptr;
        in_.consume(inline_body);
        ex.request_body_done = true;
        ex.flags.set(observe::Flag::UPE);
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
          http::write_downstream_response(sc_->resp, route.response_headers, {sc_->request_id, true, ex.head, false}, sc_->out);
          set_phase(Phase::client_write, route.send_timeout);
          auto [cec, cn] = co_await asio::async_write(client_, asio::buffer(sc_->out), nothrow);
          ex.bytes_sent += cn;
          if (cec) {
            upstream_ = nullptr;
            ex.flags.set(observe::Flag::DC);
            co_return false;
          }
        }
        up->input.consume(sc_->resp.head_size);
        set_phase(Phase::upstream_header, route.read_timeout);
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
      auto [rec, rn] = co_await up->socket.async_read_some(
          asio::buffer(up->input.write_ptr(), up->input.write_space()), nothrow);
      if (rec) {
        const bool timeout = timed_out();
        upstream_ = nullptr;
        if (!timeout && received == 0 && reused && replayable && attempt == 0) {  // dead idle connection: retry
          ex.flags.set(observe::Flag::URX);
          metrics.upstream_retry(group.metrics_id);
          break;
        }
        in_.consume(inline_body);
        ex.request_body_done = replayable || ex.request_body_done;
        ex.flags.set(timeout ? observe::Flag::UT : observe::Flag::UC);
        co_return co_await send_error(ex, timeout ? 504 : 502,
                                      timeout ? "upstream response timeout" : "upstream closed");
      }
      received += rn;
      up->input.commit(rn);
    }
    got_response = upstream_ != nullptr;
    if (got_response) ex.upstream_status = sc_->resp.status;
  }
  if (!got_response) {
    in_.consume(inline_body);
    ex.request_body_done = true;
    ex.flags.set(observe::Flag::UC);
    co_return co_await send_error(ex, 502, "upstream failed");
  }
  in_.consume(inline_body);
  ex.bytes_received += inline_body;
  ex.request_body_done = true;

  // The response head goes downstream with the first body bytes.
  if (sc_->resp.status == 101) {
    sc_->out.clear();
    http::write_downstream_response(sc_->resp, route.response_headers, {sc_->request_id, true, false, true}, sc_->out);
    up->input.consume(sc_->resp.head_size);
    set_phase(Phase::client_write, route.send_timeout);
    auto [cec, cn] = co_await asio::async_write(client_, asio::buffer(sc_->out), nothrow);
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
  http::ResponseInfo rinfo{sc_->request_id, ex.keep_alive, ex.head, false};
  rinfo.client_http11 = ex.version_minor >= 1;
  http::write_downstream_response(sc_->resp, route.response_headers, rinfo, sc_->out);
  up->input.consume(sc_->resp.head_size);
  ex.status = sc_->resp.status;
  const bool complete = co_await stream_response_body(ex, *up, sc_->resp, chunk_to_client);
  upstream_ = nullptr;
  ex.upstream_end = Clock::now();
  if (!complete) {
    if (!ex.flags.has(observe::Flag::DC)) ex.flags.set(timed_out() ? observe::Flag::UT : observe::Flag::UC);
    // Bad framing or a failure before anything reached the client still gets a proper answer.
    if (!ex.response_started) co_return co_await send_error(ex, timed_out() ? 504 : 502, "upstream body");
    co_return false;
  }

  if (sc_->resp.keep_alive && sc_->resp.body != http::BodyKind::until_close && up->input.empty()) {
    const auto& g = group;
    pool.give_back(std::move(up), {g.max_idle_per_endpoint, g.idle_timeout, g.max_requests_per_connection},
                   Clock::now());
  }
  co_return ex.keep_alive;
}

}  // namespace rampart::server
