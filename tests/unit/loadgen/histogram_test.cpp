#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>
#include <algorithm>

#include "histogram.hpp"

using rampart::bench::histogram;

TEST_CASE("histogram buckets cover 1 us to 60 s within 1% relative error") {
  for (std::uint64_t v = 1000; v <= 60'000'000'000ULL; v = v + v / 37 + 1) {
    const auto idx = histogram::index_of(v);
    const auto lo = histogram::lowest_of(idx);
    const auto w = histogram::width_of(idx);
    REQUIRE(lo <= v);
    REQUIRE(v < lo + w);
    REQUIRE(static_cast<double>(w) / static_cast<double>(lo) <= 0.01);
  }
  REQUIRE(histogram::index_of(60'000'000'000ULL) < histogram::bucket_count());
}

TEST_CASE("histogram buckets are contiguous and ordered") {
  for (std::size_t i = 0; i + 1 < histogram::bucket_count(); ++i) {
    REQUIRE(histogram::lowest_of(i) + histogram::width_of(i) == histogram::lowest_of(i + 1));
    REQUIRE(histogram::index_of(histogram::lowest_of(i)) == i);
  }
}

TEST_CASE("histogram small values are exact and percentiles pick the right rank") {
  histogram h;
  for (std::uint64_t v = 1; v <= 100; ++v) h.record(v);
  CHECK(h.count() == 100);
  CHECK(h.min() == 1);
  CHECK(h.max() == 100);
  CHECK(h.mean() == Approx(50.5));
  CHECK(h.percentile(50) == 50);
  CHECK(h.percentile(90) == 90);
  CHECK(h.percentile(99) == 99);
  CHECK(h.percentile(100) == 100);
  CHECK(h.percentile(0) == 1);
}

TEST_CASE("histogram percentiles match exact ones within 1% on random latencies") {
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> dist(std::log(200'000.0), 1.5);  // ~200 us median, long tail
  std::vector<std::uint64_t> values;
  histogram h;
  for (int i = 0; i < 200000; ++i) {
    auto v = static_cast<std::uint64_t>(std::clamp(dist(rng), 1000.0, 60e9));
    values.push_back(v);
    h.record(v);
  }
  std::sort(values.begin(), values.end());
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
    const double exact = static_cast<double>(values[rank - 1]);
    const double got = static_cast<double>(h.percentile(p));
    INFO("p" << p << " exact " << exact << " got " << got);
    CHECK(std::abs(got - exact) / exact <= 0.01);
  }
  CHECK(h.max() == values.back());
  CHECK(h.min() == values.front());
}

TEST_CASE("histogram merge equals recording everything in one, reset empties") {
  histogram a, b, all;
  for (std::uint64_t v = 1000; v < 5'000'000; v += 997) {
    ((v / 997) % 2 ? a : b).record(v);
    all.record(v);
  }
  a.merge(b);
  CHECK(a.count() == all.count());
  CHECK(a.min() == all.min());
  CHECK(a.max() == all.max());
  CHECK(a.mean() == Approx(all.mean()));
  for (double p : {1.0, 50.0, 99.0, 99.99}) CHECK(a.percentile(p) == all.percentile(p));
  a.reset();
  CHECK(a.count() == 0);
  CHECK(a.percentile(50) == 0);
  CHECK(a.max() == 0);
}

TEST_CASE("histogram clamps values above the range but keeps the exact max") {
  histogram h;
  h.record(200'000'000'000ULL);  // 200 s
  CHECK(h.max() == 200'000'000'000ULL);
  CHECK(h.percentile(50) == 200'000'000'000ULL);  // clamped to [min, max]
}
