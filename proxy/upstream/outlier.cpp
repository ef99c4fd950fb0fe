#include "upstream/outlier.hpp"

#include <algorithm>

namespace rampart::upstream {
namespace {

void clear(std::atomic<std::uint32_t>& c) {
  if (c.load(std::memory_order_relaxed) != 0) c.store(0, std::memory_order_relaxed);
}

std::int64_t ns(core::Duration d) { return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count(); }

}  // namespace

Ejection record_outcome(EndpointState& self, std::span<const EndpointState* const> pool, const config::OutlierSpec& spec,
                        Outcome outcome, std::int64_t now_ns) {
  if (outcome == Outcome::server_error && spec.consecutive_5xx == 0) outcome = Outcome::success;
  if (outcome == Outcome::success) {
    clear(self.consecutive_failures);
    clear(self.consecutive_5xx);
    return {};
  }
  if (spec.consecutive_failures == 0 && spec.consecutive_5xx == 0) return {};
  // A failure counts towards both thresholds (a reset is at least as bad as a 5xx); a 5xx only
  // towards consecutive_5xx, and it ends a run of connection failures.
  std::uint32_t failures = 0;
  if (outcome == Outcome::failure) {
    failures = self.consecutive_failures.fetch_add(1, std::memory_order_relaxed) + 1;
  } else {
    clear(self.consecutive_failures);
  }
  const std::uint32_t errors = self.consecutive_5xx.fetch_add(1, std::memory_order_relaxed) + 1;
  const bool trip = (spec.consecutive_failures != 0 && failures >= spec.consecutive_failures) ||
                    (spec.consecutive_5xx != 0 && errors >= spec.consecutive_5xx);
  if (!trip) return {};

  const std::int64_t until = self.ejected_until_ns.load(std::memory_order_relaxed);
  if (until > now_ns) return {};  // already ejected (requests that were in flight)
  // At most max_ejected_percent of the pool out at once (at least one endpoint when the share is
  // not zero), so passive health can never empty a pool by itself.
  if (spec.max_ejected_percent == 0) return {};
  std::size_t ejected = 0;
  for (const EndpointState* s : pool) ejected += s->ejected(now_ns) ? 1 : 0;
  const std::size_t cap = std::max<std::size_t>(1, pool.size() * spec.max_ejected_percent / 100);
  if (ejected >= cap) return {};

  // Ejections in a row grow the time; an endpoint that stayed in for max_ejection_time since its
  // last ejection ended starts over.
  std::uint32_t streak = self.ejections.load(std::memory_order_relaxed);
  if (until != 0 && now_ns - until > ns(spec.max_ejection_time)) streak = 0;
  const std::int64_t duration = std::min(ns(spec.base_ejection_time) * static_cast<std::int64_t>(streak + 1),
                                         ns(spec.max_ejection_time));
  std::int64_t expected = until;
  if (!self.ejected_until_ns.compare_exchange_strong(expected, now_ns + duration, std::memory_order_relaxed))
    return {};  // another worker ejected it first
  self.ejections.store(streak + 1, std::memory_order_relaxed);
  self.ejections_total.fetch_add(1, std::memory_order_relaxed);
  self.consecutive_failures.store(0, std::memory_order_relaxed);
  self.consecutive_5xx.store(0, std::memory_order_relaxed);
  return {true, std::chrono::duration_cast<core::Duration>(std::chrono::nanoseconds(duration))};
}

}  // namespace rampart::upstream
