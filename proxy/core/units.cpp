// Human units for durations and sizes (see units.hpp for the accepted forms).
#include "core/units.hpp"

#include <array>
#include <cctype>
#include <limits>

namespace rampart::core {
namespace {

// Parses a run of decimal digits at the start of `text`; returns the number of characters used
// (0 when there is no digit or the value overflows uint64).
std::size_t parse_digits(std::string_view text, std::uint64_t& value) {
  value = 0;
  std::size_t i = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    const std::uint64_t digit = static_cast<std::uint64_t>(text[i] - '0');
    if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return 0;
    value = value * 10 + digit;
  }
  return i;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool mul_overflows(std::uint64_t a, std::uint64_t b) {
  return b != 0 && a > std::numeric_limits<std::uint64_t>::max() / b;
}

}  // namespace

std::optional<Duration> parse_duration(std::string_view text) {
  std::uint64_t value = 0;
  const std::size_t used = parse_digits(text, value);
  if (used == 0) return std::nullopt;
  const std::string unit = lower(text.substr(used));
  std::uint64_t ms_per_unit = 0;
  if (unit.empty()) {
    if (value != 0) return std::nullopt;  // a unit is required, except for "0"
    return Duration{0};
  }
  if (unit == "ms") ms_per_unit = 1;
  else if (unit == "s") ms_per_unit = 1000;
  else if (unit == "m") ms_per_unit = 60'000;
  else if (unit == "h") ms_per_unit = 3'600'000;
  else if (unit == "d") ms_per_unit = 86'400'000;
  else return std::nullopt;
  constexpr auto max_ms = static_cast<std::uint64_t>(std::numeric_limits<Duration::rep>::max());
  if (mul_overflows(value, ms_per_unit) || value * ms_per_unit > max_ms) return std::nullopt;
  return Duration{static_cast<Duration::rep>(value * ms_per_unit)};
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  std::uint64_t value = 0;
  const std::size_t used = parse_digits(text, value);
  if (used == 0) return std::nullopt;
  const std::string unit = lower(text.substr(used));
  std::uint64_t multiple = 1;
  if (unit.empty()) multiple = 1;
  else if (unit == "k") multiple = 1ull << 10;
  else if (unit == "m") multiple = 1ull << 20;
  else if (unit == "g") multiple = 1ull << 30;
  else return std::nullopt;
  if (mul_overflows(value, multiple)) return std::nullopt;
  return value * multiple;
}

std::string format_duration(Duration d) {
  const auto ms = d.count();
  if (ms == 0) return "0";
  struct Unit { std::int64_t ms; const char* suffix; };
  constexpr std::array<Unit, 4> units{{{86'400'000, "d"}, {3'600'000, "h"}, {60'000, "m"}, {1000, "s"}}};
  for (const Unit& u : units) {
    if (ms % u.ms == 0) return std::to_string(ms / u.ms) + u.suffix;
  }
  return std::to_string(ms) + "ms";
}

std::string format_size(std::uint64_t bytes) {
  if (bytes == 0) return "0";
  struct Unit { std::uint64_t bytes; const char* suffix; };
  constexpr std::array<Unit, 3> units{{{1ull << 30, "g"}, {1ull << 20, "m"}, {1ull << 10, "k"}}};
  for (const Unit& u : units) {
    if (bytes % u.bytes == 0) return std::to_string(bytes / u.bytes) + u.suffix;
  }
  return std::to_string(bytes);
}

}  // namespace rampart::core
