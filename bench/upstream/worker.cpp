#include "worker.hpp"

#include <chrono>

#include "session.hpp"

namespace rampart::upstream {

namespace asio = boost::asio;
using asio::ip::tcp;

worker::worker(server_context& ctx, std::size_t index)
    : ctx_(ctx),
      index_(index),
      // Only this worker's thread touches its sockets, so reactor I/O locking can go; the
      // scheduler keeps its lock because stop() comes from the main thread.
      ioc_(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO),
      cache_(ctx) {}

tcp::endpoint worker::listen(const tcp::endpoint& ep) {
  auto acceptor = std::make_unique<tcp::acceptor>(ioc_);
  acceptor->open(ep.protocol());
  acceptor->set_option(tcp::acceptor::reuse_address(true));
  acceptor->set_option(reuse_port(true));
  acceptor->bind(ep);
  acceptor->listen(asio::socket_base::max_listen_connections);
  acceptors_.push_back(std::move(acceptor));
  return acceptors_.back()->local_endpoint();
}

void worker::run() {
  for (auto& a : acceptors_) asio::co_spawn(ioc_, accept_loop(*a), asio::detached);
  ioc_.run();
}

asio::awaitable<void> worker::accept_loop(tcp::acceptor& acceptor) {
  auto use_tuple = asio::as_tuple(asio::use_awaitable);
  asio::steady_timer backoff(ioc_);
  worker_counters& counters = ctx_.counters(index_);
  while (true) {
    auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      // Out of descriptors or memory: wait a little instead of spinning.
      backoff.expires_after(std::chrono::milliseconds(50));
      co_await backoff.async_wait(use_tuple);
      continue;
    }
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    counters.connections.fetch_add(1, std::memory_order_relaxed);
    asio::co_spawn(ioc_, serve(std::move(socket), ctx_, counters, cache_), asio::detached);
  }
}

}  // namespace rampart::upstream
