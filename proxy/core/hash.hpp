// Small hashing helpers shared by the lock-free tables (rate limits, per-IP connection counts).
#pragma once
#include <cstdint>

namespace rampart::core {

// A 64-bit finaliser (the splitmix64 output function): bijective, and every input bit reaches
// every output bit.
constexpr std::uint64_t mix64(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

}  // namespace rampart::core
