#include "worker.hpp"

#include <algorithm>
#include <cstdio>
#include <exception>

#include "h1_client.hpp"
#include "h2_client.hpp"

namespace rampart::bench {

worker::worker(const run_plan& plan, const std::vector<std::size_t>& slot_indices)
    : plan_(plan), env_{plan, stats_}, ioc_(std::make_unique<asio::io_context>(1)) {
  const options& opts = *plan.opts;
  for (const std::size_t index : slot_indices) {
    auto s = std::make_unique<slot>(index, opts.streams);
    if (opts.open_loop()) {
      // Slot i's first request is due i/rate after the start; then one every connections/rate.
      const double interval = static_cast<double>(opts.connections) * 1e9 / opts.rate;
      const double offset = static_cast<double>(index) * 1e9 / opts.rate;
      s->pace = pacer(plan.start_ns + static_cast<std::int64_t>(offset), interval);
    }
    slots_.push_back(std::move(s));
  }
}

worker::~worker() { ioc_.reset(); }

void worker::run() {
  const options& opts = *plan_.opts;
  for (auto& s : slots_) {
    asio::awaitable<void> client = opts.h2 ? run_h2(env_, *s)
                                   : opts.target.tls() ? run_h1_tls(env_, *s)
                                                       : run_h1_plain(env_, *s);
    ++live_clients_;
    asio::co_spawn(*ioc_, std::move(client), [this](std::exception_ptr e) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          std::fprintf(stderr, "rampart-bench: connection task failed: %s\n", ex.what());
        }
      }
      on_client_done();
    });
  }
  asio::co_spawn(*ioc_, phases(), asio::detached);
  asio::co_spawn(*ioc_, sweep(), asio::detached);
  ioc_->run();
}

asio::awaitable<void> worker::phases() {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  if (plan_.measure_ns > plan_.start_ns) {
    timer.expires_at(to_time_point(plan_.measure_ns));
    co_await timer.async_wait(use_nothrow);
    stats_.reset();
  }
  timer.expires_at(to_time_point(plan_.end_ns));
  co_await timer.async_wait(use_nothrow);
  final_ = stats_;
  stop();
  // Bound the shutdown: whatever has not ended 2 s later is abandoned with the io_context.
  guard_timer_ = &timer;
  timer.expires_after(std::chrono::seconds(2));
  if (live_clients_ > 0) {
    auto [ec] = co_await timer.async_wait(use_nothrow);
    if (!ec) ioc_->stop();
  }
  guard_timer_ = nullptr;
}

asio::awaitable<void> worker::sweep() {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  sweep_timer_ = &timer;
  const std::int64_t timeout = plan_.opts->timeout_ns;
  const std::int64_t period = std::clamp<std::int64_t>(timeout / 10, 1'000'000, 100'000'000);
  while (!env_.stopping) {
    timer.expires_after(std::chrono::nanoseconds(period));
    co_await timer.async_wait(use_nothrow);
    if (env_.stopping) break;
    const std::int64_t now = now_ns();
    for (auto& s : slots_) {
      std::uint64_t expired = 0;
      if (s->connect_started != 0 && now - s->connect_started > timeout) {
        ++expired;
        s->connect_started = 0;
      }
      for (auto& t : s->inflight) {
        if (t != 0 && now - t > timeout) {
          ++expired;
          t = 0;
        }
      }
      if (expired == 0) continue;
      stats_.c.timeouts += expired;
      if (s->socket) {
        s->timed_out = true;
        boost::system::error_code ignored;
        s->socket->close(ignored);
      }
    }
  }
  sweep_timer_ = nullptr;
}

void worker::stop() {
  env_.stopping = true;
  for (auto& s : slots_) {
    boost::system::error_code ignored;
    if (s->socket) s->socket->close(ignored);
    if (s->waiter) s->waiter->cancel();
  }
  if (sweep_timer_) sweep_timer_->cancel();
}

void worker::on_client_done() {
  --live_clients_;
  if (live_clients_ == 0 && env_.stopping && guard_timer_) guard_timer_->cancel();
}

}  // namespace rampart::bench
