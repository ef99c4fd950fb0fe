// Response flags: short reason codes for the access log's `flags` field, in the spirit of
// Envoy's response flags. The data path sets them on an exchange as things go wrong (or are
// answered locally) and writes them comma-separated in a fixed order ("UF,URX").
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace rampart::observe {

namespace flag_code {
constexpr std::string_view no_route = "NR";                // no route matched the request
constexpr std::string_view no_healthy_upstream = "UH";     // no healthy upstream endpoint / no endpoint
constexpr std::string_view upstream_connect_failure = "UF";  // connecting to the upstream failed
constexpr std::string_view upstream_timeout = "UT";        // upstream response head not received in time
constexpr std::string_view upstream_reset = "UC";          // upstream closed/reset before a complete response
constexpr std::string_view retry_exhausted = "URX";        // retried and gave up (retry budget or attempts)
constexpr std::string_view downstream_closed = "DC";       // downstream closed before the response completed
constexpr std::string_view downstream_timeout = "DT";      // downstream too slow: 408
constexpr std::string_view rate_limited = "RL";            // rejected by a rate limit (429)
constexpr std::string_view local_response = "LR";          // answered locally (redirect, direct response)
constexpr std::string_view invalid_request = "IH";         // malformed or oversized request (400/413/414/431)
constexpr std::string_view upstream_protocol_error = "UPE";  // malformed upstream response
constexpr std::string_view upstream_overflow = "UO";       // circuit breaking turned the request away (503)
constexpr std::string_view rate_limit_dry_run = "RLD";     // a rate limit in dry run would have rejected it
}  // namespace flag_code

// The order of the enumerators is the order in which FlagSet writes the codes.
enum class Flag : std::uint8_t { NR, UH, UF, UT, UC, URX, DC, DT, RL, LR, IH, UPE, UO, RLD };
constexpr std::size_t kFlagCount = 14;

constexpr std::string_view flag_code_of(Flag f) noexcept {
  constexpr std::array<std::string_view, kFlagCount> codes = {
      flag_code::no_route,       flag_code::no_healthy_upstream, flag_code::upstream_connect_failure,
      flag_code::upstream_timeout, flag_code::upstream_reset,    flag_code::retry_exhausted,
      flag_code::downstream_closed, flag_code::downstream_timeout, flag_code::rate_limited,
      flag_code::local_response, flag_code::invalid_request,     flag_code::upstream_protocol_error,
      flag_code::upstream_overflow, flag_code::rate_limit_dry_run,
  };
  return codes[static_cast<std::size_t>(f)];
}

// A set of flags (a bitmask); a plain value, owned by one exchange.
class FlagSet {
 public:
  constexpr void set(Flag f) noexcept { bits_ |= bit(f); }
  constexpr void reset(Flag f) noexcept { bits_ &= static_cast<std::uint16_t>(~bit(f)); }
  constexpr bool has(Flag f) const noexcept { return (bits_ & bit(f)) != 0; }
  constexpr bool empty() const noexcept { return bits_ == 0; }
  constexpr void clear() noexcept { bits_ = 0; }
  constexpr std::uint16_t bits() const noexcept { return bits_; }

  // Appends the codes, comma-separated, in enumerator order ("UF,URX"); nothing when empty.
  void append_to(std::string& out) const {
    bool first = true;
    for (std::size_t i = 0; i < kFlagCount; ++i) {
      const auto f = static_cast<Flag>(i);
      if (!has(f)) continue;
      if (!first) out.push_back(',');
      out.append(flag_code_of(f));
      first = false;
    }
  }

  friend constexpr bool operator==(FlagSet a, FlagSet b) noexcept { return a.bits_ == b.bits_; }

 private:
  static constexpr std::uint16_t bit(Flag f) noexcept {
    return static_cast<std::uint16_t>(1u << static_cast<unsigned>(f));
  }
  std::uint16_t bits_ = 0;
};

}  // namespace rampart::observe
