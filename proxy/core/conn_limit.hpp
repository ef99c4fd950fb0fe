// A per-listener cap on the connections one client IP holds open at once, shared by every worker
// of the process (listeners[].max_connections_per_ip).
#pragma once
#include "core/net.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace rampart::core {

// Lock-free: a fixed open-addressing table of 64-bit words, one per slot, each holding a 32-bit
// tag of the address's hash and the address's open-connection count. A slot whose count is 0 is
// free, whatever its tag. An address lives in a short window of slots (kProbe) from its hash.
//
// Thread: every method may be called from any thread at once. Owned by the listener (a
// shared_ptr held by each worker's acceptor); it must outlive every connection it counted.
//
// Exactness: an address never keeps more than per_ip connections. When several threads acquire
// at once for an address that has no slot yet, each may claim its own free slot; every admit then
// sums the address's slots (seq_cst, so of two racing admits at least one sees the other) and takes
// its connection back if the sum is over the limit. The cost of that race is the other way: a
// connection that would have fitted may be refused. Release decrements the address's last slot, so
// such duplicates drain first.
// Two addresses share a count only if their 64-bit seeded hashes agree in the index bits and in
// the 32 tag bits, and their windows overlap (about 2^-40 per pair at the default capacity).
class ConnectionLimiter {
 public:
  enum class Admit : std::uint8_t {
    ok,          // counted: call release() once when the connection closes
    over_limit,  // the address already holds per_ip connections
    table_full,  // no free slot in the address's window: refused too (fail closed)
  };

  // per_ip >= 1. capacity is rounded up to a power of two (at least kProbe slots); it bounds the
  // distinct addresses with open connections at once (8 bytes per slot).
  explicit ConnectionLimiter(std::uint32_t per_ip, std::size_t capacity = 65536);
  ConnectionLimiter(const ConnectionLimiter&) = delete;
  ConnectionLimiter& operator=(const ConnectionLimiter&) = delete;

  // Counts one more connection of `ip`, or refuses it (why).
  Admit admit(const IpAddress& ip);
  // admit(ip) == Admit::ok. false: over the limit, or the table has no room for a new address.
  bool try_acquire(const IpAddress& ip) { return admit(ip) == Admit::ok; }
  // Exactly once per successful admit/try_acquire of the same address.
  void release(const IpAddress& ip);
  // The connections `ip` holds now (for tests and the admin view).
  std::uint32_t count(const IpAddress& ip) const;

  std::uint32_t per_ip() const { return per_ip_; }
  std::size_t capacity() const { return mask_ + 1; }

  static constexpr std::size_t kProbe = 16;

 private:
  std::uint64_t hash(const IpAddress& ip) const;

  const std::uint32_t per_ip_;
  const std::size_t mask_;
  const std::uint64_t seed_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> slots_;
};

}  // namespace rampart::core
