// rate_limit: a token bucket per key (client IP, a header, a cookie, the route, or a join of
// them), run as GCRA over one table shared by every worker, so that "100/s" means 100 requests a
// second for the process. Over the limit a request is answered at the edge (429 by default) with
// Retry-After; every response of the route can carry RateLimit-Policy / RateLimit
// (draft-ietf-httpapi-ratelimit-headers-08).
//
// The buckets outlive a snapshot: a RateLimit built again from the same name and counting fields
// (a reload that does not change it) finds the same RateTable in a process-wide registry.
#pragma once
#include "policy/policy.hpp"

#include <atomic>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace rampart::policy {

// The buckets of one rate limit: a fixed open-addressing table of GCRA cells keyed by a 64-bit
// key hash. Emission interval T = per / count, tolerance = burst * T; a cell holds its key's
// theoretical arrival time (TAT). A request at `now` is allowed iff max(TAT, now) - now <=
// tolerance, and then moves TAT to max(TAT, now) + T; a limited request changes nothing. A fresh
// key therefore admits burst + 1 at once, then one per T.
//
// Thread: check() may run on every worker at once; no mutex, no allocation. The common path (a
// key already in the table) is a load of the cell's key, a load of its TAT and one CAS on the TAT,
// all in one 16-byte cell.
//
// Capacity is a power of two >= 2 * max_keys. A key lives in the first kProbe cells from its hash.
// A cell whose bucket has refilled (TAT <= now) is free for any key: that is how idle keys expire,
// without a sweeper. A new key that finds neither its cell nor a free one in its window is over
// the key bound: it is limited (see Decision::over_key_bound).
//
// Races (see check() in rate_limit.cpp for the protocol):
// - exact: updates of one key's cell (CAS on the TAT), the reuse of a free cell (its TAT is
//   locked by a CAS before the key changes, and a reader re-checks the key after loading the TAT),
//   a key whose cell is taken over (its bucket was full, so the fresh cell it gets is the same
//   state);
// - inexact, bounded: a key seen for the first time by several threads at the same instant may
//   get one cell per thread; each such thread's request is admitted against a fresh bucket, so the
//   key gets at most (racing threads - 1) extra requests, once; later requests use the first cell
//   of the window and the others expire after one T. A cell reused twice between a reader's two
//   loads of its key (ABA) hands the reader the same key's fresh bucket, which is that key's state.
class RateTable {
 public:
  static constexpr std::size_t kProbe = 16;

  struct Decision {
    bool allowed = false;
    bool over_key_bound = false;  // limited because the key has no cell and none is free
    std::uint64_t remaining = 0;  // requests the key may still send at once, after this one
    // allowed: until the bucket is full again; limited: until the next request would be allowed
    // (over the key bound: until the first cell of the window frees up). Always > 0 when limited.
    std::int64_t reset_ns = 0;
  };

  // interval_ns >= 1 (T); the tolerance burst * T saturates at 2^61 ns. `seed` keys the hash of
  // request keys (key_seed()).
  RateTable(std::int64_t interval_ns, std::uint64_t burst, std::uint64_t max_keys, std::uint64_t seed);
  RateTable(const RateTable&) = delete;
  RateTable& operator=(const RateTable&) = delete;

  // One request of the key `key_hash` at `now_ns` (a steady clock, > 0, non-decreasing per caller
  // up to the races of real clocks, which only cost exactness by the skew).
  Decision check(std::uint64_t key_hash, std::int64_t now_ns);

  std::uint64_t key_seed() const { return seed_; }
  std::size_t capacity() const { return mask_ + 1; }
  std::int64_t interval_ns() const { return interval_; }
  std::int64_t tolerance_ns() const { return tolerance_; }

 private:
  struct alignas(16) Cell {
    std::atomic<std::uint64_t> key{0};  // 0: never used
    std::atomic<std::int64_t> tat{0};   // kClaiming while a new key takes the cell over
  };
  static constexpr std::int64_t kClaiming = std::numeric_limits<std::int64_t>::min();

  const std::int64_t interval_;
  const std::int64_t tolerance_;
  const std::size_t mask_;
  const std::size_t probe_;
  const std::uint64_t seed_;
  std::unique_ptr<Cell[]> cells_;
};

// Process-wide map from a rate limit's identity (its name and the fields that shape its
// buckets: count, per, burst, key, max_keys) to its live table. Holds weak references: a table
// dies with the last policy that uses it. Thread-safe (a mutex, taken only when a policy is built).
class RateTableRegistry {
 public:
  // The live table of this identity, or a new one.
  std::shared_ptr<RateTable> table(const std::string& name, const config::RateLimitSpec& spec);
  // Identities with a live table (for tests).
  std::size_t live() const;
  // The one registry of the process, used by RateLimit's three-argument constructor.
  static RateTableRegistry& process();

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::weak_ptr<RateTable>> tables_;
};

class RateLimit final : public Policy {
 public:
  RateLimit(std::string name, config::RateLimitSpec spec, std::uint32_t metrics_id = 0);
  // With another registry than the process's (tests).
  RateLimit(std::string name, config::RateLimitSpec spec, std::uint32_t metrics_id, RateTableRegistry& registry);

  std::string_view kind() const override { return "rate_limit"; }
  // 0 or spec.status; see on_request_at.
  int on_request(const RequestContext& ctx) const override;
  void on_response(const ResponseContext&, http::HeaderEdits&) const override {}

  // on_request at an explicit steady time in ns (> 0). Records the decision in ctx.notes (when
  // set) and appends its header lines there: Retry-After when it limits, and RateLimit-Policy /
  // RateLimit when spec.headers. In dry run nothing is limited (decision dry_run_limited).
  int on_request_at(const RequestContext& ctx, std::int64_t now_ns) const;
  // The 64-bit hash of the request's key parts, joined (keyed by the table's seed).
  std::uint64_t key_hash(const RequestContext& ctx) const;

  std::uint32_t metrics_id() const { return metrics_id_; }
  const std::string& name() const { return name_; }
  const config::RateLimitSpec& spec() const { return spec_; }
  const std::shared_ptr<RateTable>& table() const { return table_; }

 private:
  std::string name_;
  config::RateLimitSpec spec_;
  std::uint32_t metrics_id_;
  std::shared_ptr<RateTable> table_;
  std::string policy_line_;    // "RateLimit-Policy: \"name\";q=100;w=1\r\n"
  std::string limit_prefix_;   // "RateLimit: \"name\";r="
};

}  // namespace rampart::policy
