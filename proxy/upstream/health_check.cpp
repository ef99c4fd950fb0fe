// The health checker's thread, schedule and probes. Everything below except start/stop/update's
// hand-off runs on the checker thread: one coroutine per target loops "wait, probe, record".
#include "upstream/health_check.hpp"

#include "core/buffer.hpp"
#include "core/net.hpp"
#include "h2/client.hpp"
#include "http/parser.hpp"
#include "tls/stream.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <future>

namespace rampart::upstream {

namespace asio = boost::asio;
using asio::awaitable;
using tcp = asio::ip::tcp;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
constexpr auto kMaxFirstDelay = std::chrono::milliseconds(100);
constexpr auto kMinInterval = std::chrono::milliseconds(1);
constexpr std::size_t kBodyLimit = 64 * 1024;   // body_contains looks at this much body
constexpr std::size_t kInputBuffer = 40 * 1024; // > the head limit, so the parser's 431 comes first

bool same_spec(const config::HealthCheckSpec& a, const config::HealthCheckSpec& b) {
  return a.type == b.type && a.method == b.method && a.path == b.path && a.host == b.host &&
         a.expect_status == b.expect_status && a.body_contains == b.body_contains && a.interval == b.interval &&
         a.timeout == b.timeout && a.jitter == b.jitter && a.healthy_threshold == b.healthy_threshold &&
         a.unhealthy_threshold == b.unhealthy_threshold && a.start_healthy == b.start_healthy;
}

// TLS contexts are rebuilt with every snapshot; the key carries their settings (see
// snapshot::Endpoint::key), so only TLS or not is compared here.
bool same_target(const HealthChecker::Target& a, const HealthChecker::Target& b) {
  return a.key == b.key && a.pool == b.pool && a.address == b.address && a.host == b.host && a.state == b.state &&
         (a.tls == nullptr) == (b.tls == nullptr) && a.h2 == b.h2 && same_spec(a.spec, b.spec);
}

// "host" of "host:port" ("[v6]:port" too): the name TLS sends and verifies.
std::string host_of(const std::string& host_port) {
  std::string why;
  if (auto hp = core::parse_host_port(host_port, /*allow_port_zero=*/true, why)) return hp->host;
  return host_port;
}

double clamp_jitter(double j) { return std::clamp(j, 0.0, 1.0); }

http::Method method_of(std::string_view m) {
  if (m == "HEAD") return http::Method::head;
  if (m == "CONNECT") return http::Method::connect;
  return http::Method::get;  // parse_response only distinguishes the two above
}

bool status_expected(const config::HealthCheckSpec& spec, int status) {
  return std::any_of(spec.expect_status.begin(), spec.expect_status.end(),
                     [status](const auto& r) { return status >= r.first && status <= r.second; });
}

}  // namespace

// One target's schedule, counters and I/O objects. Owned by probes_ while current and by its
// coroutine while that runs; touched only on the checker thread (or under control_mutex_ while the
// thread is not running).
struct HealthChecker::Probe {
  Probe(asio::io_context& ioc, Target t) : target(std::move(t)), timer(ioc), deadline(ioc), socket(ioc) {}
  Target target;
  asio::steady_timer timer;     // until the next probe
  asio::steady_timer deadline;  // the current probe's timeout: closes the socket
  tcp::socket socket;
  std::unique_ptr<tls::Stream> tls;  // TLS targets, during a probe (uses `socket`: declared after it)
  std::uint32_t successes = 0;  // consecutive
  std::uint32_t failures = 0;   // consecutive
  std::uint64_t attempt = 0;    // tells a stale deadline expiry from the current one
  bool timed_out = false;
  bool removed = false;
};

HealthChecker::HealthChecker(std::function<void(const Event&)> on_event)
    : on_event_(std::move(on_event)), rng_(std::random_device{}()) {}

HealthChecker::~HealthChecker() {
  stop();
  // Let every coroutine finish on this thread (the checker thread is gone): aborted timers and
  // sockets complete, the loops see `removed` and return, so nothing is left suspended.
  for (auto& [key, probe] : probes_) retire(*probe);
  probes_.clear();
  ioc_.restart();
  while (ioc_.poll() > 0) {
  }
}

void HealthChecker::start() {
  std::lock_guard lock(control_mutex_);
  if (running_) return;
  ioc_.restart();
  thread_ = std::thread([this] {
    auto guard = asio::make_work_guard(ioc_);
    ioc_.run();
  });
  running_ = true;
}

void HealthChecker::stop() {
  std::lock_guard lock(control_mutex_);
  if (!running_) return;
  ioc_.stop();
  thread_.join();
  running_ = false;
}

void HealthChecker::update(std::vector<Target> targets) {
  if (ioc_.get_executor().running_in_this_thread()) {  // from on_event
    apply(std::move(targets));
    return;
  }
  std::lock_guard lock(control_mutex_);
  if (!running_) {
    apply(std::move(targets));
    return;
  }
  std::promise<void> done;
  auto applied = done.get_future();
  asio::post(ioc_, [this, &targets, &done] {
    try {
      apply(std::move(targets));
      done.set_value();
    } catch (...) {
      done.set_exception(std::current_exception());
    }
  });
  applied.get();
}

void HealthChecker::apply(std::vector<Target> targets) {
  std::unordered_map<std::string, Target> wanted;
  wanted.reserve(targets.size());
  for (auto& t : targets) wanted.insert_or_assign(t.key, std::move(t));

  std::unordered_map<std::string, std::shared_ptr<Probe>> next;
  next.reserve(wanted.size());
  for (auto& [key, target] : wanted) {
    auto it = probes_.find(key);
    if (it != probes_.end() && same_target(it->second->target, target)) {
      next.emplace(key, std::move(it->second));
      probes_.erase(it);
      continue;
    }
    auto probe = std::make_shared<Probe>(ioc_, std::move(target));
    next.emplace(key, probe);
    launch(std::move(probe));
  }
  for (auto& [key, probe] : probes_) retire(*probe);  // removed or changed
  probes_ = std::move(next);
}

void HealthChecker::launch(std::shared_ptr<Probe> probe) {
  active_.fetch_add(1, std::memory_order_acq_rel);
  const auto delay = first_delay(probe->target.spec);
  asio::co_spawn(ioc_, run(std::move(probe), delay), asio::detached);
}

void HealthChecker::retire(Probe& probe) {
  if (probe.removed) return;
  probe.removed = true;
  probe.timer.cancel();
  probe.deadline.cancel();
  boost::system::error_code ignored;
  probe.socket.close(ignored);
  active_.fetch_sub(1, std::memory_order_acq_rel);
}

std::chrono::nanoseconds HealthChecker::first_delay(const config::HealthCheckSpec& spec) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const auto interval = std::chrono::duration_cast<std::chrono::nanoseconds>(spec.interval);
  const auto d = std::chrono::nanoseconds(
      static_cast<std::int64_t>(static_cast<double>(interval.count()) * clamp_jitter(spec.jitter) * u(rng_)));
  return std::min<std::chrono::nanoseconds>(d, kMaxFirstDelay);
}

std::chrono::nanoseconds HealthChecker::next_delay(const config::HealthCheckSpec& spec) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const auto interval = std::chrono::duration_cast<std::chrono::nanoseconds>(spec.interval);
  const auto d = std::chrono::nanoseconds(static_cast<std::int64_t>(
      static_cast<double>(interval.count()) * (1.0 - clamp_jitter(spec.jitter) * u(rng_))));
  return std::max<std::chrono::nanoseconds>(d, kMinInterval);
}

// The target's loop: wait, probe, record; ends when the target is retired.
awaitable<void> HealthChecker::run(std::shared_ptr<Probe> probe, std::chrono::nanoseconds first_delay) {
  if (probe->removed) co_return;  // retired before the loop ever ran
  probe->timer.expires_after(first_delay);
  for (;;) {
    co_await probe->timer.async_wait(nothrow);
    if (probe->removed) co_return;
    Outcome outcome = co_await probe_once(probe);
    if (probe->removed) co_return;  // result discarded
    record(*probe, std::move(outcome));
    if (probe->removed) co_return;  // on_event called update()
    probe->timer.expires_after(next_delay(probe->target.spec));
  }
}

// One probe under one deadline: on expiry the socket is closed, which fails whatever I/O is
// pending; the outcome then says "timeout".
awaitable<HealthChecker::Outcome> HealthChecker::probe_once(std::shared_ptr<Probe> probe) {
  Probe& p = *probe;
  const auto attempt = ++p.attempt;
  p.timed_out = false;
  p.deadline.expires_after(p.target.spec.timeout);
  p.deadline.async_wait([weak = std::weak_ptr<Probe>(probe), attempt](const boost::system::error_code& ec) {
    auto q = weak.lock();
    if (ec || !q || q->attempt != attempt) return;
    q->timed_out = true;
    boost::system::error_code ignored;
    q->socket.close(ignored);
  });

  Outcome out;
  auto [ec] = co_await p.socket.async_connect(p.target.address, nothrow);  // opens the socket
  if (!ec && p.target.tls) {
    SSL* ssl = p.target.tls->new_ssl(host_of(p.target.host), nullptr);
    if (!ssl) {
      out.detail = "tls: cannot create a connection";
    } else {
      p.tls = std::make_unique<tls::Stream>(p.socket, ssl, nullptr, tls::Stream::Role::client);
      if (auto hec = co_await p.tls->handshake()) out.detail = "tls: " + tls::ClientContext::failure_reason(ssl, hec);
    }
  }
  if (ec) {
    out.detail = "connect: " + ec.message();
  } else if (!out.detail.empty()) {
    // the TLS handshake failed
  } else if (p.target.spec.type == config::HealthCheckSpec::Type::tcp) {
    out.ok = true;
  } else if (p.target.h2) {
    out = co_await h2_exchange(p);
  } else {
    out = co_await http_exchange(p);
  }
  p.deadline.cancel();
  p.tls.reset();
  boost::system::error_code ignored;
  if (p.socket.is_open()) {
    p.socket.shutdown(tcp::socket::shutdown_both, ignored);
    p.socket.close(ignored);
  }
  if (!out.ok && p.timed_out) out.detail = "timeout";
  co_return out;
}

// Sends the request and judges the response: status, then (only when body_contains is set) up to
// kBodyLimit bytes of body. Memory: kInputBuffer for raw input plus kBodyLimit of body.
awaitable<HealthChecker::Outcome> HealthChecker::http_exchange(Probe& p) {
  const auto& spec = p.target.spec;
  auto fail = [](std::string why) { return Outcome{false, std::move(why)}; };

  std::string request;
  request.reserve(128 + spec.method.size() + spec.path.size() + p.target.host.size());
  request.append(spec.method).append(" ").append(spec.path).append(" HTTP/1.1\r\nHost: ");
  request.append(spec.host ? *spec.host : p.target.host);
  request.append("\r\nUser-Agent: rampart-health-check\r\nConnection: close\r\n\r\n");
  {
    std::tuple<boost::system::error_code, std::size_t> r;
    if (p.tls) r = co_await p.tls->write(asio::buffer(request));
    else r = co_await asio::async_write(p.socket, asio::buffer(request), nothrow);
    if (const auto ec = std::get<0>(r)) co_return fail("write: " + ec.message());
  }

  core::FlatBuffer in;
  in.reserve(kInputBuffer);
  // Reads more input after what is there. Returns the error (eof when the server closed).
  auto read_more = [&]() -> awaitable<boost::system::error_code> {
    if (in.write_space() == 0) in.compact();
    const auto space = asio::buffer(in.write_ptr(), in.write_space());
    std::tuple<boost::system::error_code, std::size_t> r;
    if (p.tls) r = co_await p.tls->read_some(space);
    else r = co_await p.socket.async_read_some(space, nothrow);
    const auto [ec, n] = r;
    if (!ec) in.commit(n);
    co_return ec;
  };

  // Response head; interim 1xx heads are skipped (101 is final: nothing HTTP follows it).
  const http::Limits limits;
  const http::Method method = method_of(spec.method);
  http::ResponseHead head;
  for (;;) {
    http::ParseError perr;
    const auto r = http::parse_response(in.data(), limits, method, head, perr);
    if (r == http::ParseResult::error) co_return fail(std::string("invalid response: ") + perr.reason);
    if (r == http::ParseResult::complete) {
      if (head.status >= 200 || head.status == 101) break;
      in.consume(head.head_size);
      continue;
    }
    if (in.size() == in.capacity()) co_return fail("invalid response: header section too large");
    const auto ec = co_await read_more();
    if (ec == asio::error::eof) co_return fail("invalid response: closed before the response head");
    if (ec) co_return fail("read: " + ec.message());
  }
  const int status = head.status;
  const auto kind = head.body;
  const std::uint64_t content_length = head.content_length;
  in.consume(head.head_size);

  if (!status_expected(spec, status)) co_return fail("status " + std::to_string(status));
  if (!spec.body_contains) co_return Outcome{true, {}};

  // Body: collect up to kBodyLimit bytes, stop as soon as the substring shows up.
  const std::string& needle = *spec.body_contains;
  std::string body;
  std::size_t searched = 0;  // body before this offset cannot start a match
  auto append = [&](std::string_view piece) {
    body.append(piece.substr(0, kBodyLimit - body.size()));
  };
  auto found = [&] {
    if (body.find(needle, searched) != std::string::npos) return true;
    searched = body.size() >= needle.size() ? body.size() - needle.size() + 1 : 0;
    return false;
  };
  auto verdict = [&] { return found() ? Outcome{true, {}} : fail("body mismatch"); };

  switch (kind) {
    case http::BodyKind::none:
      co_return verdict();

    case http::BodyKind::content_length: {
      const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(content_length, kBodyLimit));
      for (;;) {
        append(in.data().substr(0, want - body.size()));
        in.consume(in.size());
        if (found()) co_return Outcome{true, {}};
        if (body.size() >= want) co_return fail("body mismatch");
        const auto ec = co_await read_more();
        if (ec == asio::error::eof) co_return fail("invalid response: body shorter than Content-Length");
        if (ec) co_return fail("read: " + ec.message());
      }
    }

    case http::BodyKind::until_close:
      for (;;) {
        append(in.data());
        in.consume(in.size());
        if (found()) co_return Outcome{true, {}};
        if (body.size() >= kBodyLimit) co_return fail("body mismatch");
        const auto ec = co_await read_more();
        if (ec == asio::error::eof) co_return fail("body mismatch");
        if (ec) co_return fail("read: " + ec.message());
      }

    case http::BodyKind::chunked: {
      http::ChunkedDecoder decoder;
      for (;;) {
        std::size_t consumed = 0;
        std::string_view piece;
        const auto st = decoder.decode(in.data(), consumed, piece);
        if (st == http::ChunkedDecoder::Status::data) append(piece);
        in.consume(consumed);
        if (st == http::ChunkedDecoder::Status::error) co_return fail("invalid response: bad chunked body");
        if (st == http::ChunkedDecoder::Status::data) {
          if (found()) co_return Outcome{true, {}};
          if (body.size() >= kBodyLimit) co_return fail("body mismatch");
          continue;
        }
        if (st == http::ChunkedDecoder::Status::done) co_return verdict();
        const auto ec = co_await read_more();
        if (ec == asio::error::eof) co_return fail("invalid response: chunked body cut short");
        if (ec) co_return fail("read: " + ec.message());
      }
    }
  }
  co_return fail("invalid response");
}

// The same request as one HTTP/2 stream (protocol: h2 pools), judged the same way: status, then
// (only when body_contains is set) up to kBodyLimit bytes of body. The codec checks the response
// as strictly as it does for proxied requests; a malformed response or a reset stream fails.
awaitable<HealthChecker::Outcome> HealthChecker::h2_exchange(Probe& p) {
  const auto& spec = p.target.spec;
  auto fail = [](std::string why) { return Outcome{false, std::move(why)}; };
  if (p.tls) {
    const unsigned char* proto = nullptr;
    unsigned int len = 0;
    SSL_get0_alpn_selected(p.tls->native_handle(), &proto, &len);
    if (std::string_view(reinterpret_cast<const char*>(proto), proto ? len : 0) != "h2")
      co_return fail("tls: the endpoint did not choose h2 by ALPN");
  }

  // What the stream brings: the final status, the body (bounded), its end or its reset.
  struct Collect final : h2::ClientConnection::Handler {
    int status = 0;
    std::string body;
    bool ended = false, closed = false;
    std::uint32_t close_code = 0;
    const char* malformed = nullptr;
    void on_response(std::uint32_t, int s, std::span<const http::Header>) override { status = s; }
    void on_data(std::uint32_t, std::string_view data) override {
      body.append(data.substr(0, kBodyLimit - std::min(kBodyLimit, body.size())));
    }
    void on_trailers(std::uint32_t, std::span<const http::Header>) override {}
    void on_end_stream(std::uint32_t) override { ended = true; }
    void on_stream_close(std::uint32_t, std::uint32_t code) override {
      closed = true;
      close_code = code;
    }
    void on_malformed(std::uint32_t, const char* reason) override { malformed = reason; }
  } got;
  h2::ClientSettings settings;
  settings.max_header_list_size = 32 * 1024;
  h2::ClientConnection conn(settings, got);
  const std::string_view authority = spec.host ? std::string_view(*spec.host) : std::string_view(p.target.host);
  const http::Header user_agent{"user-agent", "rampart-health-check"};
  const auto stream = conn.submit_request(spec.method, p.tls ? "https" : "http", authority, spec.path,
                                          std::span<const http::Header>(&user_agent, 1), /*end_stream=*/true);
  if (!stream) co_return fail("h2: cannot start the request");

  std::string out;
  std::string in(16 * 1024, '\0');
  std::size_t consumed = 0;  // body bytes handed back to the windows
  bool over = false;         // receive() said the connection is over
  for (;;) {
    out.clear();
    while (conn.produce(out) != 0) {
    }
    if (!out.empty()) {
      std::tuple<boost::system::error_code, std::size_t> r;
      if (p.tls) r = co_await p.tls->write(asio::buffer(out));
      else r = co_await asio::async_write(p.socket, asio::buffer(out), nothrow);
      if (const auto ec = std::get<0>(r)) co_return fail("write: " + ec.message());
    }
    if (got.malformed) co_return fail(std::string("invalid response: ") + got.malformed);
    if (got.status != 0) {
      if (!status_expected(spec, got.status)) co_return fail("status " + std::to_string(got.status));
      if (!spec.body_contains) co_return Outcome{true, {}};
      if (got.body.find(*spec.body_contains) != std::string::npos) co_return Outcome{true, {}};
      if (got.ended || got.body.size() >= kBodyLimit) co_return fail("body mismatch");
    }
    if (got.closed) co_return fail("h2: stream reset (error " + std::to_string(got.close_code) + ")");
    if (over || conn.done()) {  // a connection error, or the endpoint's GOAWAY before our stream
      if (conn.failure() != h2::ClientFailure::none)
        co_return fail(std::string("h2: connection error: ") + h2::to_string(conn.failure()));
      co_return fail(conn.goaway_received() ? "h2: GOAWAY before the response" : "h2: connection closed");
    }
    if (got.body.size() > consumed) {
      conn.consume(*stream, got.body.size() - consumed);
      consumed = got.body.size();
    }
    std::tuple<boost::system::error_code, std::size_t> r;
    if (p.tls) r = co_await p.tls->read_some(asio::buffer(in));
    else r = co_await p.socket.async_read_some(asio::buffer(in), nothrow);
    const auto [ec, n] = r;
    if (ec == asio::error::eof) co_return fail("invalid response: closed before the response");
    if (ec) co_return fail("read: " + ec.message());
    over = !conn.receive(std::string_view(in.data(), n));  // decided at the top, after flushing
  }
}

void HealthChecker::record(Probe& p, Outcome outcome) {
  EndpointState& st = *p.target.state;
  const auto& spec = p.target.spec;
  const std::int64_t now = to_ns(Clock::now());
  const Health health = st.health.load(std::memory_order_relaxed);
  auto clear_ejection = [&st] {
    st.ejected_until_ns.store(0, std::memory_order_relaxed);
    st.ejections.store(0, std::memory_order_relaxed);
  };

  std::optional<Health> transition;
  if (outcome.ok) {
    p.failures = 0;
    if (p.successes < UINT32_MAX) ++p.successes;
    const bool to_healthy = health == Health::unknown ||
                            (health == Health::unhealthy && p.successes >= std::max<std::uint32_t>(1, spec.healthy_threshold));
    if (to_healthy) {
      st.healthy_since_ns.store(now, std::memory_order_relaxed);
      clear_ejection();
      st.health.store(Health::healthy, std::memory_order_release);
      transition = Health::healthy;
    } else if (health == Health::healthy && st.ejected(now)) {
      clear_ejection();
    }
  } else {
    p.successes = 0;
    if (p.failures < UINT32_MAX) ++p.failures;
    if (health != Health::unhealthy && p.failures >= std::max<std::uint32_t>(1, spec.unhealthy_threshold)) {
      st.health.store(Health::unhealthy, std::memory_order_release);
      transition = Health::unhealthy;
    }
  }

  if (!on_event_) return;
  const Event event{&p.target, outcome.ok, std::move(outcome.detail), transition};
  try {
    on_event_(event);
  } catch (...) {
    // A logging or metrics failure must not stop the checker.
  }
}

}  // namespace rampart::upstream
