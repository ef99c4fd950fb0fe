#include "core/conn_limit.hpp"

#include "core/hash.hpp"

#include <bit>
#include <cassert>
#include <cstring>
#include <random>

namespace rampart::core {
namespace {

constexpr std::uint64_t mix(std::uint64_t x) { return core::mix64(x); }

constexpr std::uint32_t tag_of(std::uint64_t word) { return static_cast<std::uint32_t>(word >> 32); }
constexpr std::uint32_t count_of(std::uint64_t word) { return static_cast<std::uint32_t>(word); }
constexpr std::uint64_t make_word(std::uint32_t tag, std::uint32_t count) {
  return (std::uint64_t{tag} << 32) | count;
}

std::size_t table_size(std::size_t capacity) {
  return std::bit_ceil(std::max(capacity, ConnectionLimiter::kProbe));
}

}  // namespace

ConnectionLimiter::ConnectionLimiter(std::uint32_t per_ip, std::size_t capacity)
    : per_ip_(per_ip),
      mask_(table_size(capacity) - 1),
      seed_(mix((std::uint64_t{std::random_device{}()} << 32) ^ std::random_device{}())),
      slots_(std::make_unique<std::atomic<std::uint64_t>[]>(mask_ + 1)) {
  assert(per_ip >= 1);
}

std::uint64_t ConnectionLimiter::hash(const IpAddress& ip) const {
  std::uint64_t hi = 0, lo = 0;
  std::memcpy(&hi, ip.bytes.data(), 8);
  std::memcpy(&lo, ip.bytes.data() + 8, 8);
  return mix(mix(hi ^ seed_) ^ lo);
}

// Every access that takes part in the limit check is seq_cst: of two threads that each add a
// connection and then sum the address's slots, at least one sees the other's (no store-load
// reordering), so both cannot keep a connection beyond the limit.
ConnectionLimiter::Admit ConnectionLimiter::admit(const IpAddress& ip) {
  const std::uint64_t h = hash(ip);
  const std::uint32_t tag = static_cast<std::uint32_t>(h >> 32);
  const std::size_t start = static_cast<std::size_t>(h) & mask_;
  auto slot = [&](std::size_t i) -> std::atomic<std::uint64_t>& { return slots_[(start + i) & mask_]; };

  for (;;) {
    // The earliest slot already counting this address, else the earliest free one.
    std::size_t match = kProbe, free = kProbe;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kProbe; ++i) {
      const std::uint64_t w = slot(i).load();
      if (count_of(w) > 0 && tag_of(w) == tag) {
        match = i;
        seen = w;
        break;
      }
      if (count_of(w) == 0 && free == kProbe) {
        free = i;
        seen = w;
      }
    }
    std::size_t placed = kProbe;
    if (match < kProbe) {
      std::uint64_t w = seen;
      while (count_of(w) > 0 && tag_of(w) == tag) {
        if (count_of(w) >= per_ip_) return Admit::over_limit;
        if (slot(match).compare_exchange_weak(w, w + 1)) {
          placed = match;
          break;
        }
      }
      if (placed == kProbe) continue;  // the slot drained and may be someone else's now: look again
    } else if (free < kProbe) {
      std::uint64_t w = seen;
      if (!slot(free).compare_exchange_strong(w, make_word(tag, 1))) continue;  // taken meanwhile
      placed = free;
    } else {
      return Admit::table_full;
    }
    // Two threads that met no slot of this address may each have made one: the address's count
    // is the sum of its slots. Over the limit, the connection is taken back.
    std::uint32_t total = 0;
    for (std::size_t i = 0; i < kProbe; ++i) {
      const std::uint64_t w = slot(i).load();
      if (count_of(w) > 0 && tag_of(w) == tag) total += count_of(w);
    }
    if (total <= per_ip_) return Admit::ok;
    release(ip);  // not necessarily from `placed`: a release may have moved our 1 to another slot
    return Admit::over_limit;
  }
}

void ConnectionLimiter::release(const IpAddress& ip) {
  const std::uint64_t h = hash(ip);
  const std::uint32_t tag = static_cast<std::uint32_t>(h >> 32);
  const std::size_t start = static_cast<std::size_t>(h) & mask_;
  for (;;) {
    // The latest slot counting this address, so that a duplicate left by a race drains first.
    std::size_t at = kProbe;
    std::uint64_t w = 0;
    for (std::size_t i = kProbe; i-- > 0;) {
      w = slots_[(start + i) & mask_].load(std::memory_order_acquire);
      if (count_of(w) > 0 && tag_of(w) == tag) {
        at = i;
        break;
      }
    }
    if (at == kProbe) {
      assert(false && "ConnectionLimiter::release without a matching acquire");
      return;
    }
    if (slots_[(start + at) & mask_].compare_exchange_strong(w, w - 1, std::memory_order_acq_rel,
                                                              std::memory_order_acquire))
      return;
  }
}

std::uint32_t ConnectionLimiter::count(const IpAddress& ip) const {
  const std::uint64_t h = hash(ip);
  const std::uint32_t tag = static_cast<std::uint32_t>(h >> 32);
  const std::size_t start = static_cast<std::size_t>(h) & mask_;
  std::uint32_t n = 0;
  for (std::size_t i = 0; i < kProbe; ++i) {
    const std::uint64_t w = slots_[(start + i) & mask_].load(std::memory_order_acquire);
    if (count_of(w) > 0 && tag_of(w) == tag) n += count_of(w);
  }
  return n;
}

}  // namespace rampart::core
