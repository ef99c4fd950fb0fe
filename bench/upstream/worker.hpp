// One thread's share of rampart-upstream: its own io_context, its own SO_REUSEPORT acceptor,
// its own response cache. Connections live and die on the worker that accepted them.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include <boost/asio.hpp>

#include "response_cache.hpp"
#include "server_context.hpp"

namespace rampart::upstream {

// SO_REUSEPORT, which Asio has no named option for.
using reuse_port = boost::asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

class worker {
 public:
  // `ctx` must outlive the worker; `index` selects its counters.
  worker(server_context& ctx, std::size_t index);
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  // Opens one more acceptor with SO_REUSEADDR and SO_REUSEPORT, binds it to `ep` and listens;
  // returns the bound address. Start-up only: throws boost::system::system_error on failure.
  boost::asio::ip::tcp::endpoint listen(const boost::asio::ip::tcp::endpoint& ep);

  // Accepts and serves connections until stop(). Call on the worker's own thread, once.
  void run();
  // Makes run() return soon. Any thread.
  void stop() { ioc_.stop(); }

 private:
  boost::asio::awaitable<void> accept_loop(boost::asio::ip::tcp::acceptor& acceptor);

  server_context& ctx_;
  std::size_t index_;
  boost::asio::io_context ioc_;
  std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>> acceptors_;
  response_cache cache_;
};

}  // namespace rampart::upstream
