// One coroutine's wait for "something changed", ended by notify() from the same thread (the other
// side of an in-memory pipe put bytes in, took bytes out, or went away); interrupt() ends a wait in
// progress as interrupted (a deadline passed). Neither call does anything when nobody waits: the
// waiter checks its state before it waits. Worker thread only.
#pragma once
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace rampart::server {

class Wakeup {
 public:
  explicit Wakeup(const boost::asio::any_io_executor& ex) : timer_(ex) {}

  // Returns false when interrupt() ended the wait.
  boost::asio::awaitable<bool> wait() {
    waiting_ = true;
    timer_.expires_at(boost::asio::steady_timer::time_point::max());
    co_await timer_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    waiting_ = false;
    const bool interrupted = interrupted_;
    interrupted_ = false;
    co_return !interrupted;
  }
  void notify() {
    if (waiting_) timer_.cancel();
  }
  void interrupt() {
    if (!waiting_) return;
    interrupted_ = true;
    timer_.cancel();
  }
  void reset() { waiting_ = interrupted_ = false; }

 private:
  boost::asio::steady_timer timer_;
  bool waiting_ = false, interrupted_ = false;
};

}  // namespace rampart::server
