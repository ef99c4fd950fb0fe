// One event-loop thread of rampart-bench: its own io_context (concurrency hint 1), the
// connection slots assigned to it, a sweeper enforcing --timeout, and the run's phases
// (warm-up, measured window, stop). Shares nothing with other workers but the const plan.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "client_env.hpp"

namespace rampart::bench {

class worker {
 public:
  // `slot_indices`: the global connection numbers this worker runs (they place each slot's
  // open-loop schedule). `plan` must outlive the worker.
  worker(const run_plan& plan, const std::vector<std::size_t>& slot_indices);
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;
  ~worker();

  // Runs the whole timeline on the calling thread; returns after plan.end_ns and stop.
  void run();

  // The measured window's numbers; valid after run().
  const thread_stats& result() const { return final_; }

 private:
  asio::awaitable<void> phases();
  asio::awaitable<void> sweep();
  void stop();
  void on_client_done();

  const run_plan& plan_;
  thread_stats stats_;  // live counters of the current phase
  thread_stats final_;  // copy taken at the end of the measured window
  client_env env_;
  std::vector<std::unique_ptr<slot>> slots_;
  std::size_t live_clients_ = 0;
  asio::steady_timer* sweep_timer_ = nullptr;
  asio::steady_timer* guard_timer_ = nullptr;
  // Last member: destroyed first, so coroutine frames it still holds go before the slots.
  std::unique_ptr<asio::io_context> ioc_;
};

}  // namespace rampart::bench
