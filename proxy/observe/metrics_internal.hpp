// Private to the metrics implementation (metrics*.cpp): shard storage and the name tables.
//
// Memory model. Every cell is written by exactly one thread (a worker writes its own shard; the
// control thread writes the process-wide cells) with `store(load(relaxed) + n, relaxed)`: plain
// loads and stores, no read-modify-write instruction, and the scraping thread reads untorn values
// with relaxed loads. Shard storage is chunked: a table is a fixed array of block pointers; the
// control thread allocates the block for a new id (in every shard) before handing the id out, so
// storage never moves while workers write, and the id reaches a worker only through a snapshot
// post (happens-before). render() reads the block pointers under the name mutex, which the
// control thread also holds while it allocates blocks and assigns ids.
#pragma once
#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "observe/metrics.hpp"

namespace rampart::observe::detail {

// Hard caps per id table; the last id of each table is the shared "overflow" series.
constexpr std::size_t kMaxRoutes = 4096;
constexpr std::size_t kMaxUpstreams = 1024;
constexpr std::size_t kMaxEndpoints = 8192;
constexpr std::size_t kMaxListeners = 64;
constexpr std::size_t kMaxRateLimits = 1024;
// Label value of the overflow series (config names beyond a cap share it).
inline constexpr const char* kOverflowName = "<overflow>";
// Label values of route id 0 (no route matched).
inline constexpr const char* kNoRouteName = "-";

// Histogram bucket upper bounds in seconds (le); the last bucket is +Inf.
constexpr std::array<double, 14> kBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                            0.1,    0.25,  0.5,    1,     2.5,   5,     10};
constexpr std::size_t kBuckets = kBounds.size() + 1;
// Upstream status classes: 1xx..5xx, then "none" (no response).
constexpr std::size_t kUpstreamClasses = kStatusClasses + 1;

// Index of the bucket whose le bound is the first >= seconds (kBuckets - 1 = +Inf).
std::size_t bucket_index(double seconds) noexcept;

// A monotonic counter with a single writer thread.
struct Counter {
  std::atomic<std::uint64_t> v{0};
  void add(std::uint64_t n) noexcept { v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  std::uint64_t get() const noexcept { return v.load(std::memory_order_relaxed); }
};

// A gauge with a single writer thread; one shard's value may be negative, the sum is not.
struct Gauge {
  std::atomic<std::int64_t> v{0};
  void add(std::int64_t d) noexcept { v.store(v.load(std::memory_order_relaxed) + d, std::memory_order_relaxed); }
  std::int64_t get() const noexcept { return v.load(std::memory_order_relaxed); }
};

// Non-cumulative bucket counts plus the sum; the count is the sum of the buckets (so the rendered
// +Inf bucket always equals _count).
struct Histogram {
  std::array<Counter, kBuckets> buckets;
  std::atomic<double> sum{0.0};
  void observe(double seconds) noexcept {
    if (!(seconds >= 0)) seconds = 0;  // negative or NaN: a clock glitch, not a value
    buckets[bucket_index(seconds)].add(1);
    sum.store(sum.load(std::memory_order_relaxed) + seconds, std::memory_order_relaxed);
  }
};

struct RouteCell {
  std::array<std::array<Counter, kStatusClasses>, kMethodClasses> requests;
  Histogram duration;
  Counter received;
  Counter sent;
};

struct UpstreamCell {
  std::array<Counter, kUpstreamClasses> requests;
  Histogram response;
  Histogram connect;  // successful connects only
  Counter connect_failures;
  Counter reuses;
  Counter retries;
  Counter budget_exhausted;
  std::array<Counter, 3> overflow;  // by Metrics::Overflow
  Counter unavailable_fail;         // no endpoint available: 503
  Counter unavailable_panic;        // no endpoint available: panic spread
  Gauge active;
  Gauge idle;
};

struct EndpointCell {
  Counter requests;
};

struct ListenerCell {
  Gauge active;
  Counter total;
  std::array<std::array<Counter, 2>, 2> tls_handshakes;  // [tls13][resumed]
  std::array<Counter, kTlsFailureReasonCount> tls_failures;
  Counter rejected_per_ip;      // closed at accept: the client IP's connection limit
  Counter rejected_table_full;  // closed at accept: the per-IP table had no room for a new address
  Counter http2;                // connections that spoke HTTP/2
  std::array<Counter, kHttp2AbuseReasonCount> http2_abusive;
};

struct RateLimitCell {
  std::array<Counter, kRateDecisionCount> decisions;
};

// Grow-only chunked storage for ids [0, Cap): blocks never move once allocated.
template <class Cell, std::size_t Cap>
class Cells {
 public:
  static constexpr std::size_t kBlock = 64;

  Cells() = default;
  Cells(const Cells&) = delete;
  Cells& operator=(const Cells&) = delete;
  ~Cells() {
    for (auto& b : blocks_) delete b.load(std::memory_order_relaxed);
  }

  // Control thread, name mutex held: make the cell of `id` exist (zeroed).
  void ensure(std::uint32_t id) {
    auto& slot = blocks_[id / kBlock];
    if (slot.load(std::memory_order_relaxed) == nullptr) slot.store(new Block(), std::memory_order_release);
  }

  // The cell of `id`, or nullptr when `id` was never ensured (not an id from Metrics). Any
  // thread that learnt `id` after ensure() (snapshot post, or the name mutex).
  Cell* find(std::uint32_t id) const noexcept {
    if (id >= Cap) return nullptr;
    Block* b = blocks_[id / kBlock].load(std::memory_order_acquire);
    return b != nullptr ? &b->cells[id % kBlock] : nullptr;
  }

 private:
  struct alignas(64) Block {
    Cell cells[kBlock];
  };
  std::array<std::atomic<Block*>, (Cap + kBlock - 1) / kBlock> blocks_{};
};

// One worker's cells (WorkerMetrics::Shard is this type; the alias lets the scrape code name it).
struct alignas(64) ShardData {
  Cells<RouteCell, kMaxRoutes> routes;
  Cells<UpstreamCell, kMaxUpstreams> upstreams;
  Cells<EndpointCell, kMaxEndpoints> endpoints;
  Cells<ListenerCell, kMaxListeners> listeners;
  Cells<RateLimitCell, kMaxRateLimits> rate_limits;
  Counter access_log_dropped;
  std::array<Counter, kCompressionCodingCount> compressed;  // responses
  std::array<Counter, kCompressionCodingCount> compressed_in;   // bytes before
  std::array<Counter, kCompressionCodingCount> compressed_out;  // bytes after
};

}  // namespace rampart::observe::detail

namespace rampart::observe {

struct WorkerMetrics::Shard : detail::ShardData {};

namespace detail {

// Name tuple <-> dense id, grow-only; the caller holds the name mutex.
template <std::size_t N>
struct IdTable {
  using Key = std::array<std::string, N>;
  std::uint32_t cap;
  std::map<Key, std::uint32_t> ids;
  std::vector<Key> names;       // names[id]
  std::uint64_t overflowed = 0;  // lookups of new names mapped to the overflow id

  explicit IdTable(std::uint32_t c) : cap(c) {}

  // The id of `key`, creating it (and calling ensure(id) first) when new; beyond the cap the
  // overflow id (cap - 1, labelled kOverflowName).
  template <class Ensure>
  std::uint32_t get(const Key& key, Ensure&& ensure) {
    if (auto it = ids.find(key); it != ids.end()) return it->second;
    if (names.size() + 1 < cap) return add(key, ensure);
    ++overflowed;
    Key over;
    over.fill(kOverflowName);
    if (auto it = ids.find(over); it != ids.end()) return it->second;
    return add(over, ensure);
  }

 private:
  template <class Ensure>
  std::uint32_t add(const Key& key, Ensure& ensure) {
    auto id = static_cast<std::uint32_t>(names.size());
    ensure(id);
    names.push_back(key);
    ids.emplace(key, id);
    return id;
  }
};

}  // namespace detail

struct Metrics::Impl final : prometheus::Collectable {
  Impl(unsigned workers, std::string v);

  std::string version;
  std::vector<std::unique_ptr<WorkerMetrics::Shard>> shards;
  std::vector<WorkerMetrics> handles;  // handles[i] writes shards[i]

  mutable std::mutex names_mu;  // guards the id tables and block allocation; never on the request path
  detail::IdTable<2> routes{detail::kMaxRoutes};  // {server, route}
  detail::IdTable<1> upstreams{detail::kMaxUpstreams};
  detail::IdTable<2> endpoints{detail::kMaxEndpoints};  // {upstream, address}
  detail::IdTable<1> listeners{detail::kMaxListeners};
  detail::IdTable<1> rate_limits{detail::kMaxRateLimits};

  // Control-thread cells (single writer: the control thread).
  detail::Counter reload_success;
  detail::Counter reload_failure;
  std::atomic<double> last_success_s{0.0};
  std::atomic<std::uint64_t> generation{0};
  std::atomic<bool> draining{false};
  std::function<std::vector<Metrics::EndpointHealth>()> endpoint_health;  // set once before scrapes (under names_mu)

  // Every family, shards summed (metrics_collect.cpp). Admin thread; takes names_mu.
  std::vector<prometheus::MetricFamily> Collect() const override;
};

}  // namespace rampart::observe
