// Histograms: le buckets are cumulative, a value on a bound lands in that bound's bucket,
// +Inf equals _count, _sum adds the observations.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "metrics_support.hpp"
#include "observe/metrics.hpp"
#include "observe/metrics_internal.hpp"

using namespace rampart::observe;
using test::parse_samples;

namespace {

const std::vector<std::string> kLe = {"0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
                                      "0.25",   "0.5",   "1",      "2.5",   "5",    "10",    "+Inf"};

std::string bucket(const std::string& le) {
  return R"(rampart_request_duration_seconds_bucket{server="s",route="r",le=")" + le + R"("})";
}

}  // namespace

TEST_CASE("bucket_index follows le semantics", "[metrics]") {
  using detail::bucket_index;
  CHECK(bucket_index(0) == 0);
  CHECK(bucket_index(0.0005) == 0);  // on the bound: that bucket (le = less or equal)
  CHECK(bucket_index(0.00050001) == 1);
  CHECK(bucket_index(0.001) == 1);
  CHECK(bucket_index(0.3) == 9);
  CHECK(bucket_index(10) == 13);
  CHECK(bucket_index(10.5) == 14);
  CHECK(bucket_index(1e300) == 14);
  CHECK(bucket_index(std::numeric_limits<double>::infinity()) == 14);
}

TEST_CASE("request duration histogram", "[metrics]") {
  Metrics m(1, "test");
  auto r = m.route_id("s", "r");
  auto& w = m.worker(0);
  const std::vector<double> samples = {0.0001, 0.0005, 0.002, 0.002, 0.04, 0.3, 1.0, 9.99, 11.0, 3600};
  double sum = 0;
  for (double d : samples) {
    w.request(r, MethodClass::get, 200, d, 0, 0);
    sum += d;
  }
  auto s = parse_samples(m.render());
  const std::vector<double> expected = {2, 2, 4, 4, 4, 4, 5, 5, 5, 6, 7, 7, 7, 8, 10};
  REQUIRE(expected.size() == kLe.size());
  for (std::size_t i = 0; i < kLe.size(); ++i) {
    INFO("le=" << kLe[i]);
    CHECK(s.at(bucket(kLe[i])) == expected[i]);
  }
  CHECK(s.at(R"(rampart_request_duration_seconds_count{server="s",route="r"})") == 10);
  CHECK(s.at(bucket("+Inf")) == s.at(R"(rampart_request_duration_seconds_count{server="s",route="r"})"));
  CHECK(s.at(R"(rampart_request_duration_seconds_sum{server="s",route="r"})") == Approx(sum));
}

TEST_CASE("negative and NaN durations count as zero", "[metrics]") {
  Metrics m(1, "test");
  auto r = m.route_id("s", "r");
  m.worker(0).request(r, MethodClass::get, 200, -0.5, 0, 0);
  m.worker(0).request(r, MethodClass::get, 200, std::nan(""), 0, 0);
  auto s = parse_samples(m.render());
  CHECK(s.at(bucket("0.0005")) == 2);
  CHECK(s.at(R"(rampart_request_duration_seconds_sum{server="s",route="r"})") == 0);
}

TEST_CASE("histograms of several shards add up", "[metrics]") {
  Metrics m(3, "test");
  auto r = m.route_id("s", "r");
  auto u = m.upstream_id("u");
  m.worker(0).request(r, MethodClass::get, 200, 0.004, 0, 0);
  m.worker(1).request(r, MethodClass::get, 200, 0.2, 0, 0);
  m.worker(2).request(r, MethodClass::get, 200, 20, 0, 0);
  m.worker(2).request(r, MethodClass::get, 200, 0.004, 0, 0);
  m.worker(0).upstream_connect(u, true, 0.0002);
  m.worker(2).upstream_connect(u, true, 0.03);
  auto s = parse_samples(m.render());
  CHECK(s.at(bucket("0.0025")) == 0);
  CHECK(s.at(bucket("0.005")) == 2);
  CHECK(s.at(bucket("0.1")) == 2);
  CHECK(s.at(bucket("0.25")) == 3);
  CHECK(s.at(bucket("10")) == 3);
  CHECK(s.at(bucket("+Inf")) == 4);
  CHECK(s.at(R"(rampart_request_duration_seconds_sum{server="s",route="r"})") == Approx(20.208));
  CHECK(s.at(R"(rampart_upstream_connect_duration_seconds_bucket{upstream="u",le="0.0005"})") == 1);
  CHECK(s.at(R"(rampart_upstream_connect_duration_seconds_bucket{upstream="u",le="0.025"})") == 1);
  CHECK(s.at(R"(rampart_upstream_connect_duration_seconds_bucket{upstream="u",le="0.05"})") == 2);
  CHECK(s.at(R"(rampart_upstream_connect_duration_seconds_count{upstream="u"})") == 2);
}
