#include "server/worker.hpp"

#include "server/session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <sys/socket.h>

#include <cerrno>
#include <csignal>
#include <cstdio>

namespace rampart::server {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
constexpr auto kTick = std::chrono::milliseconds(100);

Worker::Worker(unsigned id, std::shared_ptr<const snapshot::Snapshot> snap, std::uint64_t seed,
               observe::WorkerMetrics& metrics, observe::AccessLogShard* access_log, Log& log)
    : id_(id), gen_(new Generation(std::move(snap), access_log, id)), rng_state_(seed), metrics_(metrics), log_(log) {}

Worker::~Worker() { join(); }

void Worker::start() {
  asio::co_spawn(ioc_, ticker(), asio::detached);
  thread_ = std::thread([this] {
    // Signals belong to the control thread.
    sigset_t set;
    sigfillset(&set);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    ioc_.run();
  });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::add_listener(const std::string& listener, int fd) {
  asio::post(ioc_, [this, listener, fd] {
    auto l = std::make_shared<Listener>();
    l->name = listener;
    boost::system::error_code ec;
    auto native = tcp::endpoint().protocol();
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    native = ss.ss_family == AF_INET6 ? tcp::v6() : tcp::v4();
    l->acceptor = std::make_unique<tcp::acceptor>(ioc_);
    l->acceptor->assign(native, fd, ec);
    if (ec) {
      ::close(fd);
      log_.write(Level::error, "worker %u: cannot take listener %s: %s", id_, listener.c_str(), ec.message().c_str());
      return;
    }
    if (draining_) return;
    listeners_.push_back(l);
    asio::co_spawn(ioc_, accept_loop(l), asio::detached);
  });
}

void Worker::remove_listener(const std::string& listener) {
  asio::post(ioc_, [this, listener] {
    for (auto it = listeners_.begin(); it != listeners_.end();) {
      if ((*it)->name == listener) {
        close_listener(**it);
        it = listeners_.erase(it);
      } else {
        ++it;
      }
    }
  });
}

void Worker::set_snapshot(std::shared_ptr<const snapshot::Snapshot> snap, observe::AccessLogShard* access_log) {
  asio::post(ioc_, [this, snap = std::move(snap), access_log]() mutable {
    // Idle connections of pools that left the config are closed; the others stay warm.
    std::vector<std::string> keep;
    for (const auto& g : snap->upstreams)
      for (const auto& e : g.endpoints) keep.push_back(e.key);
    pool_.retain(keep);
    for (const auto& g : snap->upstreams)
      if (g.metrics_id >= loads_.size()) loads_.resize(g.metrics_id + 1);
    gen_ = GenerationRef(new Generation(std::move(snap), access_log, id_));
  });
}

void Worker::drain(upstream::Clock::time_point deadline) {
  asio::post(ioc_, [this, deadline] {
    draining_ = true;
    drain_deadline_ = deadline;
    for (auto& l : listeners_) close_listener(*l);
    listeners_.clear();
    pool_.clear();
    // Copy: on_drain may end a session, which delists itself later (on its own resumption).
    const auto now = upstream::Clock::now();
    for (Session* s : std::vector<Session*>(sessions_.begin(), sessions_.end())) s->on_drain(now);
  });
}

std::uint64_t Worker::next_random() {
  std::uint64_t z = (rng_state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

bool Worker::sample(double rate) {
  if (rate >= 1.0) return true;
  if (rate <= 0.0) return false;
  return static_cast<double>(next_random() >> 11) * 0x1.0p-53 < rate;
}

void Worker::new_request_id(std::string& out) {
  static constexpr char hex[] = "0123456789abcdef";
  std::uint64_t a = next_random(), b = next_random();
  out.resize(32);
  for (int i = 0; i < 16; ++i) {
    out[i] = hex[(a >> (i * 4)) & 0xf];
    out[16 + i] = hex[(b >> (i * 4)) & 0xf];
  }
}

// Closing a listening socket resets the connections the kernel already completed in its accept
// queue (unless net.ipv4.tcp_migrate_req=1 hands them to another socket of the SO_REUSEPORT group).
// During a reload or a binary upgrade those are real clients, so the queue is emptied first: each
// connection in it is served like any other (with Connection: close when draining).
void Worker::close_listener(Listener& l) {
  const int fd = l.acceptor->native_handle();
  for (;;) {
    int c = ::accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      break;  // EAGAIN: the queue is empty (or out of descriptors: nothing more to save)
    }
    start_session(l, c);
  }
  boost::system::error_code ec;
  l.acceptor->close(ec);
}

void Worker::start_session(const Listener& l, int fd) {
  boost::system::error_code ec;
  tcp::socket socket(ioc_);
  socket.assign(l.acceptor->local_endpoint(ec).protocol(), fd, ec);
  if (ec) {
    ::close(fd);
    return;
  }
  start_session(l, std::move(socket));
}

void Worker::start_session(const Listener& l, tcp::socket socket, const tcp::endpoint* peer_from_accept) {
  const auto& ids = gen_->snap->listener_metrics;
  auto id = ids.find(l.name);
  const std::uint32_t metrics_id = id == ids.end() ? 0 : id->second;
  // The per-IP connection limit: over it, the connection is closed before any byte is read.
  std::shared_ptr<core::ConnectionLimiter> limiter;
  core::IpAddress peer_ip;
  tcp::endpoint peer;
  if (peer_from_accept) {
    peer = *peer_from_accept;
  } else {
    boost::system::error_code pec;
    peer = socket.remote_endpoint(pec);
    if (pec) return;  // already gone
  }
  if (auto lim = gen_->snap->connection_limits.find(l.name); lim != gen_->snap->connection_limits.end()) {
    peer_ip = peer.address().is_v4() ? core::ip_from_v4(peer.address().to_v4().to_uint())
                                     : core::ip_from_v6(peer.address().to_v6().to_bytes());
    if (const auto admitted = lim->second->admit(peer_ip); admitted != core::ConnectionLimiter::Admit::ok) {
      metrics_.connection_rejected_per_ip(metrics_id, admitted == core::ConnectionLimiter::Admit::table_full);
      return;  // the socket closes here
    }
    limiter = lim->second;
  }
  const tls::ServerContext* tls = gen_->snap->tls_for(l.name);
  SSL* ssl = tls ? tls->new_ssl() : nullptr;
  if (tls && !ssl) {  // out of memory: the connection closes
    if (limiter) limiter->release(peer_ip);
    return;
  }
  auto session =
      std::make_unique<Session>(*this, std::move(socket), peer, l.name, metrics_id, tls ? "https" : "http", ssl);
  if (limiter) session->hold_connection_slot(std::move(limiter), peer_ip);
  if (tls && !tls->client_subject_header().empty()) session->set_client_cert_header(tls->client_subject_header());
  asio::co_spawn(ioc_, Session::run_owned(std::move(session)), asio::detached);
}

asio::awaitable<void> Worker::accept_loop(std::shared_ptr<Listener> l) {
  asio::steady_timer backoff(ioc_);
  tcp::endpoint peer;  // filled by accept: no getpeername per connection
  for (;;) {
    auto [ec, socket] = co_await l->acceptor->async_accept(peer, nothrow);
    if (ec) {
      if (ec == asio::error::operation_aborted || !l->acceptor->is_open()) co_return;
      // Out of descriptors or memory: back off instead of spinning.
      backoff.expires_after(std::chrono::milliseconds(50));
      co_await backoff.async_wait(nothrow);
      continue;
    }
    start_session(*l, std::move(socket), &peer);
  }
}

// The idle-connection gauge per upstream, as deltas from what this worker reported last.
void Worker::report_idle_connections() {
  for (const auto& g : gen_->snap->upstreams) {
    std::size_t idle = 0;
    for (const auto& e : g.endpoints) idle += pool_.idle_count(e.key);
    if (g.metrics_id >= idle_reported_.size()) idle_reported_.resize(g.metrics_id + 1, 0);
    auto& last = idle_reported_[g.metrics_id];
    if (idle != last) metrics_.upstream_idle(g.metrics_id, static_cast<int>(idle) - static_cast<int>(last));
    last = idle;
  }
}

// Every tick: enforce session deadlines, expire idle upstream connections, finish draining.
asio::awaitable<void> Worker::ticker() {
  asio::steady_timer timer(ioc_);
  for (;;) {
    timer.expires_after(kTick);
    co_await timer.async_wait(nothrow);
    auto now = upstream::Clock::now();
    if (draining_ && now >= drain_deadline_) {
      // Drain time is up: close whatever is still running.
      for (Session* s : std::vector<Session*>(sessions_.begin(), sessions_.end())) s->on_deadline_passed();
    } else {
      for (Session* s : std::vector<Session*>(sessions_.begin(), sessions_.end())) s->on_tick(now);
    }
    pool_.expire(now);
    h2_pool_.expire(now, draining_);
    report_idle_connections();
    if (draining_ && sessions_.empty()) {
      h2_pool_.clear();  // their reads would keep the worker's context running
      co_return;
    }
  }
}

}  // namespace rampart::server
