// Passive health checking (outlier detection): what a worker does with the outcome of each upstream
// exchange. Consecutive failures eject an endpoint for base_ejection_time times the number of
// ejections in a row (capped by max_ejection_time), while at most max_ejected_percent of the pool
// is ejected at once. An endpoint returns when its ejection time is over or when an active health
// check passes (health_check.cpp clears the ejection).
//
// Any worker thread. Shared state is the endpoint's atomics; a success costs one relaxed load per
// counter (a store only when a counter is not already zero), so a healthy pool shares no written
// cache line between workers.
#pragma once
#include "config/spec.hpp"
#include "upstream/state.hpp"

#include <cstdint>
#include <span>

namespace rampart::upstream {

enum class Outcome : std::uint8_t {
  success,      // a response below 500 (or a 5xx when consecutive_5xx is off)
  server_error, // a 5xx response
  failure,      // connect failure, reset or timeout before a response
};

struct Ejection {
  bool ejected = false;
  core::Duration duration{};  // how long, when ejected
};

// Records `outcome` for endpoint `self` of a pool whose states are `pool` (self among them).
// Returns whether this call ejected the endpoint.
Ejection record_outcome(EndpointState& self, std::span<const EndpointState* const> pool, const config::OutlierSpec& spec,
                        Outcome outcome, std::int64_t now_ns);

}  // namespace rampart::upstream
