// What every connection coroutine of rampart-bench shares: the read-only run plan, its
// thread's stats, and its connection slot (the state the per-thread sweeper and the stop
// sequence reach into). Everything here except run_plan belongs to one event-loop thread.
#pragma once

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include "options.hpp"
#include "request_template.hpp"
#include "results.hpp"
#include "tls.hpp"

namespace rampart::bench {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// Completion token turning errors into values: co_await yields a tuple (error_code, ...).
inline constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

// Monotonic nanoseconds (steady_clock), the time base of every timestamp in the run.
inline std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
inline std::chrono::steady_clock::time_point to_time_point(std::int64_t ns) {
  return std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::nanoseconds(ns)));
}

// Shared by all threads, immutable once the threads start.
struct run_plan {
  const options* opts = nullptr;
  request_template request;
  tcp::endpoint endpoint;
  asio::ssl::context* tls = nullptr;  // null for http://
  std::string sni;
  std::int64_t start_ns = 0;    // connections open from here
  std::int64_t measure_ns = 0;  // warm-up over: counters reset
  std::int64_t end_ns = 0;      // measured window over
};

// Open-loop schedule of one slot: its k-th request is due at first + k * interval.
class pacer {
 public:
  pacer() = default;
  pacer(std::int64_t first_ns, double interval_ns) : first_(first_ns), interval_(interval_ns) {}
  std::int64_t peek() const { return first_ + static_cast<std::int64_t>(std::llround(static_cast<double>(k_) * interval_)); }
  std::int64_t take() {
    const std::int64_t t = peek();
    ++k_;
    return t;
  }

 private:
  std::int64_t first_ = 0;
  double interval_ = 0;
  std::uint64_t k_ = 0;
};

// One of the --connections: reconnects as needed for the whole run.
struct slot {
  slot(std::size_t index_, std::size_t streams) : index(index_), inflight(streams, 0) {}

  std::size_t index;
  std::int64_t connect_started = 0;   // non-zero while connecting (for the timeout)
  std::vector<std::int64_t> inflight;  // send time per in-flight request, 0 when free
  tcp::socket* socket = nullptr;       // TCP socket of the current connection, if any
  asio::steady_timer* waiter = nullptr;  // the timer the coroutine may be waiting on
  bool timed_out = false;  // the sweeper counted a timeout and closed the connection
  tls_session_holder session;
  pacer pace;
};

struct client_env {
  const run_plan& plan;
  thread_stats& stats;
  bool stopping = false;
};

enum class failure { connect, timeout, reset, protocol, tls };

// Counts a failed connection or request, unless the run is stopping or the sweeper already
// counted it as a timeout (the flag is consumed).
inline void note_failure(client_env& env, slot& s, failure f) {
  if (env.stopping) return;
  if (s.timed_out) {
    s.timed_out = false;
    return;
  }
  auto& c = env.stats.c;
  switch (f) {
    case failure::connect: ++c.connect_errors; break;
    case failure::timeout: ++c.timeouts; break;
    case failure::reset: ++c.resets; break;
    case failure::protocol: ++c.protocol_errors; break;
    case failure::tls: ++c.tls_errors; break;
  }
}

// Waits on `timer` until `due_ns` (returns at once when it has passed). False when stopping.
asio::awaitable<bool> wait_until(client_env& env, slot& s, asio::steady_timer& timer, std::int64_t due_ns);

}  // namespace rampart::bench
