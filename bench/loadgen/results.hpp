// What rampart-bench measures: per-thread counters and latency histogram (merged after the
// run), and the two ways of printing them (the JSON contract and a wrk-like table).
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "histogram.hpp"
#include "options.hpp"

namespace rampart::bench {

struct counters {
  std::uint64_t requests = 0;        // completed responses (any status)
  std::uint64_t bytes_received = 0;  // HTTP/1.1: response heads and bodies; h2: all frames
  std::array<std::uint64_t, 5> status{};  // 1xx..5xx
  std::uint64_t connect_errors = 0;
  std::uint64_t timeouts = 0;
  std::uint64_t resets = 0;
  std::uint64_t protocol_errors = 0;
  std::uint64_t tls_errors = 0;
  std::uint64_t connections_opened = 0;
  std::uint64_t tls_handshakes = 0;  // completed, resumed ones included
  std::uint64_t tls_resumed = 0;

  void merge(const counters& o);
};

// One thread's measurements. Owned and written by that thread only.
struct thread_stats {
  counters c;
  histogram latency;

  // Counts a completed response with final `status_code` after `latency_ns`.
  void on_response(unsigned status_code, std::int64_t latency_ns) {
    ++c.requests;
    if (status_code >= 100 && status_code < 600) ++c.status[status_code / 100 - 1];
    latency.record(latency_ns > 0 ? static_cast<std::uint64_t>(latency_ns) : 0);
  }
  void reset() {
    c = counters{};
    latency.reset();
  }
  void merge(const thread_stats& o) {
    c.merge(o.c);
    latency.merge(o.latency);
  }
};

struct run_summary {
  const options* opts = nullptr;
  double duration_s = 0;  // the measured window
  thread_stats totals;
};

// The JSON object of the contract (one line, then a newline).
std::string format_json(const run_summary& s);
// The human table, in the spirit of wrk's output.
std::string format_table(const run_summary& s);

// "1.23ms"-style rendering of a duration given in microseconds.
std::string format_us(double us);

}  // namespace rampart::bench
