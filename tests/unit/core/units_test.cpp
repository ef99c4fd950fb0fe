#include "core/units.hpp"

#include <catch2/catch.hpp>

using namespace rampart::core;
using namespace std::chrono_literals;

TEST_CASE("parse_duration accepts every unit", "[units]") {
  CHECK(parse_duration("0") == Duration{0});
  CHECK(parse_duration("0s") == Duration{0});
  CHECK(parse_duration("250ms") == 250ms);
  CHECK(parse_duration("60s") == 60s);
  CHECK(parse_duration("5m") == 5min);
  CHECK(parse_duration("1h") == 1h);
  CHECK(parse_duration("1d") == 24h);
  CHECK(parse_duration("2S") == 2s);
  CHECK(parse_duration("1500MS") == 1500ms);
}

TEST_CASE("parse_duration rejects bad input", "[units]") {
  for (const char* bad : {"", "5", "s", "-1s", "1.5s", "1 s", " 1s", "1s ", "10x", "1sec", "ms", "1m1s",
                          "99999999999999999999s", "9223372036854775807d"}) {
    INFO(bad);
    CHECK_FALSE(parse_duration(bad).has_value());
  }
}

TEST_CASE("parse_size accepts binary multiples", "[units]") {
  CHECK(parse_size("0") == 0u);
  CHECK(parse_size("512") == 512u);
  CHECK(parse_size("16k") == 16u * 1024);
  CHECK(parse_size("16K") == 16u * 1024);
  CHECK(parse_size("1m") == 1024u * 1024);
  CHECK(parse_size("2g") == 2ull * 1024 * 1024 * 1024);
  CHECK(parse_size("18446744073709551615") == UINT64_MAX);
}

TEST_CASE("parse_size rejects bad syntax and overflow", "[units]") {
  for (const char* bad : {"", "k", "-1", "1.5m", "1 k", "1kb", "1t", "0x10", "18446744073709551616",
                          "17179869184g"}) {
    INFO(bad);
    CHECK_FALSE(parse_size(bad).has_value());
  }
}

TEST_CASE("format_duration uses the largest exact unit", "[units]") {
  CHECK(format_duration(Duration{0}) == "0");
  CHECK(format_duration(1500ms) == "1500ms");
  CHECK(format_duration(30s) == "30s");
  CHECK(format_duration(60s) == "1m");
  CHECK(format_duration(90s) == "90s");
  CHECK(format_duration(2h) == "2h");
  CHECK(format_duration(48h) == "2d");
  for (Duration d : {Duration{1}, Duration{999}, Duration{61000}, Duration{3600000 * 25}}) {
    CHECK(parse_duration(format_duration(d)) == d);
  }
}

TEST_CASE("format_size uses the largest exact unit", "[units]") {
  CHECK(format_size(0) == "0");
  CHECK(format_size(1000) == "1000");
  CHECK(format_size(8192) == "8k");
  CHECK(format_size(1024 * 1024) == "1m");
  CHECK(format_size(1536 * 1024) == "1536k");
  CHECK(format_size(3ull << 30) == "3g");
  for (std::uint64_t n : {std::uint64_t{1}, std::uint64_t{1023}, std::uint64_t{1025}, std::uint64_t{5} << 20, std::uint64_t{UINT64_MAX}}) {
    CHECK(parse_size(format_size(n)) == n);
  }
}
