// admin::Server lifecycle: bind, the admin thread, the accept loop with its connection cap, and a
// stop that closes everything so the thread ends without waiting for idle clients.
#include "admin/routes.hpp"
#include "admin/server_impl.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <exception>

namespace rampart::admin {

namespace asio = boost::asio;
using asio::awaitable;
using tcp = asio::ip::tcp;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

namespace {

constexpr std::chrono::milliseconds kAcceptRetry{100};  // after EMFILE and the like

// Over the connection cap: a best-effort 503 without waiting for the client, then close.
void reject(tcp::socket& s) {
  std::string out;
  write_reply(text_reply(503, "too many admin connections"), false, false, out);
  (void)::send(s.native_handle(), out.data(), out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  boost::system::error_code ec;
  s.shutdown(tcp::socket::shutdown_send, ec);
  s.close(ec);
}

}  // namespace

bool Server::Impl::bind(const core::HostPort& address, std::string& error) {
  boost::system::error_code ec;
  tcp::resolver resolver(ioc_);
  const auto results = resolver.resolve(address.host, std::to_string(address.port),
                                        tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || results.empty()) {
    error = "cannot resolve admin address '" + address.host + "': " + (ec ? ec.message() : "no address");
    return false;
  }
  const tcp::endpoint ep = results.begin()->endpoint();
  const auto fail = [&](const char* what) {
    error = "cannot listen on admin address " + address.str() + ": " + what + ": " + ec.message();
    acceptor_.close(ec);
    return false;
  };
  acceptor_.open(ep.protocol(), ec);
  if (ec) return fail("socket");
  acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (ec) return fail("SO_REUSEADDR");
  // SO_REUSEPORT: a new process of a binary upgrade binds while the old one runs (see server.hpp).
  int one = 1;
  if (::setsockopt(acceptor_.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    ec.assign(errno, boost::system::system_category());
    return fail("SO_REUSEPORT");
  }
  if (ep.protocol() == tcp::v6()) {
    acceptor_.set_option(asio::ip::v6_only(false), ec);  // "[::]:9901" also takes IPv4
    if (ec) return fail("IPV6_V6ONLY");
  }
  acceptor_.bind(ep, ec);
  if (ec) return fail("bind");
  acceptor_.listen(tcp::socket::max_listen_connections, ec);
  if (ec) return fail("listen");
  port_ = acceptor_.local_endpoint(ec).port();
  if (ec) return fail("getsockname");
  return true;
}

awaitable<void> Server::Impl::accept_loop() {
  asio::steady_timer backoff(ioc_);
  while (!stopping_) {
    auto [ec, socket] = co_await acceptor_.async_accept(nothrow);
    if (stopping_) co_return;
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      // Out of descriptors or a connection reset before accept: wait a little instead of spinning.
      backoff.expires_after(kAcceptRetry);
      co_await backoff.async_wait(nothrow);
      continue;
    }
    if (connections_.size() >= limits_.max_connections) {
      reject(socket);
      continue;
    }
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    auto c = std::make_shared<Connection>(std::move(socket), connections_);
    asio::co_spawn(ioc_, serve(std::move(c)), asio::detached);
  }
}

void Server::Impl::stop() {
  stopping_ = true;
  boost::system::error_code ec;
  acceptor_.close(ec);
  for (Connection* c : connections_) {
    c->timer.cancel();
    c->socket.close(ec);
  }
}

std::unique_ptr<Server> Server::start(const core::HostPort& address, Handlers handlers, std::string& error) {
  return start(address, std::move(handlers), ServerLimits{}, error);
}

std::unique_ptr<Server> Server::start(const core::HostPort& address, Handlers handlers, ServerLimits limits,
                                      std::string& error) {
  auto impl = std::make_unique<Impl>(std::move(handlers), limits);
  if (!impl->bind(address, error)) return nullptr;
  Impl* p = impl.get();
  asio::co_spawn(p->ioc_, p->accept_loop(), asio::detached);
  p->thread_ = std::thread([p] {
    // Handler exceptions are turned into 500s by route(); anything else that escapes a coroutine
    // is reported and the loop goes on, so the admin listener does not take the process down.
    for (;;) {
      try {
        p->ioc_.run();
        return;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "rampart admin: unexpected error: %s\n", e.what());
      } catch (...) {
        std::fprintf(stderr, "rampart admin: unexpected error\n");
      }
    }
  });
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
  if (!impl_) return;
  Impl* p = impl_.get();
  asio::post(p->ioc_, [p] { p->stop(); });
  if (p->thread_.joinable()) p->thread_.join();
}

std::uint16_t Server::port() const { return impl_->port_; }

}  // namespace rampart::admin
