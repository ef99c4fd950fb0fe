// Internals of admin::Server shared by server.cpp (lifecycle, accept loop) and connection.cpp
// (one admin connection). Everything here runs on the admin thread, except the constructor,
// bind(), and the thread start/join done by Server.
#pragma once
#include "admin/server.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <thread>

namespace rampart::admin {

// One admin connection. Owned by its Server::Impl::serve() coroutine frame; listed in the server's
// `connections_` while it lives so that stop() can close it.
struct Connection {
  Connection(boost::asio::ip::tcp::socket s, std::list<Connection*>& registry);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  boost::asio::ip::tcp::socket socket;
  boost::asio::steady_timer timer;  // the current deadline; on expiry the socket is closed
  std::uint64_t deadline_seq = 0;   // bumps on each arm(): a stale expiry closes nothing
  std::list<Connection*>& registry;
  std::list<Connection*>::iterator entry;
};

struct Server::Impl {
  Impl(Handlers h, ServerLimits l) : handlers_(std::move(h)), limits_(l) {}

  // Start-up (caller's thread, before the admin thread exists).
  bool bind(const core::HostPort& address, std::string& error);

  // Admin thread.
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> serve(std::shared_ptr<Connection> c);
  void stop();  // closes the acceptor and every connection; run() then returns

  Handlers handlers_;
  ServerLimits limits_;
  bool stopping_ = false;
  // Declared before ioc_ so that it outlives coroutine frames destroyed with the io_context.
  std::list<Connection*> connections_;
  boost::asio::io_context ioc_{1};
  boost::asio::ip::tcp::acceptor acceptor_{ioc_};
  std::uint16_t port_ = 0;
  std::thread thread_;
};

}  // namespace rampart::admin
