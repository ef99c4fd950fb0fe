#include "policy/rate_limit.hpp"

#include "core/hash.hpp"

#include "http/message.hpp"

#include <algorithm>
#include <bit>
#include <chrono>
#include <charconv>
#include <cstring>
#include <random>

namespace rampart::policy {
namespace {

constexpr std::int64_t kMaxTolerance = std::int64_t{1} << 61;
constexpr std::int64_t kSecond = 1'000'000'000;

constexpr std::uint64_t mix(std::uint64_t x) { return core::mix64(x); }

// Hashes the parts of a key as they come, without joining them into a string: each part is
// prefixed by its length, so ("ab", "c") and ("a", "bc") differ.
class KeyHash {
 public:
  explicit KeyHash(std::uint64_t seed) : h_(seed) {}
  void part(std::string_view bytes) {
    step(bytes.size());
    std::size_t i = 0;
    for (; i + 8 <= bytes.size(); i += 8) {
      std::uint64_t w;
      std::memcpy(&w, bytes.data() + i, 8);
      step(w);
    }
    if (i < bytes.size()) {
      std::uint64_t w = 0;
      std::memcpy(&w, bytes.data() + i, bytes.size() - i);
      step(w);
    }
  }
  std::uint64_t finish() const { return mix(h_ ^ 0x2545f4914f6cdd1dULL); }

 private:
  void step(std::uint64_t w) { h_ = mix((h_ ^ w) + 0x9e3779b97f4a7c15ULL); }
  std::uint64_t h_;
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string_view find_header(std::span<const http::Header> headers, std::string_view name) {
  for (const http::Header& h : headers)
    if (http::iequals(h.name, name)) return h.value;
  return {};
}

// The value of the first cookie called `name` (case-sensitive) in any Cookie header.
std::string_view find_cookie(std::span<const http::Header> headers, std::string_view name) {
  for (const http::Header& h : headers) {
    if (!http::iequals(h.name, "cookie")) continue;
    std::string_view rest = h.value;
    while (!rest.empty()) {
      const std::size_t semi = rest.find(';');
      const std::string_view pair = rest.substr(0, semi);
      rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
      const std::size_t eq = pair.find('=');
      if (eq == std::string_view::npos) continue;
      if (trim(pair.substr(0, eq)) == name) return trim(pair.substr(eq + 1));
    }
  }
  return {};
}

// A structured-field String (RFC 8941 §3.3.3): quotes and backslashes escaped; bytes a String
// cannot hold (controls, non-ASCII) become '?'.
std::string sf_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) {
      out += '?';
    } else {
      out += c;
    }
  }
  return out + "\"";
}

void append_uint(std::string& out, std::uint64_t v) {
  char buf[24];
  const auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
  out.append(buf, end);
}

// Whole seconds, rounded up, at least 1 (delay-seconds for Retry-After and `t`).
std::uint64_t seconds_up(std::int64_t ns) {
  const std::int64_t s = ns <= 0 ? 0 : (ns - 1) / kSecond + 1;
  return static_cast<std::uint64_t>(std::max<std::int64_t>(s, 1));
}

std::uint64_t random_seed() {
  std::random_device rd;
  return mix((std::uint64_t{rd()} << 32) ^ rd());
}

std::int64_t interval_of(const config::RateLimitSpec& spec) {
  const std::int64_t per_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(spec.per).count();
  const std::uint64_t count = std::max<std::uint64_t>(spec.count, 1);
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(static_cast<std::uint64_t>(per_ns) / count));
}

std::int64_t steady_now_ns() {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count();
  return std::max<std::int64_t>(ns, 1);
}

}  // namespace

// ---- RateTable ------------------------------------------------------------------------------

RateTable::RateTable(std::int64_t interval_ns, std::uint64_t burst, std::uint64_t max_keys, std::uint64_t seed)
    : interval_(std::max<std::int64_t>(interval_ns, 1)),
      tolerance_(burst > static_cast<std::uint64_t>(kMaxTolerance / interval_)
                     ? kMaxTolerance
                     : static_cast<std::int64_t>(burst) * interval_),
      mask_(std::bit_ceil(std::max<std::uint64_t>(2 * std::max<std::uint64_t>(max_keys, 1), 2)) - 1),
      probe_(std::min(kProbe, mask_ + 1)),
      seed_(seed),
      cells_(std::make_unique<Cell[]>(mask_ + 1)) {}

// The protocol, per cell: `key` names the bucket's owner, `tat` its state.
// - Update (key matches): load key, load tat (acquire), re-load key; CAS tat from what was seen.
//   A reader whose re-load still shows its key saw a TAT of that key: a takeover writes kClaiming
//   first (a CAS from the free TAT it saw), then the new key, then the new TAT (release), so a TAT
//   loaded after the takeover comes with the new key.
// - Takeover of a free cell (TAT <= now, or never used): CAS tat -> kClaiming, store key, store
//   the new key's first TAT. The old owner's bucket was full, so if it comes back it loses nothing
//   by starting in a fresh cell. A CAS lost to an update means the cell is not free after all.
RateTable::Decision RateTable::check(std::uint64_t key, std::int64_t now) {
  if (key == 0) key = 1;  // 0 marks a never-used cell
  const std::size_t start = static_cast<std::size_t>(key) & mask_;
  auto allowed = [&](std::int64_t tat) {
    Decision d;
    d.allowed = true;
    d.reset_ns = tat - now;
    d.remaining = static_cast<std::uint64_t>(std::max<std::int64_t>(0, tolerance_ + interval_ - d.reset_ns) / interval_);
    return d;
  };
  for (;;) {
    std::size_t free = probe_;
    std::int64_t free_tat = 0;
    std::int64_t soonest = std::numeric_limits<std::int64_t>::max();  // until a busy cell frees up
    for (std::size_t i = 0; i < probe_; ++i) {
      Cell& c = cells_[(start + i) & mask_];
      const std::uint64_t k = c.key.load(std::memory_order_acquire);
      std::int64_t t = c.tat.load(std::memory_order_acquire);
      if (k == key) {
        // A takeover in flight: if it is this key's own (a racing first request), it finishes in
        // a few instructions, so wait for it rather than start a second cell.
        for (int spin = 0; t == kClaiming && spin < 256; ++spin) t = c.tat.load(std::memory_order_acquire);
        while (t != kClaiming && c.key.load(std::memory_order_relaxed) == key) {
          const std::int64_t base = std::max(t, now);
          if (base - now > tolerance_) {
            Decision d;
            d.reset_ns = base - tolerance_ - now;
            return d;
          }
          if (c.tat.compare_exchange_weak(t, base + interval_, std::memory_order_acq_rel, std::memory_order_acquire))
            return allowed(base + interval_);
        }
        continue;  // taken over by another key (this one's bucket was full): look on
      }
      if (t == kClaiming) continue;
      if (t <= now) {
        if (free == probe_) {
          free = i;
          free_tat = t;
        }
      } else {
        soonest = std::min(soonest, t - now);
      }
    }
    if (free == probe_) {
      Decision d;
      d.over_key_bound = true;
      d.reset_ns = soonest == std::numeric_limits<std::int64_t>::max() ? interval_ : soonest;
      return d;
    }
    Cell& c = cells_[(start + free) & mask_];
    if (c.tat.compare_exchange_strong(free_tat, kClaiming, std::memory_order_acq_rel, std::memory_order_acquire)) {
      c.key.store(key, std::memory_order_relaxed);
      const std::int64_t tat = now + interval_;  // a fresh bucket admits its first request
      c.tat.store(tat, std::memory_order_release);
      return allowed(tat);
    }
    // The free cell changed under us (its owner came back, or another key took it): look again.
  }
}

// ---- RateTableRegistry ----------------------------------------------------------------------

std::shared_ptr<RateTable> RateTableRegistry::table(const std::string& name, const config::RateLimitSpec& spec) {
  std::string id = std::to_string(name.size()) + ":" + name + "|" + std::to_string(spec.count) + "/" +
                   std::to_string(spec.per.count()) + "ms|" + std::to_string(spec.burst) + "|" +
                   std::to_string(spec.max_keys);
  for (const config::RateKeyPartSpec& p : spec.key)
    id += "|" + std::to_string(static_cast<int>(p.kind)) + ":" + p.name;

  std::lock_guard lock(mu_);
  for (auto it = tables_.begin(); it != tables_.end();) it = it->second.expired() ? tables_.erase(it) : std::next(it);
  if (auto live = tables_[id].lock()) return live;
  auto fresh = std::make_shared<RateTable>(interval_of(spec), spec.burst, spec.max_keys, random_seed());
  tables_[id] = fresh;
  return fresh;
}

std::size_t RateTableRegistry::live() const {
  std::lock_guard lock(mu_);
  return static_cast<std::size_t>(
      std::count_if(tables_.begin(), tables_.end(), [](const auto& e) { return !e.second.expired(); }));
}

RateTableRegistry& RateTableRegistry::process() {
  static RateTableRegistry registry;  // the buckets' home across snapshots (ARCHITECTURE.md)
  return registry;
}

// ---- RateLimit ------------------------------------------------------------------------------

RateLimit::RateLimit(std::string name, config::RateLimitSpec spec, std::uint32_t metrics_id)
    : RateLimit(std::move(name), std::move(spec), metrics_id, RateTableRegistry::process()) {}

RateLimit::RateLimit(std::string name, config::RateLimitSpec spec, std::uint32_t metrics_id,
                     RateTableRegistry& registry)
    : name_(std::move(name)), spec_(std::move(spec)), metrics_id_(metrics_id), table_(registry.table(name_, spec_)) {
  const std::string id = sf_string(name_);
  const auto window_s = std::chrono::duration_cast<std::chrono::seconds>(spec_.per).count();
  policy_line_ = "RateLimit-Policy: " + id + ";q=" + std::to_string(spec_.count) + ";w=" +
                 std::to_string(std::max<std::int64_t>(window_s, 1)) + "\r\n";
  limit_prefix_ = "RateLimit: " + id + ";r=";
}

std::uint64_t RateLimit::key_hash(const RequestContext& ctx) const {
  KeyHash h(table_->key_seed());
  for (const config::RateKeyPartSpec& p : spec_.key) {
    switch (p.kind) {
      case config::RateKeyPartSpec::Kind::client_ip:
        h.part(ctx.client ? std::string_view(reinterpret_cast<const char*>(ctx.client->bytes.data()), ctx.client->bytes.size())
                          : std::string_view{});
        break;
      case config::RateKeyPartSpec::Kind::header: h.part(find_header(ctx.headers, p.name)); break;
      case config::RateKeyPartSpec::Kind::cookie: h.part(find_cookie(ctx.headers, p.name)); break;
      case config::RateKeyPartSpec::Kind::route: h.part(ctx.route); break;
    }
  }
  return h.finish();
}

int RateLimit::on_request(const RequestContext& ctx) const { return on_request_at(ctx, steady_now_ns()); }

int RateLimit::on_request_at(const RequestContext& ctx, std::int64_t now_ns) const {
  const RateTable::Decision d = table_->check(key_hash(ctx), now_ns);
  const RateDecision decision = d.allowed          ? RateDecision::allowed
                                : d.over_key_bound ? RateDecision::over_key_bound
                                : spec_.dry_run    ? RateDecision::dry_run_limited
                                                   : RateDecision::limited;
  const bool limit = !d.allowed && !spec_.dry_run;
  if (RequestNotes* notes = ctx.notes) {
    notes->add_rate(metrics_id_, decision);
    std::string& out = notes->header_lines;
    if (limit) {
      out += "Retry-After: ";
      append_uint(out, seconds_up(d.reset_ns));
      out += "\r\n";
    }
    if (spec_.headers) {
      out += policy_line_;
      out += limit_prefix_;
      append_uint(out, d.remaining);
      out += ";t=";
      append_uint(out, seconds_up(d.reset_ns));
      out += "\r\n";
    }
  }
  return limit ? spec_.status : 0;
}

}  // namespace rampart::policy
