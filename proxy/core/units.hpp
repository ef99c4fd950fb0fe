// Parsing of the human units used in config: durations ("250ms", "60s", "5m", "1h") and
// sizes ("512", "16k", "1m", "1g"; binary multiples, case-insensitive).
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rampart::core {

using Duration = std::chrono::milliseconds;

// "0", "250ms", "60s", "5m", "1h", "1d". A bare number is rejected (a unit is required),
// except "0". Returns nullopt on anything else.
std::optional<Duration> parse_duration(std::string_view text);

// "1024", "16k", "1m", "2g" (k = 1024). Returns nullopt on overflow or bad syntax.
std::optional<std::uint64_t> parse_size(std::string_view text);

// Inverse forms used by `rampart dump`: the largest exact unit ("1500ms", "60s", "1m").
std::string format_duration(Duration d);
std::string format_size(std::uint64_t bytes);

}  // namespace rampart::core
